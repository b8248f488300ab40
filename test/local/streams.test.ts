/**
 * The orders service end to end in the local cloud: a POST writes the order, the table's stream
 * hands the INSERT to the acknowledge function, which signs a receipt with the key it reads from
 * SSM (the local parameter) and writes it back; that MODIFY is skipped, as on AWS.
 */
import { strict as assert } from "node:assert";
import { createHmac } from "node:crypto";
import * as fs from "node:fs";
import {
  CreateTableCommand,
  DynamoDBClient,
  GetItemCommand,
  PutItemCommand,
  UpdateItemCommand,
} from "@aws-sdk/client-dynamodb";
import { LocalCloud } from "../../automation/local/cloud";
import type { InvokeResult } from "../../automation/local/functions";
import { LocalQueues } from "../../automation/local/queues";
import { LocalStreams } from "../../automation/local/streams";
import { LOCAL_CREDENTIALS, type LocalDynamoDb, startDynamoDb } from "../../automation/local/tables";
import { placeOrder } from "./support";

const SIGNING_KEY = "local-signing-key-for-tests";

describe("local DynamoDB streams and their consumers", function () {
  this.timeout(120_000);
  let cloud: LocalCloud;

  before(async () => {
    cloud = await LocalCloud.start({
      stack: "dev",
      inMemory: true,
      parameters: { "/orders/webhook-signing-key": SIGNING_KEY },
    });
  });
  after(async () => cloud?.close());

  it("reads the plan's stream mapping with its retry limit and on-failure queue", () => {
    const mapping = cloud.model.streamMappings.find((m) => m.tableName === "platform-dev-orders-table");
    assert.equal(mapping?.functionName, "platform-dev-orders-acknowledge");
    assert.ok(mapping?.onFailureQueueName?.endsWith("-stream-failures"));
    assert.equal(mapping?.reportBatchItemFailures, true);
  });

  it("acknowledges a created order with a receipt signed by the SSM key, through the table's stream", async () => {
    const orderId = await placeOrder(cloud, { item: "widget", quantity: 1 });
    await cloud.streams.deliver();
    const { Item } = await cloud.dynamoDb.client.send(
      new GetItemCommand({ TableName: "platform-dev-orders-table", Key: { orderId: { S: orderId } } }),
    );
    assert.ok(Item?.acknowledgedAt?.S, "the order was not acknowledged");
    assert.equal(Item?.receipt?.S, createHmac("sha256", SIGNING_KEY).update(orderId).digest("hex"));
    assert.equal(
      cloud.streams.backlog("platform-dev-orders-table"),
      0,
      "the consumer's own MODIFY was delivered and skipped",
    );
  });

  it("sends a batch whose retries are spent to the mapping's on-failure queue", async () => {
    const mapping = cloud.model.streamMappings[0];
    const failures = mapping.onFailureQueueName ?? "";
    const before = cloud.queues.depth(failures);
    // An order without its signing key cannot be acknowledged: every attempt fails the record.
    const withoutKey = await LocalCloud.start({
      stack: "dev",
      inMemory: true,
      dataDir: `${cloud.dataDir}-nokey`,
    });
    try {
      await placeOrder(withoutKey, { item: "gadget", quantity: 3 });
      await withoutKey.streams.deliver();
      assert.equal(withoutKey.streams.backlog("platform-dev-orders-table"), 0);
      assert.equal(withoutKey.queues.depth(failures), 1, "the failed batch is on the on-failure queue");
    } finally {
      await withoutKey.close();
      fs.rmSync(withoutKey.dataDir, { recursive: true, force: true });
    }
    assert.equal(cloud.queues.depth(failures), before);
  });
});

