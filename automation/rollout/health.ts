import { CloudWatchClient, DescribeAlarmsCommand } from "@aws-sdk/client-cloudwatch";
import { abortError, delay } from "../engine/abort";
import type { StackOutputs } from "../engine/types";
import type { RegionTarget } from "./types";

/** The smoke path every stage serves (components/platform.ts HEALTH_PATH). */
export const DEFAULT_HEALTH_PATH = "/health";

/** The health gate failed: the smoke path did not answer 2xx, or an alarm is in ALARM. */
export class HealthCheckError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "HealthCheckError";
  }
}

export interface HealthContext {
  target: RegionTarget;
  /** The outputs of the stack's update (`apiUrl`, ...). */
  outputs: StackOutputs;
  signal: AbortSignal;
}

/** The health gate of a region: resolves when healthy, rejects (HealthCheckError) when not. */
export type HealthGate = (context: HealthContext) => Promise<void>;

/** Names of the alarms in ALARM whose names start with `prefix`, in `region`. */
export type AlarmSource = (query: {
  region: string;
  prefix: string;
  signal?: AbortSignal;
}) => Promise<string[]>;

/** CloudWatch DescribeAlarms (metric and composite alarms, state ALARM, every page). */
export const cloudWatchAlarms: AlarmSource = async ({ region, prefix, signal }) => {
  const client = new CloudWatchClient({ region });
  const names: string[] = [];
  try {
    let nextToken: string | undefined;
    do {
      const page = await client.send(
        new DescribeAlarmsCommand({
          AlarmNamePrefix: prefix,
          StateValue: "ALARM",
          AlarmTypes: ["MetricAlarm", "CompositeAlarm"],
          NextToken: nextToken,
        }),
        { abortSignal: signal },
      );
      for (const alarm of [...(page.MetricAlarms ?? []), ...(page.CompositeAlarms ?? [])]) {
        if (alarm.AlarmName && (alarm.StateValue === undefined || alarm.StateValue === "ALARM")) {
          names.push(alarm.AlarmName);
        }
      }
      nextToken = page.NextToken;
    } while (nextToken);
  } finally {
    client.destroy();
  }
  return names;
};

export interface HttpProbeOptions {
  /** Requests in all (the first included). @default 5 */
  attempts?: number;
  /** Wait before the second request; doubled each time up to maxDelayMs. @default 1000 */
  initialDelayMs?: number;
  /** @default 8000 */
  maxDelayMs?: number;
  /** Each request's timeout. @default 5000 */
  timeoutMs?: number;
  fetch?: typeof fetch;
  signal?: AbortSignal;
}

/**
 * GETs `url` until it answers 2xx, with exponential backoff between attempts and a timeout per
 * request; returns the number of attempts made.
 *
 * @throws HealthCheckError when no attempt answered 2xx (the message has the last status or error).
 */
export async function probeHttp(url: string, options: HttpProbeOptions = {}): Promise<number> {
  const attempts = Math.max(1, options.attempts ?? 5);
  const maxDelayMs = options.maxDelayMs ?? 8000;
  const timeoutMs = options.timeoutMs ?? 5000;
  const doFetch = options.fetch ?? fetch;
  let wait = options.initialDelayMs ?? 1000;
  let last = "";
  for (let attempt = 1; attempt <= attempts; attempt++) {
    if (options.signal?.aborted) throw abortError(options.signal);
    const timeout = AbortSignal.timeout(timeoutMs);
    const signal = options.signal ? AbortSignal.any([options.signal, timeout]) : timeout;
    try {
      const response = await doFetch(url, { method: "GET", signal, redirect: "manual" });
      // Drain the body so that the connection is released.
      await response.arrayBuffer().catch(() => undefined);
      if (response.status >= 200 && response.status < 300) return attempt;
      last = `answered ${response.status}`;
    } catch (error) {
      if (options.signal?.aborted) throw abortError(options.signal);
      last = timeout.aborted ? `timed out after ${timeoutMs} ms` : `failed: ${(error as Error).message}`;
    }
    if (attempt < attempts) {
      await delay(wait, options.signal);
      wait = Math.min(wait * 2, maxDelayMs);
    }
  }
  throw new HealthCheckError(`GET ${url} ${last} (${attempts} attempt${attempts > 1 ? "s" : ""})`);
}

export interface HealthGateOptions extends Omit<HttpProbeOptions, "signal"> {
  /** The application (`platform:app`): alarms named `<app>-<stage>-...` belong to the stack. */
  app: string;
  /** @default DEFAULT_HEALTH_PATH */
  path?: string;
  /** Where alarm states come from; false skips the alarm check. @default cloudWatchAlarms */
  alarms?: AlarmSource | false;
}

/** The URL of the smoke path on a stack's `apiUrl` (with or without a trailing slash). */
export function healthUrl(apiUrl: string, smokePath: string = DEFAULT_HEALTH_PATH): string {
  return `${apiUrl.replace(/\/+$/, "")}/${smokePath.replace(/^\/+/, "")}`;
}

/**
 * The default health gate: GET `<apiUrl>/health` expecting 2xx (with retries), then no alarm of
 * the stack (`<app>-<stage>-` prefix) in ALARM in the stack's region.
 */
export function createHealthGate(options: HealthGateOptions): HealthGate {
  return async ({ target, outputs, signal }) => {
    const apiUrl = outputs.apiUrl;
    if (typeof apiUrl !== "string" || apiUrl === "" || apiUrl === "[secret]") {
      throw new HealthCheckError(`stack "${target.stackName}" has no apiUrl output to check`);
    }
    await probeHttp(healthUrl(apiUrl, options.path), { ...options, signal });
    const alarms = options.alarms === undefined ? cloudWatchAlarms : options.alarms;
    if (alarms === false) return;
    const prefix = `${options.app}-${target.stage}-`;
    const firing = await alarms({ region: target.region, prefix, signal });
    if (firing.length > 0) {
      throw new HealthCheckError(
        `${firing.length} alarm${firing.length > 1 ? "s" : ""} in ALARM in ${target.region}: ${firing.join(", ")}`,
      );
    }
  };
}
