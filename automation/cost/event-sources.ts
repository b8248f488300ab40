import type { RecordedResource } from "../plan/mocks";
import type { PlanResult } from "../plan/types";
import { PRICES } from "./prices";

/**
 * The event-driven part of the estimate: SQS queues and DynamoDB streams consumed through Lambda
 * event source mappings, and EventBridge Scheduler schedules. The API traffic model says nothing of
 * how many messages or stream records a month brings, so each event source is assumed to carry one
 * API route's share of the requests (see `EVENT_SOURCE_ASSUMPTION`), and each schedule fires as its
 * expression says.
 */

const TYPES = {
  mapping: "aws:lambda/eventSourceMapping:EventSourceMapping",
  queue: "aws:sqs/queue:Queue",
  table: "aws:dynamodb/table:Table",
  schedule: "aws:scheduler/schedule:Schedule",
} as const;

/** SendMessage, ReceiveMessage and DeleteMessage: one each per message, batching left out (an upper bound). */
export const SQS_REQUESTS_PER_MESSAGE = 3;

export const EVENT_SOURCE_ASSUMPTION =
  "each queue and table stream consumed by Lambda carries as many messages or records a month as one API route's share of the requests";

/** One line of the estimate for an event source. */
export interface EventSourceLine {
  service: "SQS" | "DynamoDB Streams" | "EventBridge Scheduler";
  item: string;
  quantity: number;
  unit: string;
  price: string;
  cost: number;
}

export interface EventSourceUsage {
  lines: EventSourceLine[];
  /** Invocations a month per function name, with what triggers them (`queue platform-dev-orders-fulfilment`). */
  invocations: Map<string, { count: number; triggers: string[] }>;
}

const text = (value: unknown): string | undefined => (typeof value === "string" ? value : undefined);
const attribute = (resource: RecordedResource, key: string) =>
  text(resource.inputs[key]) ?? text(resource.outputs[key]);

/** `platform-dev-orders-fulfil` from a function name or a (qualified) function ARN. */
function functionNameOf(reference: string): string {
  const parts = reference.split(":");
  return reference.startsWith("arn:") && parts[5] === "function" ? parts[6] : reference;
}

const SECONDS = { minute: 60, hour: 3600, day: 86400 } as const;
const SECONDS_PER_MONTH = PRICES.hoursPerMonth * 3600;
const DAYS_PER_MONTH = PRICES.hoursPerMonth / 24;

/** How many values one cron field matches (`*`, `?`, lists, ranges, `a/b` steps), of `size` possible. */
function cronFieldCount(field: string, size: number, first: number): number {
  if (field === "*" || field === "?") return size;
  return field.split(",").reduce((sum, part) => {
    const [range, step] = part.split("/");
    const stepSize = step ? Number(step) : 1;
    if (range === "*") return sum + Math.ceil(size / stepSize);
    const [from, to] = range.split("-").map(Number);
    const end = to ?? (step ? first + size - 1 : from);
    return (
      sum + (Number.isFinite(from) && Number.isFinite(end) ? Math.floor((end - from) / stepSize) + 1 : 1)
    );
  }, 0);
}

/**
 * Invocations a month of an EventBridge Scheduler expression: exact for `rate(...)`, counted from
 * the minute, hour and day fields for `cron(...)` (a 730-hour month), 1 for a one-time `at(...)`.
 * @throws RangeError naming the expression when it is none of these.
 */
