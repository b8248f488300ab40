/**
 * The local API's authorization, as API Gateway applies a method's settings: `AWS_IAM` methods
 * check an AWS Signature Version 4 against the local credentials (recomputed with the AWS SDK's own
 * signer, not a hand-written one), methods with `apiKeyRequired` check `x-api-key`, the rest are open.
 * Failures answer with API Gateway's status and messages.
 */
import { createHash, createHmac, timingSafeEqual } from "node:crypto";
import { SignatureV4 } from "@smithy/signature-v4";
import type { Checksum, SourceData } from "@smithy/types";

export interface LocalCredentials {
  accessKeyId: string;
  secretAccessKey: string;
}

/** A refusal: the status and JSON body API Gateway answers with. */
export interface AuthFailure {
  statusCode: 403;
  message: string;
}

/** The incoming request, as the server received it. */
export interface SignedRequest {
  method: string;
  /** `host[:port]` as the client sent it. */
  host: string;
  /** Path with query string, as sent. */
  url: string;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
}

/** SHA-256 (HMAC-SHA-256 with a secret) in the shape the SDK's signer takes. */
export class Sha256 implements Checksum {
  private hash;
  constructor(private readonly secret?: SourceData) {
    this.hash = this.create();
  }
  private create() {
    return this.secret === undefined
      ? createHash("sha256")
      : createHmac(
          "sha256",
          typeof this.secret === "string" ? this.secret : Buffer.from(this.secret as Uint8Array),
        );
  }
  update(data: Uint8Array | string): void {
    this.hash.update(typeof data === "string" ? data : Buffer.from(data));
  }
  async digest(): Promise<Uint8Array> {
    return new Uint8Array(this.hash.digest());
  }
  reset(): void {
    this.hash = this.create();
  }
}

const MISSING_TOKEN: AuthFailure = { statusCode: 403, message: "Missing Authentication Token" };
const MISMATCH: AuthFailure = {
  statusCode: 403,
  message:
    "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.",
};
const AUTHORIZATION =
  /^AWS4-HMAC-SHA256 Credential=([^/]+)\/(\d{8})\/([^/]+)\/([^/]+)\/aws4_request, ?SignedHeaders=([a-z0-9;-]+), ?Signature=([0-9a-f]{64})$/;
/** API Gateway accepts a signature up to 15 minutes from its date, as the other AWS services do. */
const MAX_SKEW_MS = 15 * 60 * 1000;

const first = (value: string | string[] | undefined) => (Array.isArray(value) ? value.join(",") : value);

/** `20250101T120000Z` -> Date. */
function parseAmzDate(text: string | undefined): Date | undefined {
  const match = text && /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(text);
  if (!match) return undefined;
  const [, y, mo, d, h, mi, s] = match.map(Number);
  return new Date(Date.UTC(y, mo - 1, d, h, mi, s));
}

/**
 * Checks the request's SigV4 signature for `execute-api` in `region` with `credentials`; returns
 * undefined when it is valid, else API Gateway's refusal.
 */
export async function verifySigV4(
  request: SignedRequest,
  credentials: LocalCredentials,
  region: string,
  now: Date = new Date(),
): Promise<AuthFailure | undefined> {
  const authorization = first(request.headers.authorization);
  if (!authorization) return MISSING_TOKEN;
  const match = AUTHORIZATION.exec(authorization);
  if (!match) {
    return {
      statusCode: 403,
      message: `Authorization header requires 'Credential', 'Signature' and 'SignedHeaders' parameters. Authorization=${authorization}`,
    };
  }
  const [, accessKeyId, scopeDate, scopeRegion, service, signedHeaderList, signature] = match;
  if (accessKeyId !== credentials.accessKeyId) {
    return { statusCode: 403, message: "The security token included in the request is invalid." };
  }
  if (service !== "execute-api" || scopeRegion !== region) {
    return {
      statusCode: 403,
      message: `Credential should be scoped to a valid region and service: ${region}/execute-api, not ${scopeRegion}/${service}.`,
    };
  }
  const signingDate = parseAmzDate(first(request.headers["x-amz-date"]));
  if (!signingDate || !first(request.headers["x-amz-date"])?.startsWith(scopeDate)) return MISMATCH;
  if (Math.abs(now.getTime() - signingDate.getTime()) > MAX_SKEW_MS) {
    return {
      statusCode: 403,
      message: `Signature expired: ${first(request.headers["x-amz-date"])} is now earlier than the allowed skew of 15 minutes.`,
    };
  }

  const signedHeaders = signedHeaderList.split(";");
  const headers: Record<string, string> = {};
  for (const name of signedHeaders) {
    const value = name === "host" ? request.host : first(request.headers[name]);
    if (value === undefined) return MISMATCH;
    headers[name] = value;
  }
  const [pathname, queryString = ""] = request.url.split("?", 2);
  const query: Record<string, string | string[]> = {};
  for (const [name, value] of new URLSearchParams(queryString)) {
    const previous = query[name];
    query[name] =
      previous === undefined ? value : [...(Array.isArray(previous) ? previous : [previous]), value];
  }
  const [hostname, port] = request.host.split(":");
  // The client signed exactly the headers it names; the signer must add none (no content hash).
  const signer = new SignatureV4({
    credentials,
    region,
    service: "execute-api",
    sha256: Sha256,
    applyChecksum: false,
  });
  const expected = await signer.sign(
    {
      method: request.method,
      protocol: "http:",
      hostname,
      port: port ? Number(port) : undefined,
      path: pathname, // as on the wire: the signer encodes it once more, as the client's did
      query,
      headers,
      body: request.body.length > 0 ? request.body : undefined,
    },
    { signingDate, signableHeaders: new Set(signedHeaders) },
  );
  const expectedSignature =
    /Signature=([0-9a-f]{64})$/.exec(String(expected.headers.authorization))?.[1] ?? "";
  const matches =
    expectedSignature.length === signature.length &&
    timingSafeEqual(Buffer.from(expectedSignature), Buffer.from(signature));
  return matches ? undefined : MISMATCH;
}

/** Checks `x-api-key` against the local API key; API Gateway answers a missing or wrong key 403 Forbidden. */
export function verifyApiKey(headers: SignedRequest["headers"], apiKey: string): AuthFailure | undefined {
  const given = first(headers["x-api-key"]);
  if (given && given.length === apiKey.length && timingSafeEqual(Buffer.from(given), Buffer.from(apiKey)))
    return undefined;
  return { statusCode: 403, message: "Forbidden" };
}
