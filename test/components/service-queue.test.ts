import * as assert from "node:assert/strict";
import { ServiceQueue } from "../../components/service-queue";
import { healthFunction, policyStatements, record, testNaming } from "../helpers/pulumi";

const QUEUE = "aws:sqs/queue:Queue";
const MAPPING = "aws:lambda/eventSourceMapping:EventSourceMapping";
const ALARM = "aws:cloudwatch/metricAlarm:MetricAlarm";

describe("ServiceQueue", () => {
  it("encrypts the queue, redrives to its dead-letter queue and sets visibility to six consumer timeouts", async () => {
    const { get } = await record(
      () =>
        new ServiceQueue("sq-basics", {
          naming: testNaming(),
          consumerTimeoutSeconds: 20,
          maxReceiveCount: 5,
        }),
    );
    const queue = get(QUEUE, "sq-basics-queue").inputs;
    const dlq = get(QUEUE, "sq-basics-dlq");
    assert.equal(queue.sqsManagedSseEnabled, true);
    assert.equal(dlq.inputs.sqsManagedSseEnabled, true);
    assert.equal(queue.visibilityTimeoutSeconds, 120);
    assert.deepEqual(JSON.parse(String(queue.redrivePolicy)), {
      deadLetterTargetArn: dlq.outputs.arn,
      maxReceiveCount: 5,
    });
  });

  it("subscribes the consumer's live alias, reporting batch item failures, with exactly the consume actions", async () => {
    const { get } = await record(() => {
      const queue = new ServiceQueue("sq-sub", { naming: testNaming(), consumerTimeoutSeconds: 10 });
      queue.subscribe(healthFunction("sq-sub-fn"), { batchSize: 5 });
      return queue;
    });
    const mapping = get(MAPPING, "sq-sub-sq-sub-fn-mapping").inputs;
    assert.equal(mapping.functionName, get("aws:lambda/alias:Alias", "sq-sub-fn-alias").outputs.arn);
    assert.deepEqual(mapping.functionResponseTypes, ["ReportBatchItemFailures"]);
    assert.equal(mapping.batchSize, 5);
    assert.deepEqual(policyStatements(get("aws:iam/rolePolicy:RolePolicy", "sq-sub-fn-sq-sub-consume")), [
      {
        Sid: "ConsumeQueue",
        Effect: "Allow",
        Action: ["sqs:DeleteMessage", "sqs:GetQueueAttributes", "sqs:ReceiveMessage"],
        Resource: [get(QUEUE, "sq-sub-queue").outputs.arn],
      },
    ]);
  });

  it("rejects a consumer that may run longer than the timeout the visibility was sized for", async () => {
    await record(() => {
      const queue = new ServiceQueue("sq-slow", { naming: testNaming(), consumerTimeoutSeconds: 5 });
      assert.throws(
        () => queue.subscribe(healthFunction("sq-slow-fn")),
        /consumer .* times out after 10 s, more than the consumerTimeoutSeconds \(5\)/,
      );
    });
  });

  /** Subscribes a fresh consumer to a fresh queue with `options`, under the mock runtime. */
  function subscribe(name: string, options: Parameters<ServiceQueue["subscribe"]>[1]) {
    const queue = new ServiceQueue(name, { naming: testNaming(), consumerTimeoutSeconds: 10 });
    return queue.subscribe(healthFunction(`${name}-fn`), options);
  }

  it("takes batches of 10 without a batching window by default", async () => {
    const { get } = await record(() => subscribe("sq-default", {}));

    const mapping = get(MAPPING, "sq-default-sq-default-fn-mapping").inputs;
    assert.equal(mapping.batchSize, 10);
    assert.equal(mapping.maximumBatchingWindowInSeconds, undefined);
  });

  it("passes a batch size above 10 with its batching window to the mapping", async () => {
    const { get } = await record(() => subscribe("sq-big", { batchSize: 500, maxBatchingWindowSeconds: 5 }));

    const mapping = get(MAPPING, "sq-big-sq-big-fn-mapping").inputs;
    assert.equal(mapping.batchSize, 500);
    assert.equal(mapping.maximumBatchingWindowInSeconds, 5);
  });

  it("rejects a batch size above 10 without a batching window of at least 1 s, as Lambda does", async () => {
    await record(() =>
      assert.throws(
        () => subscribe("sq-nowindow", { batchSize: 100 }),
        /ServiceQueue sq-nowindow: subscription of sq-nowindow-fn: maxBatchingWindowSeconds must be from 1 to 300 when batchSize is above 10 \(batchSize 100, window 0\)/,
      ),
    );
  });

  it("rejects a batch size above 10 with a batching window of 0", async () => {
    await record(() =>
      assert.throws(
        () => subscribe("sq-zerowindow", { batchSize: 11, maxBatchingWindowSeconds: 0 }),
        /maxBatchingWindowSeconds must be from 1 to 300 when batchSize is above 10 \(batchSize 11, window 0\)/,
      ),
    );
  });

  it("rejects a batch size outside 1 to 10000, naming the field and the range", async () => {
    await record(() =>
      assert.throws(
        () => subscribe("sq-zero", { batchSize: 0 }),
        /ServiceQueue sq-zero: subscription of sq-zero-fn: batchSize must be an integer from 1 to 10000 \(got 0\)/,
      ),
    );
  });

  it("rejects a batching window above 300 s, naming the field and the range", async () => {
    await record(() =>
      assert.throws(
        () => subscribe("sq-longwindow", { batchSize: 100, maxBatchingWindowSeconds: 301 }),
        /maxBatchingWindowSeconds must be an integer from 0 to 300 \(got 301\)/,
      ),
    );
  });

  it("alarms on any message in the dead-letter queue and on the oldest message's age", async () => {
    const { get } = await record(() =>
      new ServiceQueue("sq-alarms", { naming: testNaming(), consumerTimeoutSeconds: 10 }).createAlarms(
        "arn:aws:sns:us-east-1:123456789012:t",
      ),
    );
    const depth = get(ALARM, "sq-alarms-dlq-depth").inputs;
    assert.equal(depth.metricName, "ApproximateNumberOfMessagesVisible");
    assert.equal(depth.threshold, 0);
    assert.equal(get(ALARM, "sq-alarms-oldest-message").inputs.metricName, "ApproximateAgeOfOldestMessage");
  });
});
