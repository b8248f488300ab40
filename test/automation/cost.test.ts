import * as assert from "node:assert/strict";
import { Command, CommanderError } from "commander";
import { registerCost } from "../../automation/commands/cost";
import { CliExit, type CliIo, EXIT } from "../../automation/commands/io";
import { estimateLambda, estimatePlan } from "../../automation/cost/estimate";
import { scheduleInvocationsPerMonth } from "../../automation/cost/event-sources";
import { formatUsd } from "../../automation/cost/render";
import type { RecordedResource } from "../../automation/plan/mocks";
import { planStack } from "../../automation/plan/plan";
import { UnknownStackError } from "../../automation/plan/stack-config";
import type { PlanResult } from "../../automation/plan/types";

const toCents = (dollars: number) => Math.round(dollars * 100) / 100;

/** The guide's worked example (コスト最適化, 料金計算例). */
const GUIDE_EXAMPLE = {
  memoryMb: 512,
  architecture: "x86_64",
  requests: 1_000_000,
  averageDurationMs: 200,
} as const;

/** 2 executions × 1 GB × 730 h × 3600 s = 5,256,000 GB-s at $0.0000041667. */
const TWO_GB_PROVISIONED_MONTH = 5_256_000 * 0.0000041667;

describe("estimateLambda", () => {
  it("prices the guide's example (512 MB, 200 ms, 1 million requests, x86) at $1.87", () => {
    const { cost } = estimateLambda(GUIDE_EXAMPLE);

    assert.equal(toCents(cost), 1.87);
  });

  it("splits the guide's example into $0.20 for requests and $1.67 for duration", () => {
    const { requestCost, durationCost, gbSeconds } = estimateLambda(GUIDE_EXAMPLE);

    assert.equal(toCents(requestCost), 0.2);
    assert.equal(gbSeconds, 100_000);
    assert.equal(toCents(durationCost), 1.67);
  });

  it("charges 20% less duration on arm64 and the same for requests", () => {
    const x86 = estimateLambda(GUIDE_EXAMPLE);

    const arm = estimateLambda({ ...GUIDE_EXAMPLE, architecture: "arm64" });

    assert.ok(
      Math.abs(arm.durationCost / x86.durationCost - 0.8) < 1e-5,
      `${arm.durationCost / x86.durationCost}`,
    );
    assert.equal(toCents(arm.durationCost), 1.33);
    assert.equal(arm.requestCost, x86.requestCost);
  });

  it("charges provisioned concurrency for every second of a 730-hour month", () => {
    const usage = { memoryMb: 1024, architecture: "arm64", requests: 0, averageDurationMs: 100 } as const;

    const { provisionedGbSeconds, provisionedCost } = estimateLambda({ ...usage, provisionedConcurrency: 2 });

    assert.equal(provisionedGbSeconds, 5_256_000);
    assert.ok(Math.abs(provisionedCost - TWO_GB_PROVISIONED_MONTH) < 1e-9, `${provisionedCost}`);
    assert.equal(toCents(provisionedCost), 21.9);
  });

  it("adds provisioned concurrency to the usual request and duration charges", () => {
    const onDemand = estimateLambda({ ...GUIDE_EXAMPLE, memoryMb: 1024 });

    const provisioned = estimateLambda({ ...GUIDE_EXAMPLE, memoryMb: 1024, provisionedConcurrency: 2 });

    assert.equal(provisioned.requestCost, onDemand.requestCost);
    assert.equal(provisioned.durationCost, onDemand.durationCost);
    assert.ok(Math.abs(provisioned.cost - onDemand.cost - TWO_GB_PROVISIONED_MONTH) < 1e-9);
  });

  it("costs only provisioned concurrency at zero traffic", () => {
    const { cost, provisionedCost } = estimateLambda({
      memoryMb: 1024,
      architecture: "x86_64",
      requests: 0,
      averageDurationMs: 200,
      provisionedConcurrency: 2,
    });

    assert.equal(cost, provisionedCost);
    assert.ok(cost > 0);
  });

  it("costs nothing at zero traffic without provisioned concurrency", () => {
    const { cost } = estimateLambda({ ...GUIDE_EXAMPLE, requests: 0 });

    assert.equal(cost, 0);
  });

  it("rejects a negative request count, naming the field", () => {
    assert.throws(() => estimateLambda({ ...GUIDE_EXAMPLE, requests: -5 }), /requests must be .* at least 0/);
  });
});

