import { createHash, randomBytes, timingSafeEqual } from "node:crypto";

/** A new random API token: 32 bytes, base64url (43 characters). */
export function generateToken(): string {
  return randomBytes(32).toString("base64url");
}

const sha256 = (text: string) => createHash("sha256").update(text).digest();

/**
 * A checker of `Authorization` headers against the token, in constant time: both sides are hashed
 * first, so the comparison takes the same time whatever the length or content of the guess.
 */
export function bearerChecker(token: string): (header: string | undefined) => boolean {
  const expected = sha256(token);
  return (header) => {
    const match = /^Bearer\s+(\S+)\s*$/i.exec(header ?? "");
    const matches = timingSafeEqual(sha256(match ? match[1] : ""), expected);
    return matches && match !== null;
  };
}
