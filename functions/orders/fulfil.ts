import { BatchProcessor, EventType, processPartialResponse } from "@aws-lambda-powertools/batch";
import type { Context, SQSBatchResponse, SQSEvent, SQSRecord } from "aws-lambda";
import { logger } from "../shared/logger";
import { markFulfilled } from "./table";
import { parseFulfilment } from "./validation";

const processor = new BatchProcessor(EventType.SQS);

async function fulfil(record: SQSRecord): Promise<void> {
  const { orderId } = parseFulfilment(record.body);
  await markFulfilled(orderId, new Date().toISOString());
  logger.info("order fulfilled", { orderId, messageId: record.messageId });
}

/**
 * Consumes the fulfilment queue. Each failed message is reported alone (`batchItemFailures`, the
 * mapping's ReportBatchItemFailures): SQS redelivers only those, and after the queue's
 * maxReceiveCount moves them to the dead-letter queue; the others are deleted.
 */
export async function handler(event: SQSEvent, context: Context): Promise<SQSBatchResponse> {
  logger.addContext(context);
  return processPartialResponse(event, fulfil, processor, { context });
}
