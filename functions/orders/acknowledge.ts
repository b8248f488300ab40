import { BatchProcessor, EventType, processPartialResponse } from "@aws-lambda-powertools/batch";
import type { Context, DynamoDBBatchResponse, DynamoDBRecord, DynamoDBStreamEvent } from "aws-lambda";
import { logger } from "../shared/logger";
import { signReceipt } from "./receipt";
import { markAcknowledged } from "./table";
import { parseCreatedOrder } from "./validation";

const processor = new BatchProcessor(EventType.DynamoDBStreams);

async function acknowledge(record: DynamoDBRecord): Promise<void> {
  // Only creations matter here; this consumer's own update comes back as a MODIFY and is skipped.
  if (record.eventName !== "INSERT") return;
  const { orderId } = parseCreatedOrder(record.dynamodb?.NewImage);
  await markAcknowledged(orderId, new Date().toISOString(), await signReceipt(orderId));
  logger.info("order acknowledged", { orderId, eventID: record.eventID });
}

/**
 * Consumes the orders table's stream (NEW_IMAGE). A failed record is reported alone
 * (`batchItemFailures`, the mapping's ReportBatchItemFailures): Lambda retries from it, bisects,
 * and after the mapping's retries sends it to the failure queue; the records before it are done.
 */
export async function handler(event: DynamoDBStreamEvent, context: Context): Promise<DynamoDBBatchResponse> {
  logger.addContext(context);
  return processPartialResponse(event, acknowledge, processor, { context });
}
