/**
 * EventBridge Scheduler in the local cloud: expressions as AWS reads them (rate, six-field cron with
 * ? L W #, at, time zones), next fire times on a fixed clock, delivery as AWS does it (Lambda runs a
 * scheduled event asynchronously: a function error is Lambda's to retry, the schedule's retry policy
 * and dead-letter queue are for an event Lambda did not accept), and the orders service's hourly
 * reconciliation firing its real function from the dev plan. Time is a clock the tests move by hand.
 */
import { strict as assert } from "node:assert";
import { randomUUID } from "node:crypto";
import { DeleteTableCommand, PutItemCommand } from "@aws-sdk/client-dynamodb";
import { ReceiveMessageCommand, SQSClient } from "@aws-sdk/client-sqs";
import { LocalCloud } from "../../automation/local/cloud";
import { DevServer, scheduleBannerLine, scheduleLines } from "../../automation/local/dev-server";
import type { InvokeResult } from "../../automation/local/functions";
import type { LocalSchedule } from "../../automation/local/model";
import { nextFireTime, parseScheduleExpression } from "../../automation/local/schedule-expression";
import {
  LocalSchedules,
  type LocalSchedulesOptions,
  type ScheduleFiring,
} from "../../automation/local/schedules";
import { ManualClock } from "./support";

const T0 = Date.parse("2025-01-01T00:00:00Z");
const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const iso = (time: number | undefined) => (time === undefined ? undefined : new Date(time).toISOString());

describe("schedule expressions", () => {
  const nextAfter = (expression: string, from: string, timezone = "UTC") =>
    iso(
      nextFireTime(
        parseScheduleExpression(expression, timezone, "s"),
        {},
        Date.parse(from),
        Date.parse(from),
      ),
    );

  it("parses a rate expression into its interval", () => {
    assert.deepEqual(parseScheduleExpression("rate(5 minutes)"), { kind: "rate", intervalMs: 5 * MINUTE });
  });

  it("parses an at expression into one instant in its time zone", () => {
    const at = parseScheduleExpression("at(2025-06-01T09:00:00)", "America/New_York");
    assert.deepEqual(at, { kind: "at", instant: Date.parse("2025-06-01T13:00:00Z") });
  });

  it("converts an AWS cron to croner's pattern: seconds first, ? as any day, the year kept", () => {
    const cron = parseScheduleExpression("cron(0/15 8-17 ? * MON-FRI 2026)");
    assert.equal(cron.kind === "cron" && cron.pattern, "0 0-59/15 8-17 * * MON-FRI 2026");
  });

  it("reads a day-of-week nL as the last such weekday of the month (6L: the last Friday)", () => {
    assert.equal(nextAfter("cron(0 10 ? * 6L *)", "2025-02-01T00:00:00Z"), "2025-02-28T10:00:00.000Z");
  });

  it("reads a day-of-month nW as the weekday nearest the nth (15W in February 2025: Friday the 14th)", () => {
    assert.equal(nextAfter("cron(0 9 15W * ? *)", "2025-02-01T00:00:00Z"), "2025-02-14T09:00:00.000Z");
  });

  it("reads d#n as the nth such weekday, numbered 1 = SUN as AWS does (2#1: the first Monday)", () => {
    assert.equal(nextAfter("cron(0 8 ? * 2#1 *)", "2025-01-01T00:00:00Z"), "2025-01-06T08:00:00.000Z");
  });

  it("reads L in day-of-month as the month's last day", () => {
    assert.equal(nextAfter("cron(0 12 L * ? *)", "2025-02-01T00:00:00Z"), "2025-02-28T12:00:00.000Z");
  });

  it("rejects a cron that sets both day fields, naming the schedule, the expression and the rule", () => {
    assert.throws(
      () => parseScheduleExpression("cron(0 12 * * * *)", "UTC", "nightly"),
      /schedule nightly: "cron\(0 12 \* \* \* \*\)" must have \? in exactly one of day-of-month and day-of-week/,
    );
  });

  it("rejects a cron value out of AWS's range, naming the field and what it allows", () => {
    assert.throws(
      () => parseScheduleExpression("cron(0 12 ? * 0 *)", "UTC", "nightly"),
      /has "0" in its day-of-week field, which allows 1-7 or SUN-SAT/,
    );
  });

  it("rejects a cron croner cannot run, saying the local cloud cannot run it", () => {
    assert.throws(
      () => parseScheduleExpression("cron(0 12 ? * MON#6 *)", "UTC", "nightly"),
      /schedule nightly: "cron\(0 12 \? \* MON#6 \*\)" cannot be run by the local cloud/,
    );
  });

  it("rejects a rate with a unit Scheduler does not have, listing the units", () => {
    assert.throws(
      () => parseScheduleExpression("rate(2 weeks)", "UTC", "nightly"),
      /rate\(<positive integer> minute\|minutes\|hour\|hours\|day\|days\)/,
    );
  });

  it("rejects a time zone that is not an IANA name", () => {
    assert.throws(
      () => parseScheduleExpression("cron(0 9 * * ? *)", "Mars/Olympus", "nightly"),
      /scheduleExpressionTimezone "Mars\/Olympus", which is not an IANA time zone/,
    );
  });
});

