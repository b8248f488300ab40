import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import {
  DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  paginateScan,
  UpdateCommand,
} from "@aws-sdk/lib-dynamodb";
import { HttpError } from "../shared/http";

export type OrderStatus = "placed" | "fulfilled";

export interface NewOrder {
  item: string;
  quantity: number;
}

export interface Order extends NewOrder {
  orderId: string;
  status: OrderStatus;
  /** ISO 8601 */
  createdAt: string;
  /** ISO 8601, once fulfilled. */
  fulfilledAt?: string;
  /** ISO 8601, once the stream consumer has seen the order's creation. */
  acknowledgedAt?: string;
  /** HMAC-SHA256 of the order id with the webhook signing key: the warehouse verifies it. */
  receipt?: string;
  /** Set by the hourly reconciliation on a placed order not fulfilled within a day. */
  overdue?: boolean;
}

// Created once per container so that warm invocations reuse its connections and credentials.
const documentClient = DynamoDBDocumentClient.from(new DynamoDBClient({}));

/** Read per call, so that a missing setting fails requests (logged), not the init. */
function tableName(): string {
  const name = process.env.ORDERS_TABLE_NAME;
  if (!name)
    throw new Error("ORDERS_TABLE_NAME is not set: the function's environment must name the orders table");
  return name;
}

export async function putOrder(order: Order): Promise<void> {
  await documentClient.send(
    new PutCommand({
      TableName: tableName(),
      Item: order,
      ConditionExpression: "attribute_not_exists(orderId)",
    }),
  );
}

/**
 * Strongly consistent: this read backs `GET <Location>` right after the create's 201 (and a status
 * read right after fulfilment), and an eventually consistent read (DynamoDB's default) may not see
 * a write yet and answer 404 or a stale status. It costs twice the read capacity of one.
 */
export async function getOrder(orderId: string): Promise<Order | undefined> {
  const result = await documentClient.send(
    new GetCommand({ TableName: tableName(), Key: { orderId }, ConsistentRead: true }),
  );
  return result.Item as Order | undefined;
}

/** Marks an order fulfilled; a 404 `HttpError` when there is no such order (nothing is created). */
export async function markFulfilled(orderId: string, at: string): Promise<void> {
  try {
    await documentClient.send(
      new UpdateCommand({
        TableName: tableName(),
        Key: { orderId },
        UpdateExpression: "SET #status = :fulfilled, fulfilledAt = if_not_exists(fulfilledAt, :at)",
        ConditionExpression: "attribute_exists(orderId)",
        ExpressionAttributeNames: { "#status": "status" },
        ExpressionAttributeValues: { ":fulfilled": "fulfilled", ":at": at },
      }),
    );
  } catch (error) {
    if (error instanceof Error && error.name === "ConditionalCheckFailedException") {
      throw new HttpError(404, `Order ${orderId} not found`);
    }
    throw error;
  }
}

/**
 * Stamps an order acknowledged, once (a redelivered stream record keeps the first time), with its
 * signed receipt (re-signed on redelivery, so a rotated key applies). Throws when
 * there is no such order (the record then fails alone and is retried, then sent to the failure queue).
 */
export async function markAcknowledged(orderId: string, at: string, receipt: string): Promise<void> {
  await documentClient.send(
    new UpdateCommand({
      TableName: tableName(),
      Key: { orderId },
      UpdateExpression: "SET acknowledgedAt = if_not_exists(acknowledgedAt, :at), receipt = :receipt",
      ConditionExpression: "attribute_exists(orderId)",
      ExpressionAttributeValues: { ":at": at, ":receipt": receipt },
    }),
  );
}

/**
 * Flags every order still `placed` and created before `createdBefore` (ISO 8601) as overdue, once;
 * returns the ids it flagged. An order fulfilled meanwhile is left alone (the condition re-checks).
 */
export async function flagOverdue(createdBefore: string): Promise<string[]> {
  const flagged: string[] = [];
  const pages = paginateScan(
    { client: documentClient },
    {
      TableName: tableName(),
      FilterExpression: "#status = :placed AND createdAt < :before AND attribute_not_exists(overdue)",
      ExpressionAttributeNames: { "#status": "status" },
      ExpressionAttributeValues: { ":placed": "placed", ":before": createdBefore },
      ProjectionExpression: "orderId",
    },
  );
  for await (const page of pages) {
    for (const item of page.Items ?? []) {
      const orderId = String(item.orderId);
      try {
        await documentClient.send(
          new UpdateCommand({
            TableName: tableName(),
            Key: { orderId },
            UpdateExpression: "SET overdue = :true",
            ConditionExpression: "#status = :placed",
            ExpressionAttributeNames: { "#status": "status" },
            ExpressionAttributeValues: { ":true": true, ":placed": "placed" },
          }),
        );
        flagged.push(orderId);
      } catch (error) {
        if (!(error instanceof Error && error.name === "ConditionalCheckFailedException")) throw error;
      }
    }
  }
  return flagged;
}
