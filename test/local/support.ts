import { SignatureV4 } from "@smithy/signature-v4";
import type { LocalClock } from "../../automation/local/async-invoke";
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

/** A clock that moves only when told to, running the timers due on the way. */
export class ManualClock implements LocalClock {
  private timers: { id: number; at: number; callback: () => void }[] = [];
  private ids = 0;

  constructor(public time: number) {}

  now = () => this.time;
  setTimer = (callback: () => void, delayMs: number) => {
    this.ids += 1;
    this.timers.push({ id: this.ids, at: this.time + Math.max(0, delayMs), callback });
    return this.ids;
  };
  clearTimer = (timer: unknown) => {
    this.timers = this.timers.filter((t) => t.id !== timer);
  };

  get pending(): number {
    return this.timers.length;
  }

  /** Moves time on by `ms`, running each timer due meanwhile and waiting for the invocations it starts. */
  async advance(ms: number, schedules: { idle(): Promise<void> }): Promise<void> {
    const end = this.time + ms;
    for (;;) {
      // An invocation under way may yet set a retry's timer.
      await schedules.idle();
      const due = this.timers.filter((t) => t.at <= end).sort((a, b) => a.at - b.at)[0];
      if (!due) break;
      this.timers = this.timers.filter((t) => t !== due);
      this.time = Math.max(this.time, due.at);
      due.callback();
    }
    this.time = end;
  }
}
