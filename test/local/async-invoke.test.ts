/**
 * Lambda's asynchronous invocation in the local cloud: `Invoke` with `InvocationType: Event` is
 * answered 202 at once and run after; a failing event is retried as Lambda does (one, then two
 * minutes later, within its maximum age), then its record goes to the on-failure destination and
 * the event itself to the function's dead-letter queue, with Lambda's attributes. Calls go through
 * the AWS SDK's own LambdaClient; queues are the local cloud's; time is a clock moved by hand.
 */
import { strict as assert } from "node:assert";
import { DeleteTableCommand } from "@aws-sdk/client-dynamodb";
import { InvokeCommand, LambdaClient } from "@aws-sdk/client-lambda";
import { ReceiveMessageCommand, SQSClient } from "@aws-sdk/client-sqs";
import { type AsyncStep, LocalAsyncInvocations } from "../../automation/local/async-invoke";
import { LocalCloud } from "../../automation/local/cloud";
import { LocalControlPlane } from "../../automation/local/control-plane";
import { asyncInvokeLines } from "../../automation/local/dev-server";
import type { InvokeResult } from "../../automation/local/functions";
import type { LocalEventInvokeConfig } from "../../automation/local/model";
import { LocalQueues } from "../../automation/local/queues";
import { LOCAL_CREDENTIALS } from "../../automation/local/tables";
import { planStack } from "../../automation/plan/plan";
import { ManualClock } from "./support";

const REGION = "eu-west-1";
const ACCOUNT = "123456789012";
const MINUTE = 60_000;
const FUNCTION = "platform-dev-orders-notify";

interface Run {
  functionName: string;
  event: unknown;
  at: number;
  requestId: string;
}

/** A function that fails while `failing` is set, recording each run and when it ran. */
function fakeFunction(clock: ManualClock, failing: { message: string } | undefined) {
  const runs: Run[] = [];
  const invoke = async (functionName: string, event: unknown, id?: string): Promise<InvokeResult> => {
    // As the function pool does: the given request id, else a new one.
    const requestId = id ?? `req-${runs.length + 1}`;
    runs.push({ functionName, event, at: clock.now(), requestId });
    const base = {
      functionName,
      requestId,
      timedOut: false,
      durationMs: 3,
      cold: false,
      logs: [],
    };
    return failing
      ? { ...base, error: { errorType: "Error", errorMessage: failing.message, trace: [] } }
      : { ...base, payload: "null" };
  };
  return { runs, invoke };
}

function queues(): LocalQueues {
  const local = new LocalQueues(
    async () => {
      throw new Error("no consumer");
    },
    () => "http://127.0.0.1:1",
    REGION,
    ACCOUNT,
  );
  const queue = (name: string) => ({
    name,
    arn: `arn:aws:sqs:${REGION}:${ACCOUNT}:${name}`,
    visibilityTimeoutSeconds: 30,
  });
  local.apply([queue("notify-dlq"), queue("notify-failures")], []);
  return local;
}

function received(local: LocalQueues, name: string) {
  const { Messages = [] } = local.handle("ReceiveMessage", {
    QueueUrl: local.queueUrl(name),
    MaxNumberOfMessages: 10,
    MessageAttributeNames: ["All"],
  }) as {
    Messages?: {
      Body: string;
      MessageAttributes?: Record<string, { DataType: string; StringValue: string }>;
    }[];
  };
  return Messages;
}

function asyncLambda(
  clock: ManualClock,
  invoke: (functionName: string, event: unknown) => Promise<InvokeResult>,
  local: LocalQueues,
) {
  return new LocalAsyncInvocations({
    invoke,
    sendMessage: (queueName, body, attributes) => local.send(queueName, body, attributes),
    region: REGION,
    accountId: ACCOUNT,
    clock,
  });
}

const config = (overrides: Partial<LocalEventInvokeConfig> = {}): LocalEventInvokeConfig => ({
  functionName: FUNCTION,
  maximumRetryAttempts: 2,
  maximumEventAgeSeconds: 21600,
  ...overrides,
});

