import { HttpError } from "../shared/http";
import { isUserId } from "./validation";

export const DEFAULT_PAGE_SIZE = 20;
export const MAX_PAGE_SIZE = 100;

/** Where a scan resumes: the table's key, which is all a LastEvaluatedKey of a Scan holds. */
export interface PageKey {
  userId: string;
}

// A key holds one user id of at most 64 characters; anything much longer is not one of our tokens.
const MAX_TOKEN_LENGTH = 256;
const BASE64URL = /^[A-Za-z0-9_-]+$/;

/** The `limit` query parameter: a plain decimal integer from 1 to 100, 20 when absent. */
export function parsePageSize(limit: string | undefined): number {
  if (limit === undefined) return DEFAULT_PAGE_SIZE;
  const size = /^[0-9]{1,3}$/.test(limit) ? Number(limit) : Number.NaN;
  if (!(size >= 1 && size <= MAX_PAGE_SIZE)) {
    throw new HttpError(400, `Query parameter limit must be an integer from 1 to ${MAX_PAGE_SIZE}`);
  }
  return size;
}

/** Tokens are opaque to clients, so a change of encoding only has to keep these two in step. */
export function encodeNextToken(key: PageKey): string {
  return Buffer.from(JSON.stringify({ userId: key.userId }), "utf8").toString("base64url");
}

/**
 * The `nextToken` query parameter back to the key it was made from; 400 unless it decodes to exactly
 * `{userId}`. Checking the shape keeps a forged token from reaching DynamoDB as ExclusiveStartKey.
 */
export function decodeNextToken(token: string | undefined): PageKey | undefined {
  if (token === undefined) return undefined;
  const invalid = new HttpError(400, "Query parameter nextToken is not a token returned by this API");
  if (token.length > MAX_TOKEN_LENGTH || !BASE64URL.test(token)) throw invalid;
  let key: unknown;
  try {
    key = JSON.parse(Buffer.from(token, "base64url").toString("utf8"));
  } catch {
    throw invalid;
  }
  if (typeof key !== "object" || key === null || Array.isArray(key)) throw invalid;
  const fields = Object.keys(key);
  const userId = (key as { userId?: unknown }).userId;
  if (fields.length !== 1 || !isUserId(userId)) throw invalid;
  return { userId };
}
