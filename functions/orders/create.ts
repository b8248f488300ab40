import { randomUUID } from "node:crypto";
import {
  IdempotencyAlreadyInProgressError,
  IdempotencyConfig,
  IdempotencyValidationError,
  makeIdempotent,
} from "@aws-lambda-powertools/idempotency";
import { DynamoDBPersistenceLayer } from "@aws-lambda-powertools/idempotency/dynamodb";
import type { APIGatewayProxyEvent } from "aws-lambda";
import { apiHandler } from "../shared/handler";
import { createdLocation, HttpError, json, parseJsonObjectBody } from "../shared/http";
import { type NewOrder, type Order, putOrder } from "./table";
import { idempotencyKeyHeader, parseNewOrder } from "./validation";

/**
 * What Powertools keys a request by (`scope`, hashed into the record's id) and what it checks a
 * reused key against (`order`). The caller is part of the key: two callers never share a record.
 */
interface CreateRequest {
  scope: { caller: string; idempotencyKey: string } | { caller: string; body: NewOrder };
  order: NewOrder;
}

// Module level: one persistence client per container. The platform creates the table (TTL on `expiration`).
const persistenceStore = new DynamoDBPersistenceLayer({
  tableName: process.env.IDEMPOTENCY_TABLE_NAME ?? "",
});
// A retry within an hour gets the first answer; records expire after it (the table's TTL deletes them).
// Payload validation: a key reused with another body is refused (IdempotencyValidationError), not
// answered with the first order as if it were this one.
const config = new IdempotencyConfig({
  eventKeyJmesPath: "scope",
  payloadValidationJmesPath: "order",
  expiresAfterSeconds: 3600,
});

async function placeOrder(order: NewOrder): Promise<Order> {
  const placed: Order = {
    ...order,
    orderId: randomUUID(),
    status: "placed",
    createdAt: new Date().toISOString(),
  };
  await putOrder(placed);
  return placed;
}

const placeOnce = makeIdempotent(
  async (request: CreateRequest): Promise<Order> => placeOrder(request.order),
  {
    persistenceStore,
    config,
  },
);

/**
 * Who is ordering, as API Gateway authenticated them: the IAM principal (`identity.userArn`, an
 * assumed role's ARN includes its session name) on an `iam` route, else the API key's id on an
 * `apiKey` route. Undefined on a `public` route, or for an event without them.
 */
function callerOf(event: APIGatewayProxyEvent): string | undefined {
  const context: unknown = event.requestContext;
  const identity: unknown =
    typeof context === "object" && context !== null
      ? (context as { identity?: unknown }).identity
      : undefined;
  if (typeof identity !== "object" || identity === null) return undefined;
  const { userArn, apiKeyId } = identity as { userArn?: unknown; apiKeyId?: unknown };
  if (typeof userArn === "string" && userArn !== "") return `iam:${userArn}`;
  if (typeof apiKeyId === "string" && apiKeyId !== "") return `apiKey:${apiKeyId}`;
  return undefined;
}

/**
 * POST /orders, idempotent per caller for an hour:
 * - with an `Idempotency-Key` header, the same caller sending the same key and body gets the first
 *   order again and creates nothing; the same key with another body is a 422.
 * - without one, the same caller sending the same body gets the first order again (a retry by a
 *   client that sends no key must not order twice); a caller that wants two identical orders within
 *   the hour sends two keys. Another caller's identical order is a separate order.
 * - on a route with no authentication (no caller to scope by), the key is shared by every anonymous
 *   caller (so it must be unguessable, a UUID), and a request without one always creates an order:
 *   merging strangers' orders by body would hand one the other's order.
 */
export const handler = apiHandler(async (event, context) => {
  const order = parseNewOrder(parseJsonObjectBody(event));
  const idempotencyKey = idempotencyKeyHeader(event.headers);
  const caller = callerOf(event);
  // Lets Powertools expire an in-progress record when this invocation times out.
  config.registerLambdaContext(context);
  let created: Order;
  try {
    if (idempotencyKey !== undefined) {
      created = await placeOnce({ scope: { caller: caller ?? "anonymous", idempotencyKey }, order });
    } else if (caller !== undefined) {
      created = await placeOnce({ scope: { caller, body: order }, order });
    } else {
      created = await placeOrder(order);
    }
  } catch (error) {
    if (error instanceof IdempotencyAlreadyInProgressError) {
      throw new HttpError(
        409,
        "The same order request (same Idempotency-Key, or same body without one) is in progress; retry shortly",
      );
    }
    if (error instanceof IdempotencyValidationError) {
      throw new HttpError(
        422,
        "Header Idempotency-Key was already used within the hour for a different order (item, quantity): send a new key for a new order",
      );
    }
    throw error;
  }
  return json(201, created, { Location: createdLocation(event, created.orderId, "/orders") });
});