describe("Lambda's asynchronous invocation in the local cloud", () => {
  const T0 = Date.parse("2025-03-01T12:00:00Z");

  it("runs a failing event three times, one then two minutes apart, as Lambda's default retries", async () => {
    const clock = new ManualClock(T0);
    const fn = fakeFunction(clock, { message: "downstream unavailable" });
    const lambda = asyncLambda(clock, fn.invoke, queues());
    lambda.apply([], [{ name: FUNCTION, deadLetterQueueName: "notify-dlq" }]);
    const { done } = lambda.accept({ functionName: FUNCTION, event: { orderId: "o-1" } });
    await clock.advance(10 * MINUTE, lambda);
    assert.equal((await done).outcome, "dead-lettered");
    assert.deepEqual(
      fn.runs.map((r) => r.at - T0),
      [0, MINUTE, 3 * MINUTE],
    );
  });

  it("sends the event itself to the function's dead-letter queue, with RequestID, ErrorCode and ErrorMessage", async () => {
    const clock = new ManualClock(T0);
    const fn = fakeFunction(clock, { message: "downstream unavailable" });
    const local = queues();
    const lambda = asyncLambda(clock, fn.invoke, local);
    lambda.apply([], [{ name: FUNCTION, deadLetterQueueName: "notify-dlq" }]);
    const { requestId, done } = lambda.accept({ functionName: FUNCTION, event: { orderId: "o-1" } });
    await clock.advance(10 * MINUTE, lambda);
    await done;
    const [message] = received(local, "notify-dlq");
    assert.deepEqual(JSON.parse(message.Body), { orderId: "o-1" });
    assert.deepEqual(message.MessageAttributes, {
      RequestID: { DataType: "String", StringValue: requestId },
      ErrorCode: { DataType: "Number", StringValue: "200" },
      ErrorMessage: { DataType: "String", StringValue: "Error: downstream unavailable" },
    });
  });

  it("keeps the first kilobyte of a long error message in the dead-letter attributes", async () => {
    const clock = new ManualClock(T0);
    const fn = fakeFunction(clock, { message: "x".repeat(5000) });
    const local = queues();
    const lambda = asyncLambda(clock, fn.invoke, local);
    lambda.apply(
      [config({ maximumRetryAttempts: 0 })],
      [{ name: FUNCTION, deadLetterQueueName: "notify-dlq" }],
    );
    await lambda.accept({ functionName: FUNCTION, event: {} }).done;
    const [message] = received(local, "notify-dlq");
    assert.equal(Buffer.byteLength(message.MessageAttributes?.ErrorMessage.StringValue ?? ""), 1024);
  });

  it("sends the on-failure destination Lambda's record of the event, naming the invoked alias", async () => {
    const clock = new ManualClock(T0);
    const fn = fakeFunction(clock, { message: "boom" });
    const local = queues();
    const lambda = asyncLambda(clock, fn.invoke, local);
    lambda.apply(
      [config({ qualifier: "live", maximumRetryAttempts: 1, onFailureQueueName: "notify-failures" })],
      [],
    );
    const { done } = lambda.accept({ functionName: FUNCTION, qualifier: "live", event: { orderId: "o-2" } });
    await clock.advance(10 * MINUTE, lambda);
    assert.deepEqual((await done).queueNames, ["notify-failures"]);
    const record = JSON.parse(received(local, "notify-failures")[0].Body);
    assert.equal(
      record.requestContext.functionArn,
      `arn:aws:lambda:${REGION}:${ACCOUNT}:function:${FUNCTION}:live`,
    );
    assert.equal(record.requestContext.condition, "RetriesExhausted");
    assert.equal(record.requestContext.approximateInvokeCount, 2);
    assert.deepEqual(record.requestPayload, { orderId: "o-2" });
    assert.equal(record.responseContext.functionError, "Unhandled");
  });

  it("runs every retry under the request id Lambda answered the Event with, and reports that id", async () => {
    const clock = new ManualClock(T0);
    const fn = fakeFunction(clock, { message: "boom" });
    const local = queues();
    const lambda = asyncLambda(clock, fn.invoke, local);
    lambda.apply([config({ onFailureQueueName: "notify-failures" })], []);
    const { requestId, done } = lambda.accept({ functionName: FUNCTION, event: {} });
    await clock.advance(10 * MINUTE, lambda);
    await done;
    assert.deepEqual(
      fn.runs.map((r) => r.requestId),
      [requestId, requestId, requestId],
    );
    assert.equal(JSON.parse(received(local, "notify-failures")[0].Body).requestContext.requestId, requestId);
  });

  it("says the retries were spent, not the age, when the last run fails within the event's age", async () => {
    const clock = new ManualClock(T0);
    const fn = fakeFunction(clock, { message: "boom" });
    const local = queues();
    const lambda = asyncLambda(clock, fn.invoke, local);
    lambda.apply([config({ maximumEventAgeSeconds: 240, onFailureQueueName: "notify-failures" })], []);
    const { done } = lambda.accept({ functionName: FUNCTION, event: {} });
    await clock.advance(10 * MINUTE, lambda);
    const step = await done;
    assert.equal(step.run, 3);
    assert.doesNotMatch(step.detail, /maximum age/);
    assert.equal(
      JSON.parse(received(local, "notify-failures")[0].Body).requestContext.condition,
      "RetriesExhausted",
    );
  });

  it("uses the invoked alias's event invoke config over the function's", async () => {
    const clock = new ManualClock(T0);
    const fn = fakeFunction(clock, { message: "boom" });
    const lambda = asyncLambda(clock, fn.invoke, queues());
    lambda.apply(
      [config({ maximumRetryAttempts: 2 }), config({ qualifier: "live", maximumRetryAttempts: 0 })],
      [],
    );
    const step = lambda.accept({ functionName: FUNCTION, qualifier: "live", event: {} }).done;
    await clock.advance(10 * MINUTE, lambda);
    assert.equal((await step).run, 1);
    assert.equal(fn.runs.length, 1);
  });

  it("gives up once the next retry would pass the event's maximum age, saying so in the record", async () => {
    const clock = new ManualClock(T0);
    const fn = fakeFunction(clock, { message: "boom" });
    const local = queues();
    const lambda = asyncLambda(clock, fn.invoke, local);
    lambda.apply([config({ maximumEventAgeSeconds: 120, onFailureQueueName: "notify-failures" })], []);
    const { done } = lambda.accept({ functionName: FUNCTION, event: {} });
    await clock.advance(10 * MINUTE, lambda);
    // Run 1 at 0, run 2 at 1 min; a third at 3 min would be past 2 min.
    assert.equal((await done).run, 2);
    assert.equal(
      JSON.parse(received(local, "notify-failures")[0].Body).requestContext.condition,
      "EventAgeExceeded",
    );
  });

  it("drops an event whose function has neither destination, saying why", async () => {
    const clock = new ManualClock(T0);
    const fn = fakeFunction(clock, { message: "boom" });
    const lambda = asyncLambda(clock, fn.invoke, queues());
    lambda.apply([config({ maximumRetryAttempts: 0 })], []);
    const step = await lambda.accept({ functionName: FUNCTION, event: {} }).done;
    assert.equal(step.outcome, "dropped");
    assert.match(step.detail, /no on-failure destination or dead-letter queue/);
  });

  it("gives up a retry waiting on its timer when the cloud closes, without running it", async () => {
    const clock = new ManualClock(T0);
    const fn = fakeFunction(clock, { message: "boom" });
    const lambda = asyncLambda(clock, fn.invoke, queues());
    const { done } = lambda.accept({ functionName: FUNCTION, event: {} });
    await clock.advance(0, lambda);
    lambda.close();
    assert.equal((await done).outcome, "dropped");
    assert.equal(fn.runs.length, 1);
  });
});