describe("formatUsd", () => {
  it("shows dollars with 2 decimals and thousands separators", () => {
    assert.equal(formatUsd(1234.5), "$1,234.50");
  });

  it("shows an amount that would round to $0.00 with two significant digits", () => {
    assert.equal(formatUsd(0.0037), "$0.0037");
  });

  it("shows zero as $0.00", () => {
    assert.equal(formatUsd(0), "$0.00");
  });
});

/** A plan with one GET route on a function with provisioned concurrency, and an on-demand table. */
function smallPlan(): PlanResult {
  const resource = (
    type: string,
    name: string,
    inputs: Record<string, unknown>,
    id?: string,
  ): RecordedResource => ({
    urn: `urn:pulumi:test::platform::${type}::${name}`,
    type,
    name,
    custom: true,
    dependencies: [],
    propertyDependencies: {},
    ignoreChanges: [],
    inputs,
    outputs: inputs,
    id,
  });
  const functionArn = "arn:aws:lambda:us-east-1:123456789012:function:test-items";
  return {
    project: "platform",
    stack: "test",
    stage: "test",
    region: "us-east-1",
    accountId: "123456789012",
    outputs: {},
    resources: [
      resource("aws:apigateway/restApi:RestApi", "api", { name: "test-api" }, "api1"),
      resource(
        "aws:apigateway/resource:Resource",
        "items",
        { restApi: "api1", parentId: "root", pathPart: "items" },
        "res1",
      ),
      resource(
        "aws:lambda/function:Function",
        "items",
        { name: "test-items", memorySize: 1024, architectures: ["x86_64"] },
        "test-items",
      ),
      resource("aws:lambda/provisionedConcurrencyConfig:ProvisionedConcurrencyConfig", "items-pc", {
        functionName: "test-items",
        qualifier: "live",
        provisionedConcurrentExecutions: 2,
      }),
      resource("aws:apigateway/integration:Integration", "items-get", {
        restApi: "api1",
        resourceId: "res1",
        httpMethod: "GET",
        type: "AWS_PROXY",
        uri: `arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/${functionArn}:live/invocations`,
      }),
      resource("aws:dynamodb/table:Table", "table", { name: "test-table", billingMode: "PAY_PER_REQUEST" }),
    ],
  };
}

describe("estimatePlan on a hand-built plan", () => {
  it("costs only the provisioned concurrency at zero traffic", () => {
    const estimate = estimatePlan(smallPlan(), { monthlyRequests: 0, averageDurationMs: 100 });

    assert.ok(Math.abs(estimate.total - TWO_GB_PROVISIONED_MONTH) < 1e-9, `${estimate.total}`);
  });

  it("sends every request of a route to the function its integration invokes", () => {
    const estimate = estimatePlan(smallPlan(), { monthlyRequests: 1_000_000, averageDurationMs: 100 });

    assert.deepEqual(
      estimate.routes.map((r) => [r.route, r.functionName, r.requests]),
      [["GET /items", "test-items", 1_000_000]],
    );
    assert.equal(estimate.lambda[0].requests, 1_000_000);
    assert.equal(estimate.lambda[0].provisionedConcurrency, 2);
  });

  it("reads one DynamoDB unit per request on a GET route it has no assumption for", () => {
    const estimate = estimatePlan(smallPlan(), { monthlyRequests: 1_000_000, averageDurationMs: 100 });

    const reads = estimate.services.find((line) => line.unit === "RRU")!;
    assert.equal(reads.quantity, 1_000_000);
    assert.equal(reads.cost, 0.125);
  });
});

