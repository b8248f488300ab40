import type { Context, ScheduledEvent } from "aws-lambda";
import { logger } from "../shared/logger";
import { flagOverdue } from "./table";

/** An order not fulfilled within this long after its creation is overdue. */
export const OVERDUE_AFTER_MS = 24 * 3600 * 1000;

/**
 * Invoked hourly by EventBridge Scheduler (asynchronously): flags placed orders older than a day as
 * overdue. A failure throws, so that Lambda retries the run and then sends it to the alias's
 * on-failure destination, the schedule's dead-letter queue (ServiceSchedule sets both).
 */
export async function handler(_event: ScheduledEvent | Record<string, never>, context: Context) {
  logger.addContext(context);
  const flagged = await flagOverdue(new Date(Date.now() - OVERDUE_AFTER_MS).toISOString());
  logger.info("orders reconciled", { overdue: flagged.length });
  return { overdue: flagged };
}