describe("the local Lambda API's invocation types, through the SDK's LambdaClient", () => {
  let plane: LocalControlPlane;
  let lambda: LocalAsyncInvocations;
  let client: LambdaClient;
  let clock: ManualClock;
  let fn: ReturnType<typeof fakeFunction>;

  beforeEach(async () => {
    clock = new ManualClock(Date.now());
    fn = fakeFunction(clock, undefined);
    plane = new LocalControlPlane(fn.invoke, (name) => name === FUNCTION);
    lambda = asyncLambda(clock, fn.invoke, queues());
    plane.lambda = lambda;
    client = new LambdaClient({
      endpoint: await plane.listen(),
      region: REGION,
      credentials: LOCAL_CREDENTIALS,
    });
  });
  afterEach(async () => {
    client.destroy();
    lambda.close();
    await plane.close();
  });

  it("answers an Event invocation 202 with no payload, then runs the function with the event", async () => {
    const answer = await client.send(
      new InvokeCommand({
        FunctionName: FUNCTION,
        InvocationType: "Event",
        Payload: Buffer.from(JSON.stringify({ orderId: "o-3" })),
      }),
    );
    assert.equal(answer.StatusCode, 202);
    assert.equal(answer.Payload?.length ?? 0, 0);
    await clock.advance(0, lambda);
    assert.deepEqual(
      fn.runs.map((r) => r.event),
      [{ orderId: "o-3" }],
    );
  });

  it("answers a DryRun 204 without running the function", async () => {
    const answer = await client.send(new InvokeCommand({ FunctionName: FUNCTION, InvocationType: "DryRun" }));
    assert.equal(answer.StatusCode, 204);
    await clock.advance(0, lambda);
    assert.equal(fn.runs.length, 0);
  });

  it("refuses an Event invocation of a function the stack does not have with ResourceNotFoundException", async () => {
    await assert.rejects(
      client.send(new InvokeCommand({ FunctionName: "platform-dev-nope", InvocationType: "Event" })),
      (error: Error) => error.name === "ResourceNotFoundException",
    );
  });

  it("runs the alias named in the function ARN or Qualifier with that alias's config", async () => {
    const failing = fakeFunction(clock, { message: "boom" });
    const aliasPlane = new LocalControlPlane(failing.invoke, () => true);
    const local = queues();
    const aliasLambda = asyncLambda(clock, failing.invoke, local);
    aliasLambda.apply(
      [config({ qualifier: "live", maximumRetryAttempts: 0, onFailureQueueName: "notify-failures" })],
      [],
    );
    aliasPlane.lambda = aliasLambda;
    const aliased = new LambdaClient({
      endpoint: await aliasPlane.listen(),
      region: REGION,
      credentials: LOCAL_CREDENTIALS,
    });
    try {
      await aliased.send(
        new InvokeCommand({
          FunctionName: FUNCTION,
          Qualifier: "live",
          InvocationType: "Event",
          Payload: "{}",
        }),
      );
      await clock.advance(0, aliasLambda);
      const record = JSON.parse(received(local, "notify-failures")[0].Body);
      assert.match(record.requestContext.functionArn, /:live$/);
    } finally {
      aliased.destroy();
      aliasLambda.close();
      await aliasPlane.close();
    }
  });

  it("refuses an alias the function does not have with ResourceNotFoundException", async () => {
    const strict = new LocalControlPlane(
      fn.invoke,
      (name, qualifier) => name === FUNCTION && qualifier !== "nope",
    );
    const strictClient = new LambdaClient({
      endpoint: await strict.listen(),
      region: REGION,
      credentials: LOCAL_CREDENTIALS,
    });
    try {
      await assert.rejects(
        strictClient.send(new InvokeCommand({ FunctionName: `${FUNCTION}:nope`, InvocationType: "Event" })),
        (error: Error) => error.name === "ResourceNotFoundException",
      );
    } finally {
      strictClient.destroy();
      await strict.close();
    }
  });

  it("refuses a Qualifier that differs from the one in the function name", async () => {
    await assert.rejects(
      client.send(
        new InvokeCommand({ FunctionName: `${FUNCTION}:live`, Qualifier: "1", InvocationType: "Event" }),
      ),
      (error: Error) => error.name === "InvalidParameterValueException",
    );
  });

  it("answers an unknown invocation type 400 with Lambda's validation message", async () => {
    await assert.rejects(
      client.send(new InvokeCommand({ FunctionName: FUNCTION, InvocationType: "Later" as "Event" })),
      (error: Error) => error.name === "ValidationException" && /invocationType/.test(error.message),
    );
  });
});

