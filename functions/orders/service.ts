import { defineService } from "../shared/service-declaration";

/**
 * Orders: an idempotent `POST /orders`, `GET /orders/{orderId}`, and a consumer of the fulfilment
 * queue (the warehouse sends `{"orderId": ...}` when an order ships) that marks orders fulfilled, and
 * a consumer of the orders table's stream that acknowledges each new order once with a receipt signed by a secret key, and an hourly
 * reconciliation that flags orders not fulfilled within a day.
 */
export const ordersService = defineService({
  name: "orders",
  api: { basePath: "/orders" },
  tables: {
    // The stream feeds `acknowledge`: each new order is acknowledged once, off the request path.
    orders: { hashKey: { name: "orderId", type: "S" }, stream: "NEW_IMAGE" },
  },
  queues: {
    fulfilment: { maxReceiveCount: 3 },
  },
  secrets: {
    // Written by an operator (SecureString, the service's secrets key); the program holds only its name.
    "webhook-key": { parameter: "/orders/webhook-signing-key" },
  },
  functions: {
    create: {
      handler: "functions/orders/create.ts",
      trigger: {
        type: "http",
        route: "POST /orders",
        idempotent: true,
        // Rejected before the idempotency record or any write: the smoke test creates nothing.
        smoke: { path: "/orders", body: "{}", expectStatus: 400, expectBody: "item is required" },
      },
      access: { tables: { orders: "write" } },
    },
    get: {
      handler: "functions/orders/get.ts",
      trigger: {
        type: "http",
        route: "GET /orders/{orderId}",
        smoke: { path: "/orders/__smoke__", expectStatus: 404 },
      },
      access: { tables: { orders: "read" } },
    },
    fulfil: {
      handler: "functions/orders/fulfil.ts",
      trigger: { type: "queue", queue: "fulfilment", batchSize: 10 },
      access: { tables: { orders: "write" } },
      timeoutSeconds: 20,
    },
    acknowledge: {
      handler: "functions/orders/acknowledge.ts",
      trigger: {
        type: "stream",
        table: "orders",
        batchSize: 100,
        maximumRetryAttempts: 3,
        maximumRecordAgeSeconds: 3600,
      },
      access: { tables: { orders: "write" }, secrets: ["webhook-key"] },
    },
    reconcile: {
      handler: "functions/orders/reconcile.ts",
      trigger: {
        type: "schedule",
        expression: "rate(1 hour)",
        maximumRetryAttempts: 2,
        maximumEventAgeSeconds: 3600,
      },
      access: { tables: { orders: "readWrite" } },
    },
  },
});
