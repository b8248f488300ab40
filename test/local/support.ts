import { SignatureV4 } from "@smithy/signature-v4";
import { type LocalCredentials, Sha256 } from "../../automation/local/auth";

/**
 * Sends a request signed with SigV4 for execute-api, as an SDK-based client (or `awscurl`) would:
 * the AWS SDK's own signer over method, host, path, query and body.
 */
export async function signedFetch(
  baseUrl: string,
  request: { method: string; path: string; body?: string; headers?: Record<string, string> },
  credentials: LocalCredentials,
  region: string,
  signingDate?: Date,
): Promise<Response> {
  const url = new URL(request.path, baseUrl);
  const query: Record<string, string> = {};
  for (const [name, value] of url.searchParams) query[name] = value;
  const signer = new SignatureV4({ credentials, region, service: "execute-api", sha256: Sha256 });
  const signed = await signer.sign(
    {
      method: request.method,
      protocol: "http:",
      hostname: url.hostname,
      port: Number(url.port),
      path: url.pathname,
      query,
      headers: { host: url.host, ...(request.headers ?? {}) },
      body: request.body,
    },
    signingDate ? { signingDate } : undefined,
  );
  const headers = { ...signed.headers } as Record<string, string>;
  delete headers.host;
  return fetch(url, { method: request.method, headers, body: request.body });
}

/** Places an order through the local cloud's API, signed as a client would; returns its id. */
export async function placeOrder(
  cloud: { url: string; credentials: LocalCredentials; model: { region: string } },
  order: { item: string; quantity: number },
): Promise<string> {
  const response = await signedFetch(
    cloud.url,
    {
      method: "POST",
      path: "/orders",
      body: JSON.stringify(order),
      headers: { "content-type": "application/json" },
    },
    cloud.credentials,
    cloud.model.region,
  );
  if (response.status !== 201)
    throw new Error(`POST /orders answered ${response.status}: ${await response.text()}`);
  return ((await response.json()) as { orderId: string }).orderId;
}