describe("an Event invocation of the dev stack's reconcile function, end to end in the local cloud", function () {
  this.timeout(120_000);
  const RECONCILE = "platform-dev-orders-reconcile";
  let cloud: LocalCloud;
  let clock: ManualClock;
  let lambda: LambdaClient;
  let sqs: SQSClient;
  const steps: AsyncStep[] = [];
  let dlq = "";

  before(async () => {
    // The dev plan, with a DeadLetterConfig on the reconcile function (ServerlessFunction's
    // `asyncFailure.deadLetterQueue` gives one) to the schedule's queue: what Lambda does with both.
    const plan = await planStack("dev");
    const fn = plan.resources.find(
      (r) => r.type === "aws:lambda/function:Function" && r.outputs.name === RECONCILE,
    );
    const queue = plan.resources.find(
      (r) =>
        r.type === "aws:sqs/queue:Queue" && String(r.outputs.name).endsWith("-orders-reconcile-schedule-dlq"),
    );
    assert.ok(fn && queue, "the dev plan has the reconcile function and its schedule's queue");
    fn.outputs.deadLetterConfig = { targetArn: queue.outputs.arn };
    dlq = String(queue.outputs.name);
    clock = new ManualClock(Date.now());
    cloud = await LocalCloud.start({
      stack: "dev",
      plan,
      inMemory: true,
      schedules: false,
      scheduleClock: clock,
      onAsyncInvoke: (step) => steps.push(step),
    });
    const endpoint = new URL(cloud.queues.queueUrl("x")).origin;
    lambda = new LambdaClient({ endpoint, region: cloud.model.region, credentials: cloud.credentials });
    sqs = new SQSClient({ endpoint, region: cloud.model.region, credentials: cloud.credentials });
  });
  after(async () => {
    lambda?.destroy();
    sqs?.destroy();
    await cloud?.close();
  });

  it("reads the function's dead-letter queue from the plan", () => {
    assert.equal(cloud.model.functions.find((f) => f.name === RECONCILE)?.deadLetterQueueName, dlq);
  });

  it("runs a failing event three times, then sends the alias's on-failure record and the event itself to the queues", async () => {
    const orders = cloud.model.tables.find((t) => t.name.endsWith("-orders-table"));
    await cloud.dynamoDb.client.send(new DeleteTableCommand({ TableName: orders?.name }));
    const event = { source: "ops", "detail-type": "Reconcile now", detail: {} };
    const answer = await lambda.send(
      new InvokeCommand({
        FunctionName: `arn:aws:lambda:${cloud.model.region}:${cloud.model.accountId}:function:${RECONCILE}:live`,
        InvocationType: "Event",
        Payload: Buffer.from(JSON.stringify(event)),
      }),
    );
    assert.equal(answer.StatusCode, 202);
    await clock.advance(3 * MINUTE, cloud.lambda);
    // Each run in the function's worker had the request id Lambda answered with.
    assert.ok(answer.$metadata.requestId);
    assert.deepEqual(
      steps.map((s) => s.result.requestId),
      [answer.$metadata.requestId, answer.$metadata.requestId, answer.$metadata.requestId],
    );
    assert.deepEqual(
      steps.map((s) => [s.run, s.outcome]),
      [
        [1, "retrying"],
        [2, "retrying"],
        [3, "dead-lettered"],
      ],
    );
    const { Messages = [] } = await sqs.send(
      new ReceiveMessageCommand({
        QueueUrl: cloud.queues.queueUrl(dlq),
        MaxNumberOfMessages: 10,
        MessageAttributeNames: ["All"],
      }),
    );
    const bodies = Messages.map((m) => JSON.parse(m.Body ?? "{}"));
    const record = bodies.find((b) => b.requestContext);
    assert.equal(record?.requestContext.functionArn.endsWith(`:function:${RECONCILE}:live`), true);
    assert.deepEqual(record?.requestPayload, event);
    const raw = Messages.find((m) => !JSON.parse(m.Body ?? "{}").requestContext);
    assert.deepEqual(JSON.parse(raw?.Body ?? "{}"), event);
    assert.equal(raw?.MessageAttributes?.ErrorCode?.StringValue, "200");
    assert.match(
      raw?.MessageAttributes?.ErrorMessage?.StringValue ?? "",
      /ResourceNotFoundException|not found/i,
    );
  });

  it("prints each run for platform dev with what Lambda does next", () => {
    const last = steps.at(-1);
    assert.ok(last);
    const lines = asyncInvokeLines(last);
    assert.match(lines[0], new RegExp(`^event -> ${RECONCILE}:live run 3 \\d+ ms$`));
    assert.match(lines.at(-1) ?? "", /Lambda gave up after 3 runs: sent to .*-dlq and .*-dlq$/);
  });
});
