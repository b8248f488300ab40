import { randomUUID } from "node:crypto";
import {
  IdempotencyAlreadyInProgressError,
  IdempotencyConfig,
  makeIdempotent,
} from "@aws-lambda-powertools/idempotency";
import { DynamoDBPersistenceLayer } from "@aws-lambda-powertools/idempotency/dynamodb";
import { apiHandler } from "../shared/handler";
import { HttpError, json, parseJsonObjectBody } from "../shared/http";
import { type NewOrder, type Order, putOrder } from "./table";
import { idempotencyKeyHeader, parseNewOrder } from "./validation";

// Module level: one persistence client per container. The platform creates the table (TTL on `expiration`).
const persistenceStore = new DynamoDBPersistenceLayer({
  tableName: process.env.IDEMPOTENCY_TABLE_NAME ?? "",
});
// A retry within an hour gets the first answer; records expire after it (the table's TTL deletes them).
const config = new IdempotencyConfig({ eventKeyJmesPath: "key", expiresAfterSeconds: 3600 });

const createOnce = makeIdempotent(
  async (request: { key: string; order: NewOrder }): Promise<Order> => {
    const order: Order = {
      ...request.order,
      orderId: randomUUID(),
      status: "placed",
      createdAt: new Date().toISOString(),
    };
    await putOrder(order);
    return order;
  },
  { persistenceStore, config },
);

/**
 * POST /orders, idempotent: the same `Idempotency-Key` header (or, without one, the same body)
 * within an hour answers the first order again and creates nothing.
 */
export const handler = apiHandler(async (event, context) => {
  const order = parseNewOrder(parseJsonObjectBody(event));
  const key = idempotencyKeyHeader(event.headers) ?? `body:${JSON.stringify(order)}`;
  // Lets Powertools expire an in-progress record when this invocation times out.
  config.registerLambdaContext(context);
  try {
    const created = await createOnce({ key, order });
    return json(201, created, { Location: `/orders/${created.orderId}` });
  } catch (error) {
    if (error instanceof IdempotencyAlreadyInProgressError) {
      throw new HttpError(409, "A request with this idempotency key is in progress; retry shortly");
    }
    throw error;
  }
});
