import { HttpError } from "../shared/http";
import type { NewOrder } from "./table";

const ORDER_ID = /^[A-Za-z0-9_-]{1,64}$/;
const ITEM = /^[A-Za-z0-9 _.-]{1,100}$/;
const MAX_QUANTITY = 1000;
/** An idempotency key a client sends: printable ASCII, bounded (it becomes part of a DynamoDB key). */
const IDEMPOTENCY_KEY = /^[\x21-\x7e]{1,128}$/;

/** `POST /orders` body: exactly `{item, quantity}`. */
export function parseNewOrder(body: { [field: string]: unknown }): NewOrder {
  const problems: string[] = [];
  if (typeof body.item !== "string" || !ITEM.test(body.item)) {
    problems.push("item is required: 1 to 100 characters of A-Z, a-z, 0-9, space, _, . or -");
  }
  const quantity = body.quantity;
  if (
    typeof quantity !== "number" ||
    !Number.isInteger(quantity) ||
    quantity < 1 ||
    quantity > MAX_QUANTITY
  ) {
    problems.push(`quantity is required: an integer from 1 to ${MAX_QUANTITY}`);
  }
  const unknown = Object.keys(body).filter((field) => field !== "item" && field !== "quantity");
  if (unknown.length > 0) problems.push(`unknown field(s): ${unknown.slice(0, 5).join(", ")}`);
  if (problems.length > 0) throw new HttpError(400, problems.join("; "));
  return { item: body.item as string, quantity: quantity as number };
}

/** The `{orderId}` path parameter; 400 if it cannot be an order id. */
export function parseOrderIdParameter(pathParameters: { [name: string]: string | undefined } | null): string {
  const orderId = pathParameters?.orderId;
  if (typeof orderId !== "string" || !ORDER_ID.test(orderId)) {
    throw new HttpError(400, "Path parameter orderId must be 1 to 64 characters of A-Z, a-z, 0-9, _ or -");
  }
  return orderId;
}

/** The `Idempotency-Key` header (any case), or undefined; 400 when present but malformed. */
export function idempotencyKeyHeader(
  headers: { [name: string]: string | undefined } | null,
): string | undefined {
  const entry = Object.entries(headers ?? {}).find(([name]) => name.toLowerCase() === "idempotency-key");
  if (entry?.[1] === undefined) return undefined;
  if (!IDEMPOTENCY_KEY.test(entry[1])) {
    throw new HttpError(400, "Header Idempotency-Key must be 1 to 128 printable ASCII characters");
  }
  return entry[1];
}

/** A fulfilment message body: `{"orderId": "..."}`; throws naming the problem (the record then fails alone). */
export function parseFulfilment(body: string): { orderId: string } {
  let message: unknown;
  try {
    message = JSON.parse(body);
  } catch {
    throw new Error("fulfilment message is not JSON");
  }
  const orderId = (message as { orderId?: unknown } | null)?.orderId;
  if (typeof orderId !== "string" || !ORDER_ID.test(orderId)) {
    throw new Error('fulfilment message must be {"orderId": "<1 to 64 of A-Z, a-z, 0-9, _ or ->"}');
  }
  return { orderId };
}

/** A created order's stream image (NEW_IMAGE, DynamoDB JSON); throws naming the problem (the record then fails alone). */
export function parseCreatedOrder(image: { [name: string]: { S?: string } } | undefined): {
  orderId: string;
} {
  const orderId = image?.orderId?.S;
  if (typeof orderId !== "string" || !ORDER_ID.test(orderId)) {
    throw new Error(
      "order stream record must carry a NewImage with an orderId of 1 to 64 of A-Z, a-z, 0-9, _ or -",
    );
  }
  return { orderId };
}
