import * as assert from "node:assert/strict";
import { DataTable } from "../../components/data-table";
import { StreamSubscription } from "../../components/service-stream";
import { healthFunction, policyStatements, record, testNaming } from "../helpers/pulumi";

const ALARM = "aws:cloudwatch/metricAlarm:MetricAlarm";
const MAPPING = "aws:lambda/eventSourceMapping:EventSourceMapping";
const QUEUE = "aws:sqs/queue:Queue";
const TABLE = "aws:dynamodb/table:Table";

/** A table with a stream and a subscription of a function to it. */
function subscription(
  name: string,
  overrides: Partial<ConstructorParameters<typeof StreamSubscription>[1]> = {},
) {
  const naming = testNaming();
  const table = new DataTable(`${name}-t`, {
    naming,
    hashKey: { name: "id", type: "S" },
    stream: "NEW_IMAGE",
  });
  return new StreamSubscription(name, {
    naming,
    table,
    consumer: healthFunction(`${name}-fn`),
    ...overrides,
  });
}

describe("StreamSubscription", () => {
  it("maps the table's stream to the consumer's live alias", async () => {
    const { get } = await record(() => subscription("ss-alias"));

    const mapping = get(MAPPING, "ss-alias-mapping").inputs;
    assert.equal(mapping.eventSourceArn, get(TABLE, "ss-alias-t-table").outputs.streamArn);
    assert.equal(mapping.functionName, get("aws:lambda/alias:Alias", "ss-alias-fn-alias").outputs.arn);
  });

  it("starts at the oldest record the stream keeps (TRIM_HORIZON) by default, so writes made while the mapping is created are delivered", async () => {
    const { get } = await record(() => subscription("ss-start"));

    assert.equal(get(MAPPING, "ss-start-mapping").inputs.startingPosition, "TRIM_HORIZON");
  });

  it("starts at LATEST when asked to", async () => {
    const { get } = await record(() => subscription("ss-latest", { startingPosition: "LATEST" }));

    assert.equal(get(MAPPING, "ss-latest-mapping").inputs.startingPosition, "LATEST");
  });

  it("rejects a starting position DynamoDB streams do not have, naming the allowed ones", async () => {
    await record(() =>
      assert.throws(
        () => subscription("ss-at", { startingPosition: "AT_TIMESTAMP" as never }),
        /StreamSubscription ss-at: startingPosition must be TRIM_HORIZON or LATEST \(got "AT_TIMESTAMP"\)/,
      ),
    );
  });

  it("rejects a batch size above 10000, naming the field and the range", async () => {
    await record(() =>
      assert.throws(
        () => subscription("ss-big", { batchSize: 10001 }),
        /StreamSubscription ss-big: batchSize must be an integer from 1 to 10000 \(got 10001\)/,
      ),
    );
  });

  it("bisects failing batches, bounds retries and record age, and reports failed records alone", async () => {
    const { get } = await record(() =>
      subscription("ss-fail", { maximumRetryAttempts: 5, maximumRecordAgeSeconds: 600 }),
    );

    const mapping = get(MAPPING, "ss-fail-mapping").inputs;
    assert.equal(mapping.bisectBatchOnFunctionError, true);
    assert.equal(mapping.maximumRetryAttempts, 5);
    assert.equal(mapping.maximumRecordAgeInSeconds, 600);
    assert.deepEqual(mapping.functionResponseTypes, ["ReportBatchItemFailures"]);
  });

  it("sends what it gives up on to an encrypted failure queue", async () => {
    const { get } = await record(() => subscription("ss-dest"));

    const queue = get(QUEUE, "ss-dest-failures");
    assert.equal(queue.inputs.sqsManagedSseEnabled, true);
    assert.deepEqual(get(MAPPING, "ss-dest-mapping").inputs.destinationConfig, {
      onFailure: { destinationArn: queue.outputs.arn },
    });
  });

  it("grants the stream reads on this stream, ListStreams on the table's streams and SendMessage on the failure queue", async () => {
    const { get } = await record(() => subscription("ss-grant"));

    const table = get(TABLE, "ss-grant-t-table").outputs;
    assert.deepEqual(policyStatements(get("aws:iam/rolePolicy:RolePolicy", "ss-grant-fn-ss-grant-read")), [
      {
        Sid: "ReadStream",
        Effect: "Allow",
        Action: ["dynamodb:DescribeStream", "dynamodb:GetRecords", "dynamodb:GetShardIterator"],
        Resource: [table.streamArn],
      },
      {
        Sid: "ListTableStreams",
        Effect: "Allow",
        Action: ["dynamodb:ListStreams"],
        Resource: [`${table.arn}/stream/*`],
      },
      {
        Sid: "SendFailedRecords",
        Effect: "Allow",
        Action: ["sqs:SendMessage"],
        Resource: [get(QUEUE, "ss-grant-failures").outputs.arn],
      },
    ]);
  });

  it("alarms on any record in the failure queue", async () => {
    const { get } = await record(() =>
      subscription("ss-alarm").createAlarms("arn:aws:sns:us-east-1:123456789012:t"),
    );

    const alarm = get("aws:cloudwatch/metricAlarm:MetricAlarm", "ss-alarm-failures-depth").inputs;
    assert.equal(alarm.metricName, "ApproximateNumberOfMessagesVisible");
    assert.equal(alarm.threshold, 0);
    assert.deepEqual(alarm.alarmActions, ["arn:aws:sns:us-east-1:123456789012:t"]);
  });

  it("rejects unbounded retries (-1), naming the field and the allowed range", async () => {
    await record(() =>
      assert.throws(
        () => subscription("ss-bad", { maximumRetryAttempts: -1 }),
        /StreamSubscription ss-bad: maximumRetryAttempts must be an integer from 0 to 10000 \(got -1\)/,
      ),
    );
  });

  it("alarms when Lambda cannot send a failed batch to the failure queue", async () => {
    const { get } = await record(() =>
      subscription("ss-dest").createAlarms("arn:aws:sns:us-east-1:123456789012:t"),
    );
    const alarm = get(ALARM, "ss-dest-destination-failures").inputs;
    assert.deepEqual(
      [alarm.namespace, alarm.metricName, alarm.statistic, alarm.comparisonOperator, alarm.threshold],
      ["AWS/Lambda", "DestinationDeliveryFailures", "Sum", "GreaterThanThreshold", 0],
    );
    assert.deepEqual(alarm.dimensions, {
      FunctionName: get("aws:lambda/function:Function", "ss-dest-fn-function").inputs.name,
    });
    assert.deepEqual(alarm.alarmActions, ["arn:aws:sns:us-east-1:123456789012:t"]);
  });
});
