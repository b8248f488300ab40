import { createHash, createHmac } from "node:crypto";
import { SignatureV4 } from "@smithy/signature-v4";
import type { Checksum, SourceData } from "@smithy/types";
import type { LocalCredentials } from "../../automation/local/auth";

/** SHA-256 for the SDK's signer, as a client would pass it. */
class ClientSha256 implements Checksum {
  private hash;
  constructor(private readonly secret?: SourceData) {
    this.hash = this.make();
  }
  private make() {
    return this.secret === undefined
      ? createHash("sha256")
      : createHmac("sha256", Buffer.from(this.secret as Uint8Array | string));
  }
  update(data: Uint8Array | string): void {
    this.hash.update(data);
  }
  async digest(): Promise<Uint8Array> {
    return new Uint8Array(this.hash.digest());
  }
  reset(): void {
    this.hash = this.make();
  }
}

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
  const signer = new SignatureV4({ credentials, region, service: "execute-api", sha256: ClientSha256 });
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
