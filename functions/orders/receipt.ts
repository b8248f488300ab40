import { createHmac } from "node:crypto";
import { getParameter } from "@aws-lambda-powertools/parameters/ssm";

/** How long a container keeps the signing key before reading it again (a rotated key takes effect within it). */
export const SIGNING_KEY_MAX_AGE_SECONDS = 300;

/** Read per call, so that a missing setting fails the record (logged), not the init. */
function parameterName(): string {
  const name = process.env.WEBHOOK_KEY_PARAMETER_NAME;
  if (!name) {
    throw new Error(
      "WEBHOOK_KEY_PARAMETER_NAME is not set: the function's environment must name the signing key's SSM parameter",
    );
  }
  return name;
}

/**
 * The order's receipt: HMAC-SHA256 of the order id with the webhook signing key, hex. The key is a
 * SecureString that Powertools reads, decrypted, and caches for SIGNING_KEY_MAX_AGE_SECONDS; it is
 * never in the environment, only its parameter's name is.
 */
export async function signReceipt(orderId: string): Promise<string> {
  const key = await getParameter(parameterName(), { decrypt: true, maxAge: SIGNING_KEY_MAX_AGE_SECONDS });
  if (!key) throw new Error(`SSM parameter ${parameterName()} is empty: write the signing key first`);
  return createHmac("sha256", key).update(orderId).digest("hex");
}