/** smallPlan plus a queue, a table stream and a schedule, each invoking the function's live alias. */
function eventPlan(): PlanResult {
  const plan = smallPlan();
  const base = plan.resources[0];
  const alias = "arn:aws:lambda:us-east-1:123456789012:function:test-items:live";
  const add = (type: string, name: string, inputs: Record<string, unknown>, outputs = inputs) =>
    plan.resources.push({
      ...base,
      urn: `urn:pulumi:test::platform::${type}::${name}`,
      type,
      name,
      inputs,
      outputs,
    });
  const queueArn = "arn:aws:sqs:us-east-1:123456789012:test-jobs";
  const streamArn = "arn:aws:dynamodb:us-east-1:123456789012:table/test-table/stream/2026-01-01T00:00:00.000";
  add("aws:sqs/queue:Queue", "jobs", { name: "test-jobs" }, { name: "test-jobs", arn: queueArn });
  plan.resources[5].outputs = { ...plan.resources[5].inputs, streamArn };
  add("aws:lambda/eventSourceMapping:EventSourceMapping", "jobs-mapping", {
    eventSourceArn: queueArn,
    functionName: alias,
    batchSize: 10,
  });
  add("aws:lambda/eventSourceMapping:EventSourceMapping", "stream-mapping", {
    eventSourceArn: streamArn,
    functionName: alias,
    batchSize: 100,
    startingPosition: "LATEST",
  });
  add("aws:scheduler/schedule:Schedule", "hourly", {
    name: "test-hourly",
    scheduleExpression: "rate(1 hour)",
    target: { arn: alias, roleArn: "arn:aws:iam::123456789012:role/test-scheduler" },
  });
  return plan;
}

describe("estimatePlan's event sources", () => {
  const traffic = { monthlyRequests: 1_000_000, averageDurationMs: 100 };

  it("charges three SQS requests per message at $0.40 per million, one route's share of messages", () => {
    const estimate = estimatePlan(eventPlan(), traffic);

    const sqs = estimate.services.find((line) => line.service === "SQS")!;
    assert.equal(sqs.quantity, 3_000_000);
    assert.equal(sqs.unit, "requests");
    assert.ok(Math.abs(sqs.cost - 1.2) < 1e-9, `${sqs.cost}`);
  });

  it("shows the stream reads of a Lambda trigger at no charge", () => {
    const estimate = estimatePlan(eventPlan(), traffic);

    const stream = estimate.services.find((line) => line.service === "DynamoDB Streams")!;
    assert.match(stream.item, /test-table stream reads by Lambda/);
    assert.equal(stream.quantity, 10_000);
    assert.equal(stream.cost, 0);
  });

  it("charges a schedule's 730 hourly invocations at $1.00 per million", () => {
    const estimate = estimatePlan(eventPlan(), traffic);

    const schedule = estimate.services.find((line) => line.service === "EventBridge Scheduler")!;
    assert.equal(schedule.quantity, 730);
    assert.ok(Math.abs(schedule.cost - 0.00073) < 1e-12, `${schedule.cost}`);
  });

  it("invokes the consumer once per batch and the schedule target once per firing", () => {
    const estimate = estimatePlan(eventPlan(), traffic);

    const line = estimate.lambda[0];
    // 1,000,000 API requests + 100,000 queue batches + 10,000 stream batches + 730 firings.
    assert.equal(line.requests, 1_110_730);
    assert.deepEqual(line.triggers, ["queue test-jobs", "stream of test-table", "schedule test-hourly"]);
  });

  it("adds the event source lines to the total", () => {
    const without = estimatePlan(smallPlan(), traffic);

    const withEvents = estimatePlan(eventPlan(), traffic);

    const lines = [...withEvents.lambda, ...withEvents.services].reduce((sum, line) => sum + line.cost, 0);
    assert.ok(Math.abs(withEvents.total - lines) < 1e-9);
    assert.ok(withEvents.total > without.total);
  });
});

describe("scheduleInvocationsPerMonth", () => {
  it("counts a rate expression over a 730-hour month", () => {
    assert.equal(scheduleInvocationsPerMonth("rate(5 minutes)"), 8760);
  });

  it("counts a daily cron expression once per day", () => {
    assert.ok(Math.abs(scheduleInvocationsPerMonth("cron(0 6 * * ? *)") - 730 / 24) < 1e-9);
  });

  it("counts a weekday cron expression on five days of seven", () => {
    assert.ok(Math.abs(scheduleInvocationsPerMonth("cron(0 9 ? * 2-6 *)") - (5 * 730) / 24 / 7) < 1e-9);
  });

  it("counts a one-time schedule once", () => {
    assert.equal(scheduleInvocationsPerMonth("at(2026-12-01T00:00:00)"), 1);
  });

  it("rejects an expression it cannot read, naming the allowed forms", () => {
    assert.throws(
      () => scheduleInvocationsPerMonth("every hour"),
      /rate\(N unit\), cron\(.*\) or at\(\.\.\.\) \(got "every hour"\)/,
    );
  });
});