export function scheduleInvocationsPerMonth(expression: string): number {
  const rate = /^rate\((\d+) (minute|hour|day)s?\)$/.exec(expression);
  if (rate) return SECONDS_PER_MONTH / (Number(rate[1]) * SECONDS[rate[2] as keyof typeof SECONDS]);
  const cron = /^cron\((\S+) (\S+) (\S+) (\S+) (\S+)(?: (\S+))?\)$/.exec(expression);
  if (cron) {
    const [, minutes, hours, dayOfMonth, , dayOfWeek] = cron;
    const perDay = cronFieldCount(minutes, 60, 0) * cronFieldCount(hours, 24, 0);
    const allDays = (dayOfMonth === "*" || dayOfMonth === "?") && (dayOfWeek === "*" || dayOfWeek === "?");
    const days = allDays
      ? DAYS_PER_MONTH
      : dayOfMonth === "*" || dayOfMonth === "?"
        ? (cronFieldCount(dayOfWeek.replace(/#\d+$/, ""), 7, 1) * DAYS_PER_MONTH) / 7
        : cronFieldCount(dayOfMonth.replace(/[LW]/g, ""), 31, 1);
    return perDay * days;
  }
  if (/^at\(.+\)$/.test(expression)) return 1;
  throw new RangeError(
    `schedule expression must be rate(N unit), cron(min hour day month weekday year) or at(...) (got ${JSON.stringify(expression)})`,
  );
}

const perMillion = (quantity: number, price: number) => (quantity / 1_000_000) * price;

/**
 * The SQS, DynamoDB Streams and EventBridge Scheduler lines of a plan, and the invocations each
 * consumer or schedule target gets: a batch per `batchSize` messages or records, one per firing.
 *
 * @param perSource messages (or records) a month each consumed queue or stream carries
 */
export function estimateEventSources(plan: PlanResult, perSource: number): EventSourceUsage {
  const usage: EventSourceUsage = { lines: [], invocations: new Map() };
  const invoke = (functionReference: string | undefined, count: number, trigger: string) => {
    if (!functionReference) return;
    const name = functionNameOf(functionReference);
    const entry = usage.invocations.get(name) ?? { count: 0, triggers: [] };
    entry.count += count;
    entry.triggers.push(trigger);
    usage.invocations.set(name, entry);
  };
  const byArn = new Map<string, RecordedResource>();
  for (const resource of plan.resources) {
    if (resource.type === TYPES.queue) byArn.set(attribute(resource, "arn") ?? "", resource);
    if (resource.type === TYPES.table) byArn.set(attribute(resource, "streamArn") ?? "", resource);
  }

  for (const mapping of plan.resources.filter((r) => r.type === TYPES.mapping)) {
    const sourceArn = attribute(mapping, "eventSourceArn") ?? "";
    const source = byArn.get(sourceArn);
    const sourceName = (source && attribute(source, "name")) ?? sourceArn;
    const batchSize = Number(mapping.inputs.batchSize ?? (sourceArn.includes(":sqs:") ? 10 : 100));
    const batches = Math.ceil(perSource / Math.max(1, batchSize));
    if (sourceArn.includes(":sqs:")) {
      const requests = perSource * SQS_REQUESTS_PER_MESSAGE;
      usage.lines.push({
        service: "SQS",
        item: `${sourceName}: send, receive and delete per message`,
        quantity: requests,
        unit: "requests",
        price: `$${PRICES.sqs.standardPerMillionRequests.toFixed(2)} per million`,
        cost: perMillion(requests, PRICES.sqs.standardPerMillionRequests),
      });
      invoke(attribute(mapping, "functionName"), batches, `queue ${sourceName}`);
    } else if (sourceArn.includes(":dynamodb:") || mapping.inputs.startingPosition !== undefined) {
      usage.lines.push({
        service: "DynamoDB Streams",
        item: `${sourceName} stream reads by Lambda (not charged)`,
        quantity: batches,
        unit: "read request units",
        price: `$${PRICES.dynamodbStreams.perMillionReadRequestUnits.toFixed(2)} per million, $0 for Lambda`,
        cost: 0,
      });
      invoke(attribute(mapping, "functionName"), batches, `stream of ${sourceName}`);
    }
  }

  for (const schedule of plan.resources.filter((r) => r.type === TYPES.schedule)) {
    const expression = attribute(schedule, "scheduleExpression") ?? "";
    const name = attribute(schedule, "name") ?? schedule.name;
    const invocations = scheduleInvocationsPerMonth(expression);
    usage.lines.push({
      service: "EventBridge Scheduler",
      item: `${name} invocations (${expression})`,
      quantity: invocations,
      unit: "invocations",
      price: `$${PRICES.scheduler.perMillionInvocations.toFixed(2)} per million`,
      cost: perMillion(invocations, PRICES.scheduler.perMillionInvocations),
    });
    const target = schedule.inputs.target as { arn?: unknown } | undefined;
    invoke(text(target?.arn), invocations, `schedule ${name}`);
  }
  return usage;
}
