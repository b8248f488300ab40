import * as assert from "node:assert/strict";
import { CreateTableCommand, GetItemCommand, PutItemCommand } from "@aws-sdk/client-dynamodb";
import type { DynamoDBStreamEvent } from "aws-lambda";
import streamSample from "../../fixtures/events/dynamodb-stream.json";
import { lambdaContext } from "../support/api-gateway";
import {
  handlerEnvironment,
  type LocalDynamoDb,
  setEnvironment,
  sharedLocalDynamoDb,
} from "../support/local-dynamodb";

type Acknowledge = typeof import("../../../functions/orders/acknowledge").handler;

const TABLE = "orders-acknowledge-test";
const sample = streamSample as DynamoDBStreamEvent;

/** AWS's sample INSERT record, its image replaced by `image` (what the stream carries for a PutItem). */
function insertOf(image: Record<string, { S: string }>, sequenceNumber: string) {
  const [insert] = sample.Records;
  return {
    ...insert,
    dynamodb: {
      ...insert.dynamodb,
      Keys: { orderId: image.orderId },
      NewImage: image,
      SequenceNumber: sequenceNumber,
    },
  };
}

describe("orders acknowledge (stream consumer) against dynalite", () => {
  let db: LocalDynamoDb;
  let handler: Acknowledge;
  let restore: () => void;

  before(async () => {
    db = await sharedLocalDynamoDb();
    await db.client.send(
      new CreateTableCommand({
        TableName: TABLE,
        AttributeDefinitions: [{ AttributeName: "orderId", AttributeType: "S" }],
        KeySchema: [{ AttributeName: "orderId", KeyType: "HASH" }],
        BillingMode: "PAY_PER_REQUEST",
      }),
    );
    restore = setEnvironment({ ...handlerEnvironment(db), ORDERS_TABLE_NAME: TABLE });
    handler = (await import("../../../functions/orders/acknowledge")).handler;
  });

  after(() => restore());

  /** Writes an order as POST /orders does and returns its stream image. */
  const createOrder = async (orderId: string) => {
    const image = {
      orderId: { S: orderId },
      item: { S: "lamp" },
      status: { S: "placed" },
      createdAt: { S: "2026-01-01T00:00:00.000Z" },
    };
    await db.client.send(new PutItemCommand({ TableName: TABLE, Item: { ...image, quantity: { N: "1" } } }));
    return image;
  };
  const acknowledgedAt = async (orderId: string) =>
    (await db.client.send(new GetItemCommand({ TableName: TABLE, Key: { orderId: { S: orderId } } }))).Item
      ?.acknowledgedAt?.S;

  it("reports the INSERT of AWS's sample (no orderId) as the batch item failure and skips its MODIFY", async () => {
    const result = await handler(sample, lambdaContext("orders-acknowledge"));

    // For streams the item identifier is the record's sequence number: Lambda retries from it.
    assert.deepEqual(result, { batchItemFailures: [{ itemIdentifier: "111" }] });
  });

  it("acknowledges a created order and reports no failure", async () => {
    const image = await createOrder("ack-1");

    const result = await handler({ Records: [insertOf(image, "300")] }, lambdaContext("orders-acknowledge"));

    assert.deepEqual(result, { batchItemFailures: [] });
    assert.match(String(await acknowledgedAt("ack-1")), /^\d{4}-\d\d-\d\dT/);
  });

  it("keeps the first acknowledgement when a record is delivered again", async () => {
    const image = await createOrder("ack-2");
    await handler({ Records: [insertOf(image, "400")] }, lambdaContext("orders-acknowledge"));
    const first = await acknowledgedAt("ack-2");

    await handler({ Records: [insertOf(image, "400")] }, lambdaContext("orders-acknowledge"));

    assert.equal(await acknowledgedAt("ack-2"), first);
  });

  it("fails only the record of an order that is not in the table", async () => {
    const good = await createOrder("ack-3");
    const event = {
      Records: [insertOf({ ...good, orderId: { S: "missing" } }, "500"), insertOf(good, "501")],
    };

    const result = await handler(event, lambdaContext("orders-acknowledge"));

    assert.deepEqual(result, { batchItemFailures: [{ itemIdentifier: "500" }] });
    assert.ok(await acknowledgedAt("ack-3"));
  });
});