describe("estimatePlan on the dev plan", () => {
  let dev: PlanResult;
  before(async () => {
    dev = await planStack("dev");
  });
  const traffic = { monthlyRequests: 1_000_000, averageDurationMs: 100 };

  it("gives one Lambda line per planned function", () => {
    const estimate = estimatePlan(dev, traffic);

    const planned = dev.resources
      .filter((r) => r.type === "aws:lambda/function:Function")
      .map((r) => r.inputs.name);
    assert.ok(planned.length > 0);
    assert.deepEqual(
      estimate.lambda.map((line) => line.functionName),
      planned,
    );
  });

  it("totals the sum of the Lambda and service lines", () => {
    const estimate = estimatePlan(dev, traffic);

    const lines = [...estimate.lambda, ...estimate.services].reduce((sum, line) => sum + line.cost, 0);
    assert.ok(Math.abs(estimate.total - lines) < 1e-9, `${estimate.total} vs ${lines}`);
    assert.ok(estimate.total > 0);
  });

  it("splits the requests evenly over every service's routes and gives the health route none", () => {
    const estimate = estimatePlan(dev, traffic);

    const requests = Object.fromEntries(estimate.routes.map((r) => [r.route, r.requests]));
    assert.deepEqual(requests, {
      "GET /health": 0,
      // Seven routes (users 5, orders 2): the remainder goes to the first in route order.
      "GET /users": 142_857,
      "GET /users/{userId}": 142_857,
      "POST /users": 142_857,
      "PUT /users/{userId}": 142_857,
      "DELETE /users/{userId}": 142_858,
      "POST /orders": 142_857,
      "GET /orders/{orderId}": 142_857,
    });
  });

  it("gives the same routes whatever order the plan lists its resources in", () => {
    const reversed = { ...dev, resources: [...dev.resources].reverse() };
    assert.deepEqual(estimatePlan(reversed, traffic).routes, estimatePlan(dev, traffic).routes);
  });

  it("charges every request once at the REST API's $3.50 per million", () => {
    const estimate = estimatePlan(dev, traffic);

    const api = estimate.services.find((line) => line.service === "API Gateway")!;
    assert.equal(api.quantity, 1_000_000);
    assert.equal(api.cost, 3.5);
  });

  it("charges the orders fulfilment queue's SQS requests", () => {
    const estimate = estimatePlan(dev, traffic);

    const sqs = estimate.services.filter((line) => line.service === "SQS");
    assert.deepEqual(
      sqs.map((line) => line.item),
      ["platform-dev-orders-fulfilment: send, receive and delete per message"],
    );
    // One route's share (142,857 of 7 routes' 1,000,000, unrounded) times three requests.
    assert.ok(Math.abs(sqs[0].quantity - 3_000_000 / 7) < 1e-6, `${sqs[0].quantity}`);
  });

  it("gives the queue consumer one invocation per batch of ten", () => {
    const estimate = estimatePlan(dev, traffic);

    const fulfil = estimate.lambda.find((line) => line.functionName === "platform-dev-orders-fulfil")!;
    assert.deepEqual(fulfil.triggers, ["queue platform-dev-orders-fulfilment"]);
    assert.equal(fulfil.requests, Math.ceil(1_000_000 / 7 / 10));
  });

  it("charges the orders reconcile schedule's 730 hourly invocations and invokes its target as often", () => {
    const estimate = estimatePlan(dev, traffic);

    const schedule = estimate.services.find((line) => line.service === "EventBridge Scheduler")!;
    assert.equal(schedule.item, "platform-dev-orders-reconcile-schedule invocations (rate(1 hour))");
    assert.equal(schedule.quantity, 730);
    const reconcile = estimate.lambda.find((line) => line.functionName === "platform-dev-orders-reconcile")!;
    assert.equal(reconcile.requests, 730);
  });

  it("shows the orders stream's reads by Lambda at no charge", () => {
    const estimate = estimatePlan(dev, traffic);

    const stream = estimate.services.find((line) => line.service === "DynamoDB Streams")!;
    assert.match(stream.item, /^platform-dev-orders-table stream reads by Lambda \(not charged\)$/);
    assert.equal(stream.cost, 0);
  });

  it("costs only the hourly schedule and its invocations at zero traffic, dev having no provisioned concurrency", () => {
    const estimate = estimatePlan(dev, { monthlyRequests: 0, averageDurationMs: 100 });

    const scheduled = estimate.lambda.find((line) => line.functionName === "platform-dev-orders-reconcile")!;
    const schedule = estimate.services.find((line) => line.service === "EventBridge Scheduler")!;
    assert.ok(Math.abs(estimate.total - scheduled.cost - schedule.cost) < 1e-12, `${estimate.total}`);
  });
});

