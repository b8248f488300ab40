import * as assert from "node:assert/strict";
import { createHmac } from "node:crypto";
import { clearCaches } from "@aws-lambda-powertools/parameters";
import { CreateTableCommand, GetItemCommand, PutItemCommand } from "@aws-sdk/client-dynamodb";
import { GetParameterCommand, ParameterNotFound, SSMClient } from "@aws-sdk/client-ssm";
import type { DynamoDBStreamEvent } from "aws-lambda";
import { mockClient } from "aws-sdk-client-mock";
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
/** As functions/orders/service.ts declares it; SSM has no local server, so its client is faked. */
const PARAMETER = "/orders/webhook-signing-key";
const SIGNING_KEY = "test-signing-key";
const receiptOf = (orderId: string) => createHmac("sha256", SIGNING_KEY).update(orderId).digest("hex");
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
  const ssm = mockClient(SSMClient);

  beforeEach(() => {
    // Every test starts with an empty Powertools cache and an SSM that holds the key.
    clearCaches();
    ssm.reset();
    ssm
      .on(GetParameterCommand, { Name: PARAMETER, WithDecryption: true })
      .resolves({ Parameter: { Name: PARAMETER, Type: "SecureString", Value: SIGNING_KEY } });
  });

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
    restore = setEnvironment({
      ...handlerEnvironment(db),
      ORDERS_TABLE_NAME: TABLE,
      WEBHOOK_KEY_PARAMETER_NAME: PARAMETER,
    });
    handler = (await import("../../../functions/orders/acknowledge")).handler;
  });

  after(() => {
    restore();
    ssm.restore();
  });

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
  const stored = async (orderId: string) =>
    (await db.client.send(new GetItemCommand({ TableName: TABLE, Key: { orderId: { S: orderId } } }))).Item;
  const acknowledgedAt = async (orderId: string) => (await stored(orderId))?.acknowledgedAt?.S;

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

  it("stores the receipt signed with the key read from SSM, decrypted", async () => {
    const image = await createOrder("ack-4");

    await handler({ Records: [insertOf(image, "600")] }, lambdaContext("orders-acknowledge"));

    assert.equal((await stored("ack-4"))?.receipt?.S, receiptOf("ack-4"));
    assert.deepEqual(ssm.commandCalls(GetParameterCommand)[0].args[0].input, {
      Name: PARAMETER,
      WithDecryption: true,
    });
  });

  it("reuses the signing key in the next invocation instead of reading SSM again (Powertools' cache)", async () => {
    const records = [
      insertOf(await createOrder("ack-5"), "700"),
      insertOf(await createOrder("ack-6"), "701"),
    ];
    await handler({ Records: records }, lambdaContext("orders-acknowledge"));
    const reads = ssm.commandCalls(GetParameterCommand).length;

    await handler({ Records: records }, lambdaContext("orders-acknowledge"));

    assert.ok(reads >= 1);
    assert.equal(ssm.commandCalls(GetParameterCommand).length, reads);
  });

  it("fails the records, acknowledging none, when the signing key's parameter does not exist", async () => {
    ssm.on(GetParameterCommand).rejects(new ParameterNotFound({ message: "not found", $metadata: {} }));
    const image = await createOrder("ack-7");

    const result = await handler(
      { Records: [insertOf(image, "800"), sample.Records[1]] },
      lambdaContext("orders-acknowledge"),
    );

    assert.deepEqual(result, { batchItemFailures: [{ itemIdentifier: "800" }] });
    assert.equal(await acknowledgedAt("ack-7"), undefined);
  });
});
