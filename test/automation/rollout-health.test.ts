import * as assert from "node:assert/strict";
import * as http from "node:http";
import type { AddressInfo } from "node:net";
import { CloudWatchClient, DescribeAlarmsCommand } from "@aws-sdk/client-cloudwatch";
import { type AwsClientStub, mockClient } from "aws-sdk-client-mock";
import { InMemoryEngine } from "../../automation/engine/in-memory";
import { createHealthGate, HealthCheckError, healthUrl, probeHttp } from "../../automation/rollout/health";
import { runRollout } from "../../automation/rollout/orchestrator";
import { selectTargets } from "../../automation/rollout/targets";
import type { RegionTarget } from "../../automation/rollout/types";

interface SmokeServer {
  url: string;
  requests: string[];
  close: () => Promise<void>;
}

/** An HTTP server on 127.0.0.1 (port 0) answering each request with the next status of `statuses`. */
async function smokeServer(statuses: number[] | ((index: number) => number | "hang")): Promise<SmokeServer> {
  const requests: string[] = [];
  const server = http.createServer((request, response) => {
    const index = requests.length;
    requests.push(request.url ?? "");
    const status =
      typeof statuses === "function" ? statuses(index) : statuses[Math.min(index, statuses.length - 1)];
    if (status === "hang") return;
    response.writeHead(status, { "content-type": "application/json" });
    response.end(JSON.stringify({ status: status < 300 ? "ok" : "error" }));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/prod/`,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

const FAST = { initialDelayMs: 5, maxDelayMs: 20, timeoutMs: 500 };

function target(region = "us-west-2"): RegionTarget {
  return selectTargets(
    {
      stage: "prod",
      app: "platform",
      regions: ["us-east-1", region],
      primaryRegion: "us-east-1",
      parallelism: 2,
    },
    [region],
  )[0];
}

describe("the rollout health gate", () => {
  let server: SmokeServer | undefined;
  let cloudWatch: AwsClientStub<CloudWatchClient>;

  // The stub replaces CloudWatchClient's send for the whole process: only while this suite runs.
  before(() => {
    cloudWatch = mockClient(CloudWatchClient);
  });
  after(() => cloudWatch.restore());

  afterEach(async () => {
    await server?.close();
    server = undefined;
    cloudWatch.reset();
  });

  it("joins the smoke path to apiUrl with or without a trailing slash", () => {
    assert.equal(healthUrl("https://a.example/prod/"), "https://a.example/prod/health");
    assert.equal(healthUrl("https://a.example/prod"), "https://a.example/prod/health");
  });

  it("retries with backoff until the smoke path answers 2xx", async () => {
    server = await smokeServer([500, 200]);
    const attempts = await probeHttp(healthUrl(server.url), { ...FAST, attempts: 4 });
    assert.equal(attempts, 2);
    assert.deepEqual(server.requests, ["/prod/health", "/prod/health"]);
  });

  it("fails after its attempts when the smoke path always answers 500", async () => {
    server = await smokeServer([500]);
    await assert.rejects(
      probeHttp(healthUrl(server.url), { ...FAST, attempts: 3 }),
      (error: Error) =>
        error instanceof HealthCheckError &&
        /answered 500 \(3 attempts\)/.test(error.message) &&
        error.message.includes("/prod/health"),
    );
    assert.equal(server.requests.length, 3);
  });

  it("times out a request that never answers", async () => {
    server = await smokeServer(() => "hang");
    await assert.rejects(
      probeHttp(healthUrl(server.url), { attempts: 1, timeoutMs: 50 }),
      /timed out after 50 ms \(1 attempt\)/,
    );
  });

  it("stops retrying when the signal aborts", async () => {
    server = await smokeServer([500]);
    const abort = new AbortController();
    setTimeout(() => abort.abort(new Error("interrupted (Ctrl-C)")), 30);
    const started = performance.now();
    await assert.rejects(
      probeHttp(healthUrl(server.url), { attempts: 10, initialDelayMs: 1000, signal: abort.signal }),
      /interrupted/,
    );
    assert.ok(performance.now() - started < 500);
  });

  it("passes when the smoke path answers 2xx and no alarm of the stack is in ALARM", async () => {
    server = await smokeServer([200]);
    cloudWatch.on(DescribeAlarmsCommand).resolves({ MetricAlarms: [], CompositeAlarms: [] });
    const gate = createHealthGate({ app: "platform", ...FAST });
    await gate({ target: target(), outputs: { apiUrl: server.url }, signal: new AbortController().signal });
    const calls = cloudWatch.commandCalls(DescribeAlarmsCommand);
    assert.equal(calls.length, 1);
    assert.equal(calls[0].args[0].input.AlarmNamePrefix, "platform-prod-");
    assert.equal(calls[0].args[0].input.StateValue, "ALARM");
    const client = calls[0].thisValue as CloudWatchClient;
    assert.equal(await client.config.region(), "us-west-2", "asks the stack's region");
  });

  it("fails when an alarm of the stack is in ALARM", async () => {
    server = await smokeServer([200]);
    cloudWatch.on(DescribeAlarmsCommand).resolves({
      MetricAlarms: [{ AlarmName: "platform-prod-users-list-errors", StateValue: "ALARM" }],
    });
    const gate = createHealthGate({ app: "platform", ...FAST });
    await assert.rejects(
      gate({ target: target(), outputs: { apiUrl: server.url }, signal: new AbortController().signal }),
      /1 alarm in ALARM in us-west-2: platform-prod-users-list-errors/,
    );
  });

  it("reads every page of alarms", async () => {
    server = await smokeServer([200]);
    cloudWatch
      .on(DescribeAlarmsCommand)
      .resolvesOnce({ MetricAlarms: [], NextToken: "page-2" })
      .resolvesOnce({ CompositeAlarms: [{ AlarmName: "platform-prod-composite", StateValue: "ALARM" }] });
    const gate = createHealthGate({ app: "platform", ...FAST });
    await assert.rejects(
      gate({ target: target(), outputs: { apiUrl: server.url }, signal: new AbortController().signal }),
      /platform-prod-composite/,
    );
    assert.equal(cloudWatch.commandCalls(DescribeAlarmsCommand)[1].args[0].input.NextToken, "page-2");
  });

  it("fails a stack without an apiUrl output", async () => {
    const gate = createHealthGate({ app: "platform", alarms: false });
    await assert.rejects(
      gate({ target: target(), outputs: {}, signal: new AbortController().signal }),
      /has no apiUrl output/,
    );
  });

  it("halts a rollout at the health gate of a region whose smoke path keeps failing", async () => {
    server = await smokeServer([500]);
    cloudWatch.on(DescribeAlarmsCommand).resolves({ MetricAlarms: [] });
    const engine = new InMemoryEngine({ defaults: { outputs: { apiUrl: server.url } } });
    const report = await runRollout({
      engine,
      stage: "prod",
      targets: selectTargets({
        stage: "prod",
        app: "platform",
        regions: ["us-east-1", "us-west-2"],
        primaryRegion: "us-east-1",
        parallelism: 2,
      }),
      parallelism: 2,
      revision: "r1",
      health: createHealthGate({ app: "platform", ...FAST, attempts: 2 }),
    });
    assert.equal(report.status, "failed");
    assert.equal(report.failure?.gate, "health");
    assert.match(report.failure!.message, /answered 500 \(2 attempts\)/);
    assert.deepEqual(
      report.regions.map((region) => region.state),
      ["failed", "skipped"],
    );
    assert.equal(
      engine.revisionOf({ stage: "prod", ...report.regions[0] }),
      undefined,
      "an unhealthy stack records no revision",
    );
  });
});