interface CostRun {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `platform cost ...` on a program with only the cost command, mapping errors as runCli does. */
async function runCost(...argv: string[]): Promise<CostRun> {
  const run: CostRun = { code: EXIT.ok, stdout: "", stderr: "" };
  const io: CliIo = {
    stdout: (text) => {
      run.stdout += text;
    },
    stderr: (text) => {
      run.stderr += text;
    },
    isTTY: false,
  };
  const program = new Command("platform")
    .exitOverride()
    .configureOutput({ writeOut: io.stdout, writeErr: io.stderr });
  registerCost(program, io);
  try {
    await program.parseAsync(["cost", ...argv], { from: "user" });
  } catch (error) {
    if (error instanceof CommanderError) run.code = error.exitCode === 0 ? EXIT.ok : EXIT.usage;
    else if (error instanceof UnknownStackError) {
      io.stderr(`error: ${error.message}\n`);
      run.code = EXIT.usage;
    } else if (error instanceof CliExit) {
      io.stderr(`${error.message}\n`);
      run.code = error.code;
    } else throw error;
  }
  return run;
}

describe("platform cost (command)", () => {
  it("prints the Lambda lines and the total for dev with --requests", async () => {
    const run = await runCost("dev", "--requests", "1000000");

    assert.equal(run.code, EXIT.ok, run.stderr);
    assert.match(run.stdout, /^Monthly cost estimate of stack dev \(stage dev, region us-east-1\)/);
    assert.match(
      run.stdout,
      /Traffic: 1,000,000 API requests a month \(--requests\), 80 ms average duration/,
    );
    assert.match(run.stdout, /platform-dev-users-list +256 MB +arm64 +142,857 /);
    assert.match(
      run.stdout,
      /API Gateway +REST API requests +1,000,000 requests +\$3\.50 per million +\$3\.50/,
    );
    assert.match(run.stdout, /Total per month: \$\d+\.\d\d /);
  });

  it("prints the SQS line of the orders fulfilment queue", async () => {
    const run = await runCost("dev", "--requests", "1000000");

    assert.equal(run.code, EXIT.ok, run.stderr);
    assert.match(
      run.stdout,
      /SQS +platform-dev-orders-fulfilment: send, receive and delete per message +428,571\.43 requests +\$0\.40 per million +\$0\.17/,
    );
  });

  it("prints the estimate as JSON with --json", async () => {
    const run = await runCost("dev", "--json", "--duration-ms", "200");

    assert.equal(run.code, EXIT.ok, run.stderr);
    const estimate = JSON.parse(run.stdout);
    assert.deepEqual(estimate.traffic, { monthlyRequests: 100_000, averageDurationMs: 200 });
    assert.equal(estimate.trafficSources.averageDurationMs, "--duration-ms");
    assert.equal(typeof estimate.total, "number");
  });

  it("exits 2 naming the flag and its allowed values for --requests -5", async () => {
    const run = await runCost("dev", "--requests", "-5");

    assert.equal(run.code, EXIT.usage);
    assert.match(run.stderr, /--requests must be an integer from 0 to 100000000000 .*\(got "-5"\)/);
    assert.equal(run.stdout, "");
  });

  it("exits 2 naming the flag for a --duration-ms that is not a whole number", async () => {
    const run = await runCost("dev", "--duration-ms", "1.5");

    assert.equal(run.code, EXIT.usage);
    assert.match(run.stderr, /--duration-ms must be an integer from 1 to 900000/);
  });

  it("leaves an unknown stack to the CLI's UnknownStackError", async () => {
    const run = await runCost("staging");

    assert.equal(run.code, EXIT.usage);
    assert.match(run.stderr, /Unknown stack "staging"/);
  });
});
