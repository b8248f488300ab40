import * as assert from "node:assert/strict";
import { CreateTableCommand, GetItemCommand, PutItemCommand } from "@aws-sdk/client-dynamodb";
import { lambdaContext } from "../support/api-gateway";
import {
  handlerEnvironment,
  type LocalDynamoDb,
  setEnvironment,
  sharedLocalDynamoDb,
} from "../support/local-dynamodb";

type Reconcile = typeof import("../../../functions/orders/reconcile").handler;

const TABLE = "orders-reconcile-test";
const HOUR = 3600 * 1000;

describe("orders reconcile (scheduled) against dynalite", () => {
  let db: LocalDynamoDb;
  let handler: Reconcile;
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
    handler = (await import("../../../functions/orders/reconcile")).handler;
  });

  after(() => restore());

  const putOrder = (orderId: string, status: string, ageMs: number) =>
    db.client.send(
      new PutItemCommand({
        TableName: TABLE,
        Item: {
          orderId: { S: orderId },
          item: { S: "lamp" },
          quantity: { N: "1" },
          status: { S: status },
          createdAt: { S: new Date(Date.now() - ageMs).toISOString() },
        },
      }),
    );
  const overdue = async (orderId: string) =>
    (await db.client.send(new GetItemCommand({ TableName: TABLE, Key: { orderId: { S: orderId } } }))).Item
      ?.overdue?.BOOL;

  it("flags placed orders older than a day and leaves recent and fulfilled ones alone", async () => {
    await putOrder("old-placed", "placed", 25 * HOUR);
    await putOrder("new-placed", "placed", 1 * HOUR);
    await putOrder("old-fulfilled", "fulfilled", 48 * HOUR);

    const result = await handler({}, lambdaContext("orders-reconcile"));

    assert.deepEqual(result, { overdue: ["old-placed"] });
    assert.equal(await overdue("old-placed"), true);
    assert.equal(await overdue("new-placed"), undefined);
    assert.equal(await overdue("old-fulfilled"), undefined);
  });

  it("flags an order once: the next run finds nothing new", async () => {
    await putOrder("old-twice", "placed", 30 * HOUR);
    await handler({}, lambdaContext("orders-reconcile"));

    const second = await handler({}, lambdaContext("orders-reconcile"));

    assert.deepEqual(second, { overdue: [] });
  });
});