describe("next fire times on a fixed clock", () => {
  const parse = (expression: string, timezone = "UTC") => parseScheduleExpression(expression, timezone, "s");

  it("fires a rate one interval after its origin, then every interval", () => {
    const rate = parse("rate(5 minutes)");
    assert.equal(nextFireTime(rate, {}, T0, T0), T0 + 5 * MINUTE);
    assert.equal(nextFireTime(rate, {}, T0 + 7 * MINUTE, T0), T0 + 10 * MINUTE);
  });

  it("counts a rate's intervals from its startDate when it has one", () => {
    const start = "2025-01-01T00:02:00Z";
    assert.equal(
      iso(nextFireTime(parse("rate(5 minutes)"), { startDate: start }, T0, T0)),
      "2025-01-01T00:02:00.000Z",
    );
  });

  it("fires a cron at the wall-clock time of its time zone, across daylight saving", () => {
    const cron = parse("cron(0 9 * * ? *)", "Europe/Paris");
    assert.equal(iso(nextFireTime(cron, {}, T0, T0)), "2025-01-01T08:00:00.000Z");
    assert.equal(
      iso(nextFireTime(cron, {}, Date.parse("2025-07-01T00:00:00Z"), T0)),
      "2025-07-01T07:00:00.000Z",
    );
  });

  it("fires an at expression once, and never after", () => {
    const at = parse("at(2025-01-01T06:00:00)");
    assert.equal(iso(nextFireTime(at, {}, T0, T0)), "2025-01-01T06:00:00.000Z");
    assert.equal(nextFireTime(at, {}, Date.parse("2025-01-01T06:00:00Z"), T0), undefined);
  });

  it("has no fire time past its endDate", () => {
    const end = { endDate: "2025-01-01T00:09:00Z" };
    assert.equal(nextFireTime(parse("rate(5 minutes)"), end, T0 + 5 * MINUTE, T0), undefined);
  });
});

const ok = (functionName: string): InvokeResult => ({
  functionName,
  requestId: randomUUID(),
  payload: "null",
  timedOut: false,
  durationMs: 1,
  cold: false,
  logs: [],
});
const failed = (functionName: string): InvokeResult => ({
  ...ok(functionName),
  payload: undefined,
  error: { errorType: "Error", errorMessage: "reconciliation failed", trace: [] },
});