describe("local DynamoDB streams: when a write's record exists", function () {
  this.timeout(30_000);
  const TABLE = "orders";
  const AUDIT = "audit";
  const mappingOf = (tableName: string, functionName: string) => ({
    eventSourceArn: `arn:aws:dynamodb:eu-west-1:123456789012:table/${tableName}/stream/2026-01-01T00:00:00.000`,
    tableName,
    functionName,
    batchSize: 10,
    reportBatchItemFailures: true,
    maximumRetryAttempts: 2,
  });
  let dynamoDb: LocalDynamoDb;
  let streams: LocalStreams;
  let writer: DynamoDBClient;
  let invoke: (functionName: string, event: unknown) => Promise<InvokeResult>;
  const ok = (payload: unknown): InvokeResult => ({
    functionName: "acknowledge",
    requestId: "r",
    payload: JSON.stringify(payload),
    timedOut: false,
    durationMs: 1,
    cold: false,
    logs: [],
  });

  beforeEach(async () => {
    dynamoDb = await startDynamoDb({ region: "eu-west-1" });
    for (const TableName of [TABLE, AUDIT])
      await dynamoDb.client.send(
        new CreateTableCommand({
          TableName,
          KeySchema: [{ AttributeName: "orderId", KeyType: "HASH" }],
          AttributeDefinitions: [{ AttributeName: "orderId", AttributeType: "S" }],
          BillingMode: "PAY_PER_REQUEST",
        }),
      );
    streams = new LocalStreams(
      dynamoDb.endpoint,
      (name, event) => invoke(name, event),
      new LocalQueues(
        async () => ok(null),
        () => "http://127.0.0.1:1",
        "eu-west-1",
        "123456789012",
      ),
      "eu-west-1",
    );
    streams.apply(
      [TABLE, AUDIT].map((name) => ({
        name,
        hashKey: "orderId",
        attributes: [],
        globalSecondaryIndexes: [],
        streamViewType: "NEW_AND_OLD_IMAGES",
      })),
      [mappingOf(TABLE, "acknowledge"), mappingOf(AUDIT, "auditor")],
    );
    writer = new DynamoDBClient({
      endpoint: await streams.listen(),
      region: "eu-west-1",
      credentials: LOCAL_CREDENTIALS,
    });
  });
  afterEach(async () => {
    writer.destroy();
    await streams.close();
    await dynamoDb.close();
  });

  it("holds a write's record before the writer gets its answer", async () => {
    let release: () => void = () => {};
    const held = new Promise<void>((resolve) => {
      release = resolve;
    });
    invoke = async () => {
      await held; // the consumer has not finished: nothing has been taken off the stream
      return ok({ batchItemFailures: [] });
    };
    await writer.send(new PutItemCommand({ TableName: TABLE, Item: { orderId: { S: "o-1" } } }));
    assert.equal(streams.backlog(TABLE), 1, "the INSERT is on the stream when PutItem returns");
    release();
    await streams.deliver();
    assert.equal(streams.backlog(TABLE), 0);
  });

  it("delivers the records a consumer writes to its own table before deliver() settles", async () => {
    const seen: string[] = [];
    invoke = async (_name, event) => {
      for (const record of (event as { Records: { eventName: string }[] }).Records) {
        seen.push(record.eventName);
        if (record.eventName === "INSERT")
          await writer.send(
            new UpdateItemCommand({
              TableName: TABLE,
              Key: { orderId: { S: "o-2" } },
              UpdateExpression: "SET acknowledged = :t",
              ExpressionAttributeValues: { ":t": { BOOL: true } },
            }),
          );
      }
      return ok({ batchItemFailures: [] });
    };
    await writer.send(new PutItemCommand({ TableName: TABLE, Item: { orderId: { S: "o-2" } } }));
    await streams.deliver();
    assert.deepEqual(seen, ["INSERT", "MODIFY"]);
    assert.equal(streams.backlog(TABLE), 0);
  });

  it("delivers a write made during a round to a table the round had passed, before deliver() settles", async () => {
    const seen: string[] = [];
    invoke = async (name, event) => {
      for (const record of (event as { Records: { eventName: string }[] }).Records) {
        seen.push(`${name} ${record.eventName}`);
        // The auditor writes the orders table, which comes before its own in the round.
        if (name === "auditor")
          await writer.send(new PutItemCommand({ TableName: TABLE, Item: { orderId: { S: "from-audit" } } }));
      }
      return ok({ batchItemFailures: [] });
    };
    await writer.send(new PutItemCommand({ TableName: TABLE, Item: { orderId: { S: "o-3" } } }));
    await streams.deliver();
    seen.length = 0;
    await writer.send(new PutItemCommand({ TableName: AUDIT, Item: { orderId: { S: "a-1" } } }));
    await streams.deliver();
    assert.deepEqual(seen, ["auditor INSERT", "acknowledge INSERT"]);
    assert.equal(streams.backlog(TABLE), 0);
  });

  it("ends a round whose consumer writes its own table on every record, warning of the loop", async () => {
    let runs = 0;
    invoke = async () => {
      runs += 1;
      await writer.send(
        new UpdateItemCommand({
          TableName: TABLE,
          Key: { orderId: { S: "o-loop" } },
          UpdateExpression: "ADD seen :one",
          ExpressionAttributeValues: { ":one": { N: "1" } },
        }),
      );
      return ok({ batchItemFailures: [] });
    };
    const warnings: string[] = [];
    const onWarning = (warning: Error) => warnings.push(warning.message);
    process.on("warning", onWarning);
    try {
      await writer.send(new PutItemCommand({ TableName: TABLE, Item: { orderId: { S: "o-loop" } } }));
      await streams.deliver();
      await new Promise((resolve) => setImmediate(resolve));
      assert.ok(runs >= 10, `the consumer ran ${runs} times`);
      assert.ok(
        warnings.some((w) => /acknowledge keeps writing table orders/.test(w)),
        warnings.join("\n"),
      );
    } finally {
      invoke = async () => ok({ batchItemFailures: [] });
      process.off("warning", onWarning);
    }
  });

  it("records concurrent writes to one item one by one, each with the images of its own write", async () => {
    invoke = () => new Promise<InvokeResult>(() => {}); // the consumer holds the records
    await Promise.all(
      Array.from({ length: 10 }, () =>
        writer.send(
          new UpdateItemCommand({
            TableName: TABLE,
            Key: { orderId: { S: "o-count" } },
            UpdateExpression: "ADD n :one",
            ExpressionAttributeValues: { ":one": { N: "1" } },
          }),
        ),
      ),
    );
    const records = streams.pendingRecords(TABLE) as {
      eventName: string;
      dynamodb: { OldImage?: { n: { N: string } }; NewImage: { n: { N: string } } };
    }[];
    assert.deepEqual(
      records.map((r) => `${r.eventName} ${r.dynamodb.OldImage?.n.N ?? "-"}->${r.dynamodb.NewImage.n.N}`),
      ["INSERT -->1", ...Array.from({ length: 9 }, (_, i) => `MODIFY ${i + 1}->${i + 2}`)],
    );
  });

  it("keeps the records and warns when the consumer cannot be invoked, without an unhandled rejection", async () => {
    invoke = async () => {
      throw new Error("function acknowledge is not running");
    };
    let onWarning: (warning: Error) => void = () => {};
    const warned = new Promise<Error>((resolve) => {
      onWarning = (warning) => {
        if (/local DynamoDB streams/.test(warning.message)) resolve(warning);
      };
      process.on("warning", onWarning);
    });
    try {
      await writer.send(new PutItemCommand({ TableName: TABLE, Item: { orderId: { S: "o-4" } } }));
      assert.match((await warned).message, /function acknowledge is not running/);
      assert.equal(streams.backlog(TABLE), 1);
    } finally {
      process.off("warning", onWarning);
    }
  });
});
