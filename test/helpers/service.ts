import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import type { Engine } from "../../automation/engine/types";
import { PROJECT_DIR } from "../../automation/plan/plan";
import type { Job } from "../../automation/service/jobs/types";
import { createService, type Service, type ServiceOptions } from "../../automation/service/service";

export interface TestService {
  /** `http://127.0.0.1:<port>`. */
  url: string;
  token: string;
  service: Service;
  dataDir: string;
  /** fetch against the service with the bearer token (unless `headers.authorization` is given). */
  request: (pathname: string, init?: RequestInit) => Promise<Response>;
  /** Closes the service (cancelling running jobs); removes the data directory unless `keepData`. */
  close: (options?: { keepData?: boolean }) => Promise<void>;
}

export interface TestServiceOptions extends Omit<ServiceOptions, "engine"> {
  engine: Engine;
}

/**
 * Starts the real service on 127.0.0.1 with an ephemeral port and a fresh data directory (or the
 * given one), the project's real stages, a fixed revision, a health gate that passes, and no
 * drift schedule unless asked.
 */
export async function startTestService(options: TestServiceOptions): Promise<TestService> {
  const dataDir = options.dataDir ?? fs.mkdtempSync(path.join(os.tmpdir(), "platform-service-"));
  const service = createService({
    projectDir: PROJECT_DIR,
    token: "test-token-0123456789",
    revision: async () => "rev-1",
    health: () => async () => {},
    driftSchedule: false,
    graceMs: 5000,
    ...options,
    dataDir,
  });
  const url = await service.listen("127.0.0.1", 0);
  const request = (pathname: string, init: RequestInit = {}) => {
    const headers = new Headers(init.headers);
    if (!headers.has("authorization")) headers.set("authorization", `Bearer ${service.token}`);
    if (init.body !== undefined && !headers.has("content-type"))
      headers.set("content-type", "application/json");
    return fetch(`${url}${pathname}`, { ...init, headers });
  };
  return {
    url,
    token: service.token,
    service,
    dataDir,
    request,
    close: async ({ keepData = false } = {}) => {
      await service.close();
      if (!keepData && options.dataDir === undefined) fs.rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** Polls `GET /jobs/:id` until the job's state is one of `states` (or fails after `timeoutMs`). */
export async function waitForJob(
  service: TestService,
  id: string,
  states: string[] = ["succeeded", "failed", "cancelled", "interrupted"],
  timeoutMs = 10_000,
): Promise<Job> {
  const deadline = Date.now() + timeoutMs;
  let last: Job | undefined;
  while (Date.now() < deadline) {
    const response = await service.request(`/jobs/${id}`);
    last = (await response.json()) as Job;
    if (states.includes(last.state)) return last;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  throw new Error(
    `job ${id} did not reach ${states.join("/")} in ${timeoutMs} ms (last state: ${last?.state})`,
  );
}

/** POSTs a job request and returns the response and its JSON body. */
export async function submit(
  service: TestService,
  endpoint: "/previews" | "/rollouts" | "/drift",
  body: unknown,
): Promise<{ response: Response; body: Job & SubmitRefusal }> {
  const response = await service.request(endpoint, { method: "POST", body: JSON.stringify(body) });
  return { response, body: (await response.json()) as Job & SubmitRefusal };
}

/** What a refused submission's body adds (409: the job the stack is busy with). */
interface SubmitRefusal {
  message?: string;
  jobId?: string;
  jobState?: string;
  stackName?: string;
}

/** Each region stack of a stage and its last job's id and state, as GET /stacks shows them. */
export async function lastJobs(
  service: { request(path: string): Promise<Response> },
  stage: string,
): Promise<Record<string, string | undefined>> {
  const list = (await (await service.request("/stacks")).json()) as {
    stages: { stage: string; regions: { stackName: string; lastJob?: { id: string; state: string } }[] }[];
  };
  const regions = list.stages.find((entry) => entry.stage === stage)?.regions ?? [];
  return Object.fromEntries(
    regions.map((region) => [
      region.stackName,
      region.lastJob && `${region.lastJob.id} ${region.lastJob.state}`,
    ]),
  );
}