describe("local schedules delivering to a function", () => {
  const planned = (overrides: Partial<LocalSchedule> = {}): LocalSchedule => ({
    name: "nightly",
    groupName: "default",
    arn: "arn:aws:scheduler:us-east-1:123456789012:schedule/default/nightly",
    expression: "rate(5 minutes)",
    timezone: "UTC",
    state: "ENABLED",
    targetArn: "arn:aws:lambda:us-east-1:123456789012:function:job:live",
    functionName: "job",
    qualifier: "live",
    retryPolicy: { maximumRetryAttempts: 2, maximumEventAgeSeconds: 3600 },
    deadLetterQueueName: "job-dlq",
    ...overrides,
  });

  /** A scheduler on a manual clock whose function answers with `answer` (a thrown error: not accepted). */
  function harness(
    answer: (functionName: string) => InvokeResult = ok,
    options: Partial<LocalSchedulesOptions> = {},
  ) {
    const clock = new ManualClock(T0);
    const invocations: { event: unknown; at: number }[] = [];
    const sent: { queueName: string; body: string; attributes?: Record<string, string> }[] = [];
    const firings: ScheduleFiring[] = [];
    const schedules = new LocalSchedules({
      invoke: async (functionName, event) => {
        invocations.push({ event, at: clock.now() });
        return answer(functionName);
      },
      sendMessage: (queueName, body, attributes) => {
        sent.push({ queueName, body, attributes });
      },
      region: "us-east-1",
      accountId: "123456789012",
      clock,
      onFiring: (firing) => firings.push(firing),
      ...options,
    });
    return { clock, schedules, invocations, sent, firings };
  }

  it("fires on its timer one interval after it was created, then every interval", async () => {
    const { clock, schedules, invocations } = harness();
    schedules.apply([planned()], []);
    await clock.advance(4 * MINUTE, schedules);
    assert.equal(invocations.length, 0);
    await clock.advance(6 * MINUTE, schedules);
    assert.deepEqual(
      invocations.map((i) => iso(i.at)),
      ["2025-01-01T00:05:00.000Z", "2025-01-01T00:10:00.000Z"],
    );
  });

  it("passes the planned input with Scheduler's context attributes filled in", async () => {
    const { clock, schedules, invocations } = harness();
    const input =
      '{"job":"reconcile","at":"<aws.scheduler.scheduled-time>","attempt":<aws.scheduler.attempt-number>}';
    schedules.apply([planned({ input })], []);
    await clock.advance(5 * MINUTE, schedules);
    assert.deepEqual(invocations[0].event, { job: "reconcile", at: "2025-01-01T00:05:00Z", attempt: 1 });
  });

  it("passes Scheduler's default notification when the target has no input", async () => {
    const { clock, schedules, invocations } = harness();
    schedules.apply([planned()], []);
    await clock.advance(5 * MINUTE, schedules);
    const event = invocations[0].event as Record<string, unknown>;
    assert.equal(event.source, "aws.scheduler");
    assert.equal(event["detail-type"], "Scheduled Event");
    assert.equal(event.time, "2025-01-01T00:05:00Z");
    assert.deepEqual(event.resources, [planned().arn]);
    assert.equal(event.detail, "{}");
    // The shape of events captured from deployed schedules: EventBridge's envelope, version "0",
    // `detail` a JSON string (not an object, as EventBridge rules send it).
    assert.deepEqual(Object.keys(event).sort(), [
      "account",
      "detail",
      "detail-type",
      "id",
      "region",
      "resources",
      "source",
      "time",
      "version",
    ]);
    assert.equal(event.version, "0");
    assert.match(String(event.id), /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
  });

  it("never fires a DISABLED schedule", async () => {
    const { clock, schedules, invocations } = harness();
    schedules.apply([planned({ state: "DISABLED" })], []);
    await clock.advance(24 * HOUR, schedules);
    assert.equal(invocations.length, 0);
    assert.equal(schedules.status()[0].next, undefined);
  });

  it("fires nothing once closed: its timers are cleared", async () => {
    const { clock, schedules, invocations } = harness();
    schedules.apply([planned()], []);
    schedules.close();
    assert.equal(clock.pending, 0);
    await clock.advance(HOUR, schedules);
    assert.equal(invocations.length, 0);
  });

  it("re-arms a schedule whose expression a re-plan changed", async () => {
    const { clock, schedules, invocations } = harness();
    schedules.apply([planned()], []);
    assert.deepEqual(schedules.apply([planned({ expression: "rate(1 hour)" })], []), [
      "schedule nightly updated",
    ]);
    await clock.advance(59 * MINUTE, schedules);
    assert.equal(invocations.length, 0);
    await clock.advance(MINUTE, schedules);
    assert.equal(invocations.length, 1);
  });

  it("stops a schedule a re-plan removed", async () => {
    const { clock, schedules, invocations } = harness();
    schedules.apply([planned()], []);
    assert.deepEqual(schedules.apply([], []), ["schedule nightly deleted"]);
    await clock.advance(HOUR, schedules);
    assert.equal(invocations.length, 0);
  });

  it("refuses an expression it cannot run unless its timers are off, then says why it does not fire", () => {
    const bad = planned({ expression: "cron(0 12 * * * *)" });
    assert.throws(() => harness().schedules.apply([bad], []), /schedule nightly: .*--no-schedules/);
    const { schedules } = harness(ok, { timers: false });
    schedules.apply([bad], []);
    assert.match(schedules.status()[0].problem ?? "", /must have \? in exactly one of/);
  });

  it("leaves a function error to Lambda: two asynchronous retries a minute then two apart, nothing to the schedule's dead-letter queue", async () => {
    const { clock, schedules, invocations, sent } = harness(failed);
    schedules.apply([planned()], []);
    const final = schedules.fire("nightly");
    await clock.advance(3 * MINUTE, schedules);
    assert.deepEqual(
      invocations.map((i) => i.at - T0),
      [0, MINUTE, 3 * MINUTE],
    );
    const outcome = await final;
    assert.equal(outcome.outcome, "dropped");
    assert.match(outcome.detail, /no on-failure destination/);
    assert.deepEqual(sent, []);
  });

  it("sends a failed event's record to the function's on-failure destination once Lambda's retries are spent", async () => {
    const { clock, schedules, sent } = harness(failed);
    const config = {
      functionName: "job",
      qualifier: "live",
      maximumRetryAttempts: 1,
      maximumEventAgeSeconds: 3600,
    };
    schedules.apply([planned()], [{ ...config, onFailureQueueName: "job-failures" }]);
    const final = schedules.fire("nightly");
    await clock.advance(MINUTE, schedules);
    assert.equal((await final).outcome, "dead-lettered");
    assert.equal(sent[0].queueName, "job-failures");
    const record = JSON.parse(sent[0].body);
    assert.equal(record.requestContext.condition, "RetriesExhausted");
    assert.equal(record.requestContext.approximateInvokeCount, 2);
    assert.equal(record.responsePayload.errorMessage, "reconciliation failed");
  });

  it("retries an event Lambda does not accept per the retry policy, then dead-letters it with Scheduler's attributes", async () => {
    const { clock, schedules, invocations, sent, firings } = harness(() => {
      throw new Error("Function not found: job");
    });
    schedules.apply([planned()], []);
    const final = schedules.fire("nightly");
    await clock.advance(MINUTE, schedules);
    assert.equal(invocations.length, 3, "the first attempt and maximumRetryAttempts (2) retries");
    assert.deepEqual(
      firings.map((f) => f.outcome),
      ["retrying", "retrying", "dead-lettered"],
    );
    assert.equal((await final).queueName, "job-dlq");
    assert.equal(sent[0].queueName, "job-dlq");
    assert.equal((JSON.parse(sent[0].body) as { source: string }).source, "aws.scheduler");
    const { EXECUTION_ID, ...attributes } = sent[0].attributes ?? {};
    assert.match(EXECUTION_ID, /^[0-9a-f]{16}$/);
    assert.deepEqual(attributes, {
      ERROR_CODE: "ResourceNotFoundException",
      ERROR_MESSAGE: "Function not found: job",
      RETRY_ATTEMPTS: "2",
      SCHEDULE_ARN: planned().arn,
      TARGET_ARN: planned().targetArn,
    });
  });
});

describe("the orders reconciliation schedule in the dev stack's local cloud", function () {
  this.timeout(120_000);
  let cloud: LocalCloud;
  let clock: ManualClock;
  let sqs: SQSClient;
  const firings: ScheduleFiring[] = [];
  const reconcile = () => {
    const schedule = cloud.model.schedules.find((s) => s.name.endsWith("-orders-reconcile-schedule"));
    assert.ok(schedule, "the dev plan has no orders reconcile schedule");
    return schedule;
  };

  before(async () => {
    clock = new ManualClock(Date.now());
    cloud = await LocalCloud.start({
      stack: "dev",
      inMemory: true,
      scheduleClock: clock,
      onSchedule: (firing) => firings.push(firing),
    });
    sqs = new SQSClient({
      endpoint: new URL(cloud.queues.queueUrl("x")).origin,
      region: cloud.model.region,
      credentials: cloud.credentials,
    });
  });
  after(async () => {
    sqs?.destroy();
    await cloud?.close();
  });

  it("reads the schedule from the plan: expression, target function, retry policy and dead-letter queue", () => {
    const schedule = reconcile();
    assert.equal(schedule.expression, "rate(1 hour)");
    assert.equal(schedule.state, "ENABLED");
    assert.equal(schedule.functionName, "platform-dev-orders-reconcile");
    assert.equal(schedule.qualifier, "live");
    assert.equal(schedule.input, undefined);
    assert.deepEqual(schedule.retryPolicy, { maximumRetryAttempts: 2, maximumEventAgeSeconds: 3600 });
    assert.equal(schedule.deadLetterQueueName, "platform-dev-orders-reconcile-schedule-dlq");
    assert.equal(
      schedule.arn,
      "arn:aws:scheduler:us-east-1:123456789012:schedule/platform-dev-orders-reconcile-schedule/platform-dev-orders-reconcile-schedule",
    );
  });

  it("prints the schedule in the banner with its target and next fire time", () => {
    const status = cloud.schedules.status().find((s) => s.schedule.name === reconcile().name);
    assert.ok(status);
    assert.equal(
      scheduleBannerLine(status, true),
      `  schedule ${reconcile().name} rate(1 hour) -> platform-dev-orders-reconcile  (next ${iso(status.next)})`,
    );
  });

  it("fires the real reconcile function an hour after start, with Scheduler's default notification, and it flags an overdue order", async () => {
    const orders = cloud.model.tables.find((t) => t.name.endsWith("-orders-table"));
    assert.ok(orders);
    const twoDaysAgo = new Date(Date.now() - 48 * HOUR).toISOString();
    await cloud.dynamoDb.client.send(
      new PutItemCommand({
        TableName: orders.name,
        Item: {
          orderId: { S: "late-order" },
          item: { S: "widget" },
          quantity: { N: "1" },
          status: { S: "placed" },
          createdAt: { S: twoDaysAgo },
        },
      }),
    );
    await clock.advance(HOUR, cloud.schedules);
    const fired = firings.filter((f) => f.schedule === reconcile().name);
    assert.equal(fired.length, 1);
    assert.equal(fired[0].outcome, "succeeded", fired[0].result?.error?.errorMessage);
    assert.equal((fired[0].event as { source: string }).source, "aws.scheduler");
    assert.deepEqual(JSON.parse(fired[0].result?.payload ?? "null"), { overdue: ["late-order"] });
  });

  it("prints a scheduled run for platform dev as one line, with the function's log lines under it", () => {
    const run = firings.find((f) => f.schedule === reconcile().name && f.outcome === "succeeded");
    assert.ok(run);
    const [first, ...logs] = scheduleLines(run);
    assert.match(
      first,
      /^schedule platform-dev-orders-reconcile-schedule -> platform-dev-orders-reconcile \d+ ms \(cold, init \d+ ms\)$/,
    );
    assert.ok(
      logs.some((line) => /^ {2}│ INFO orders reconciled/.test(line)),
      logs.join("\n"),
    );
  });

  it("retries the failing reconcile function as Lambda does, then sends its record to the on-failure queue the plan gives it", async () => {
    const dlq = cloud.model.queues.find((q) => q.name === reconcile().deadLetterQueueName);
    assert.ok(dlq);
    // ServiceSchedule gives the scheduled alias an on-failure destination: the schedule's queue.
    const config = cloud.plan.resources.find(
      (r) =>
        r.type === "aws:lambda/functionEventInvokeConfig:FunctionEventInvokeConfig" &&
        r.inputs.functionName === "platform-dev-orders-reconcile",
    );
    assert.deepEqual(config?.inputs.destinationConfig, { onFailure: { destination: dlq.arn } });
    assert.equal(config?.inputs.qualifier, "live");
    const orders = cloud.model.tables.find((t) => t.name.endsWith("-orders-table"));
    await cloud.dynamoDb.client.send(new DeleteTableCommand({ TableName: orders?.name }));

    firings.length = 0;
    const final = cloud.schedules.fire(reconcile().name);
    await clock.advance(3 * MINUTE, cloud.schedules);
    assert.equal((await final).outcome, "dead-lettered");
    assert.deepEqual(
      firings.map((f) => [f.run, f.outcome]),
      [
        [1, "retrying"],
        [2, "retrying"],
        [3, "dead-lettered"],
      ],
    );
    const { Messages = [] } = await sqs.send(
      new ReceiveMessageCommand({ QueueUrl: cloud.queues.queueUrl(dlq.name), MaxNumberOfMessages: 10 }),
    );
    assert.equal(Messages.length, 1);
    const record = JSON.parse(Messages[0].Body ?? "{}");
    assert.equal(record.requestContext.condition, "RetriesExhausted");
    assert.equal(
      record.requestContext.functionArn.endsWith(":function:platform-dev-orders-reconcile:live"),
      true,
    );
    assert.equal(record.requestPayload.source, "aws.scheduler");
  });
});

describe("platform dev --no-schedules", function () {
  this.timeout(120_000);
  let server: DevServer;
  const printed: string[] = [];

  before(async () => {
    server = await DevServer.start({
      stack: "dev",
      inMemory: true,
      watch: false,
      schedules: false,
      print: (line) => printed.push(line),
    });
  });
  after(async () => {
    await server?.close();
  });

  it("lists the stack's schedules in the banner as not firing, and arms no timer", () => {
    assert.ok(
      printed.some((line) =>
        /schedule platform-dev-orders-reconcile-schedule rate\(1 hour\) -> platform-dev-orders-reconcile {2}\(not firing: --no-schedules\)/.test(
          line,
        ),
      ),
      printed.join("\n"),
    );
    assert.equal(server.cloud.schedules.timers, false);
  });
});
