import { createHash, randomBytes, timingSafeEqual } from "node:crypto";

/** A new random API token: 32 bytes, base64url (43 characters). */
export function generateToken(): string {
  return randomBytes(32).toString("base64url");
}

/**
 * Checks an `Authorization` header against the token in constant time. Both sides are hashed
 * first, so the comparison takes the same time whatever the length or content of the guess.
 */
export function checkBearer(header: string | undefined, token: string): boolean {
  const match = /^Bearer\s+(\S+)\s*$/i.exec(header ?? "");
  const given = createHash("sha256")
    .update(match ? match[1] : "")
    .digest();
  const expected = createHash("sha256").update(token).digest();
  return timingSafeEqual(given, expected) && match !== null;
}
