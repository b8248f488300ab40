import * as assert from "node:assert/strict";
import { CreateTableCommand, ScanCommand } from "@aws-sdk/client-dynamodb";
import { DynamoDBDocumentClient, GetCommand } from "@aws-sdk/lib-dynamodb";
import type {
  APIGatewayEventIdentity,
  APIGatewayProxyEvent,
  APIGatewayProxyResult,
  SQSEvent,
} from "aws-lambda";
import { type AwsClientStub, mockClient } from "aws-sdk-client-mock";
import iamAuthEvent from "../../fixtures/events/apigw-rest-iam-auth.json";
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

  const post = (
    body: unknown,
    headers: Record<string, string> = {},
    identity: Partial<APIGatewayEventIdentity> = {},
  ) => {
    const event = apiGatewayEvent({ httpMethod: "POST", resource: "/orders", body: JSON.stringify(body) });
    event.headers = { ...event.headers, ...headers };
    event.requestContext.identity = { ...event.requestContext.identity, ...identity };
    return handlers.create(event, lambdaContext("orders-create"));
  };
  const orderIdOf = (result: APIGatewayProxyResult) => (jsonBody(result) as { orderId: string }).orderId;
  // Two IAM principals of the same account, as API Gateway names them in identity.userArn.
  const alice = { userArn: "arn:aws:sts::123456789012:assumed-role/shop/alice" };
  const bob = { userArn: "arn:aws:sts::123456789012:assumed-role/shop/bob" };
  const anonymous = { userArn: null, accessKey: null, caller: null, user: null, accountId: null };
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

  it("answers the same caller's retry without an Idempotency-Key, same body, with the same order", async () => {
    const first = await post({ item: "stool", quantity: 1 }, {}, alice);
    const retry = await post({ item: "stool", quantity: 1 }, {}, alice);

    assert.equal(first.statusCode, 201);
    assert.equal(orderIdOf(retry), orderIdOf(first));
  });

  it("creates one order per caller when two callers send the same body without an Idempotency-Key", async () => {
    const before = await count();

    const ofAlice = await post({ item: "kettle", quantity: 3 }, {}, alice);
    const ofBob = await post({ item: "kettle", quantity: 3 }, {}, bob);

    assert.equal(ofAlice.statusCode, 201);
    assert.equal(ofBob.statusCode, 201);
    assert.notEqual(orderIdOf(ofBob), orderIdOf(ofAlice));
    assert.equal(await count(), (before ?? 0) + 2);
  });

  it("creates one order per caller when two callers send the same Idempotency-Key", async () => {
    const ofAlice = await post({ item: "mug", quantity: 1 }, { "Idempotency-Key": "shared-key" }, alice);
    const ofBob = await post({ item: "mug", quantity: 1 }, { "Idempotency-Key": "shared-key" }, bob);

    assert.notEqual(orderIdOf(ofBob), orderIdOf(ofAlice));
  });

  it("scopes an API key caller by the key's id", async () => {
    const viaKeyA = await post({ item: "rug", quantity: 1 }, {}, { ...anonymous, apiKeyId: "key-a" });
    const viaKeyB = await post({ item: "rug", quantity: 1 }, {}, { ...anonymous, apiKeyId: "key-b" });
    const retryViaKeyA = await post({ item: "rug", quantity: 1 }, {}, { ...anonymous, apiKeyId: "key-a" });

    assert.notEqual(orderIdOf(viaKeyB), orderIdOf(viaKeyA));
    assert.equal(orderIdOf(retryViaKeyA), orderIdOf(viaKeyA));
  });

  it("creates an order per request from an unauthenticated caller without an Idempotency-Key", async () => {
    const first = await post({ item: "vase", quantity: 1 }, {}, anonymous);
    const second = await post({ item: "vase", quantity: 1 }, {}, anonymous);

    assert.equal(second.statusCode, 201);
    assert.notEqual(orderIdOf(second), orderIdOf(first));
  });

  it("answers 422 naming Idempotency-Key when the same caller reuses a key with another body, and creates nothing", async () => {
    await post({ item: "sofa", quantity: 1 }, { "Idempotency-Key": "reused-1" }, alice);
    const before = await count();

    const reused = await post({ item: "sofa", quantity: 2 }, { "Idempotency-Key": "reused-1" }, alice);

    assert.equal(reused.statusCode, 422);
    assert.match(
      (jsonBody(reused) as { message: string }).message,
      /^Header Idempotency-Key was already used/,
    );
    assert.equal(await count(), before);
  });

  it("answers the same caller's same key and same body with the same order after a refused reuse", async () => {
    const first = await post({ item: "bench", quantity: 2 }, { "Idempotency-Key": "reused-2" }, alice);
    await post({ item: "bench", quantity: 5 }, { "Idempotency-Key": "reused-2" }, alice);

    const retry = await post({ item: "bench", quantity: 2 }, { "Idempotency-Key": "reused-2" }, alice);

    assert.equal(retry.statusCode, 201);
    assert.deepEqual(jsonBody(retry), jsonBody(first));
  });

  it("answers with a Location that keeps the stage, from a captured API Gateway event", async () => {
    const event = structuredClone(iamAuthEvent) as unknown as APIGatewayProxyEvent;
    event.resource = "/orders";
    event.path = "/orders";
    event.requestContext.resourcePath = "/orders";
    event.requestContext.path = `/${event.requestContext.stage}/orders`;
    event.body = JSON.stringify({ item: "shelf", quantity: 1 });

    const result = await handlers.create(event, lambdaContext("orders-create"));

    assert.equal(result.statusCode, 201);
    assert.equal(result.headers?.Location, `/prod/orders/${orderIdOf(result)}`);
  });

  it("falls back to /orders/<id> for an event without requestContext.path", async () => {
    const event = apiGatewayEvent({
      httpMethod: "POST",
      resource: "/orders",
      body: JSON.stringify({ item: "crate", quantity: 1 }),
    });
    (event.requestContext as { path?: string }).path = undefined;

    const result = await handlers.create(event, lambdaContext("orders-create"));

    assert.equal(result.headers?.Location, `/orders/${orderIdOf(result)}`);
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

  describe("GET /orders/{orderId}", () => {
    // dynalite is always consistent, so the test looks at the request the handler sends. Stubbed in
    // the hook, not at load: the stub replaces send() for every document client in the process.
    let documentClient: AwsClientStub<DynamoDBDocumentClient>;

    before(() => {
      documentClient = mockClient(DynamoDBDocumentClient);
    });
    after(() => documentClient.restore());

    it("reads the order with a strongly consistent GetItem", async () => {
      documentClient.on(GetCommand).resolves({ Item: { orderId: "o-1", item: "lamp", quantity: 1 } });

      const result = await handlers.get(
        apiGatewayEvent({
          httpMethod: "GET",
          resource: "/orders/{orderId}",
          pathParameters: { orderId: "o-1" },
        }),
        lambdaContext("orders-get"),
      );

      assert.equal(result.statusCode, 200);
      assert.equal(documentClient.commandCalls(GetCommand)[0].args[0].input.ConsistentRead, true);
    });
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
