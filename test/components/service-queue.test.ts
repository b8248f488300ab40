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
