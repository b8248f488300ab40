import * as assert from "node:assert/strict";
import { CreateTableCommand, ScanCommand } from "@aws-sdk/client-dynamodb";
import type { SQSEvent } from "aws-lambda";
import sqsBatch from "../../fixtures/events/sqs-batch.json";
import { apiGatewayEvent, jsonBody, lambdaContext } from "../support/api-gateway";
import {
  handlerEnvironment,
  type LocalDynamoDb,
  setEnvironment,
  sharedLocalDynamoDb,
} from "../support/local-dynamodb";

type OrdersModules = {
  create: typeof import("../../../functions/orders/create").handler;
  get: typeof import("../../../functions/orders/get").handler;
  fulfil: typeof import("../../../functions/orders/fulfil").handler;
};

/** The orders and idempotency tables as the platform declares them (functions/orders/service.ts, IDEMPOTENCY_TABLE). */
async function createTables(db: LocalDynamoDb): Promise<{ orders: string; idempotency: string }> {
  const names = { orders: "orders-test", idempotency: "orders-idempotency-test" };
  for (const [table, key] of [
    [names.orders, "orderId"],
    [names.idempotency, "id"],
  ]) {
    await db.client.send(
      new CreateTableCommand({
        TableName: table,
        AttributeDefinitions: [{ AttributeName: key, AttributeType: "S" }],
        KeySchema: [{ AttributeName: key, KeyType: "HASH" }],
        BillingMode: "PAY_PER_REQUEST",
      }),
    );
  }
  return names;
}

describe("orders handlers against dynalite", () => {
  let db: LocalDynamoDb;
  let tables: { orders: string; idempotency: string };
  let handlers: OrdersModules;
  let restore: () => void;

  before(async () => {
    db = await sharedLocalDynamoDb();
    tables = await createTables(db);
    // Set before the import: the modules make their SDK clients and persistence layer at load.
    restore = setEnvironment({
      ...handlerEnvironment(db),
      ORDERS_TABLE_NAME: tables.orders,
      IDEMPOTENCY_TABLE_NAME: tables.idempotency,
    });
    handlers = {
      create: (await import("../../../functions/orders/create")).handler,
      get: (await import("../../../functions/orders/get")).handler,
      fulfil: (await import("../../../functions/orders/fulfil")).handler,
    };
  });

  after(() => restore());

  const post = (body: unknown, headers: Record<string, string> = {}) => {
    const event = apiGatewayEvent({ httpMethod: "POST", resource: "/orders", body: JSON.stringify(body) });
    event.headers = { ...event.headers, ...headers };
    return handlers.create(event, lambdaContext("orders-create"));
  };
  const count = async () => (await db.client.send(new ScanCommand({ TableName: tables.orders }))).Count;

  it("answers a POST retried with the same Idempotency-Key with the same order, and creates one", async () => {
    const before = await count();
    const first = await post({ item: "lamp", quantity: 2 }, { "Idempotency-Key": "retry-1" });
    const retry = await post({ item: "lamp", quantity: 2 }, { "idempotency-key": "retry-1" });

    assert.equal(first.statusCode, 201);
    assert.deepEqual(jsonBody(retry), jsonBody(first));
    assert.equal(retry.statusCode, 201);
    assert.equal(await count(), (before ?? 0) + 1);
  });

  it("creates two orders for two Idempotency-Keys", async () => {
    const a = jsonBody(await post({ item: "desk", quantity: 1 }, { "Idempotency-Key": "key-a" })) as {
      orderId: string;
    };
    const b = jsonBody(await post({ item: "desk", quantity: 1 }, { "Idempotency-Key": "key-b" })) as {
      orderId: string;
    };
    assert.notEqual(a.orderId, b.orderId);
  });

  it("rejects an invalid body with a 400 before any write", async () => {
    const before = await count();
    const result = await post({});
    assert.equal(result.statusCode, 400);
    assert.match(String((jsonBody(result) as { message: string }).message), /item is required/);
    assert.equal(await count(), before);
  });

  it("reports the poison messages of AWS's sample batch as batch item failures", async () => {
    const result = await handlers
      .fulfil(sqsBatch as SQSEvent, lambdaContext("orders-fulfil"))
      .catch((error: Error) => error);
    // Every record failed: Powertools fails the whole invocation so that SQS retries the batch.
    assert.ok(result instanceof Error);
    assert.match(result.message, /All records failed processing/);
  });

  it("fulfils the good message of a batch and reports only the poison one as failed", async () => {
    const order = jsonBody(await post({ item: "chair", quantity: 4 }, { "Idempotency-Key": "fulfil-1" })) as {
      orderId: string;
    };
    const [poison, good] = (sqsBatch as SQSEvent).Records;
    const event: SQSEvent = {
      Records: [poison, { ...good, body: JSON.stringify({ orderId: order.orderId }) }],
    };

    const result = await handlers.fulfil(event, lambdaContext("orders-fulfil"));

    assert.deepEqual(result, { batchItemFailures: [{ itemIdentifier: poison.messageId }] });
    const fetched = await handlers.get(
      apiGatewayEvent({
        httpMethod: "GET",
        resource: "/orders/{orderId}",
        pathParameters: { orderId: order.orderId },
      }),
      lambdaContext("orders-get"),
    );
    assert.equal((jsonBody(fetched) as { status: string }).status, "fulfilled");
  });

  it("answers 404 for an order that does not exist", async () => {
    const result = await handlers.get(
      apiGatewayEvent({
        httpMethod: "GET",
        resource: "/orders/{orderId}",
        pathParameters: { orderId: "__smoke__" },
      }),
      lambdaContext("orders-get"),
    );
    assert.equal(result.statusCode, 404);
  });
});
