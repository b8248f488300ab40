/**
 * EventBridge Scheduler's schedule expressions, for the local cloud: `rate(N unit)`, AWS's
 * six-field `cron(...)` (converted to croner's seven-field pattern: seconds first, Quartz weekday
 * numbers, day-of-month AND day-of-week) and `at(...)`, with the schedule's time zone; and the next
 * time a schedule fires.
 */
import { Cron } from "croner";

export type ScheduleExpression =
  | { kind: "rate"; intervalMs: number }
  | { kind: "cron" /** The croner pattern it converts to. */; pattern: string; cron: Cron }
  | { kind: "at" /** The instant, in ms since the epoch. */; instant: number };

/** An expression (or time zone) EventBridge Scheduler or the local cloud does not accept. */
export class ScheduleExpressionError extends Error {
  constructor(scheduleName: string, expression: string, why: string) {
    super(`schedule ${scheduleName}: ${JSON.stringify(expression)} ${why}`);
    this.name = "ScheduleExpressionError";
  }
}

const UNIT_MS: Record<string, number> = {
  minute: 60_000,
  minutes: 60_000,
  hour: 3_600_000,
  hours: 3_600_000,
  day: 86_400_000,
  days: 86_400_000,
};

/** AWS's cron fields: the characters and the range of numbers each allows. */
const CRON_FIELDS = [
  { name: "minutes", pattern: /^[\d,\-*/]+$/, allowed: "0-59 and , - * /", min: 0, max: 59 },
  { name: "hours", pattern: /^[\d,\-*/]+$/, allowed: "0-23 and , - * /", min: 0, max: 23 },
  {
    name: "day-of-month",
    pattern: /^(\?|[\d,\-*/LW]+)$/,
    allowed: "1-31 and , - * ? / L W",
    min: 1,
    max: 31,
  },
  { name: "month", pattern: /^[\dA-Za-z,\-*/]+$/, allowed: "1-12 or JAN-DEC and , - * /", min: 1, max: 12 },
  {
    name: "day-of-week",
    pattern: /^(\?|[\dA-Za-z,\-*/L#]+)$/,
    allowed: "1-7 or SUN-SAT and , - * ? L #",
    min: 1,
    max: 7,
  },
  { name: "year", pattern: /^[\d,\-*/]+$/, allowed: "1970-2199 and , - * /", min: 1970, max: 2199 },
] as const;

/** The numbers a cron field names (not its steps, nor the occurrence after `#`). */
const fieldNumbers = (field: string) =>
  field
    .split(",")
    .flatMap((item) => item.split("/")[0].split("#")[0].split("-"))
    .map((part) => part.replace(/[LW]+$/, ""))
    .filter((part) => /^\d+$/.test(part))
    .map(Number);

/** Quartz's `5/15` (from 5, every 15) is croner's `5-59/15`. */
const withRangeSteps = (field: string, max: number) =>
  field
    .split(",")
    .map((item) => item.replace(/^(\d+)\/(\d+)$/, `$1-${max}/$2`))
    .join(",");

/** AWS's day-of-week `L` alone is the last day of the week (Saturday); `6L` is the last Friday of the month. */
const dayOfWeek = (field: string) =>
  field
    .split(",")
    .map((item) => (item === "L" ? "7" : item.replace(/^([A-Za-z]+|\d+)L$/, "$1#L")))
    .join(",");

function assertTimeZone(scheduleName: string, expression: string, timezone: string): void {
  try {
    new Intl.DateTimeFormat("en-US", { timeZone: timezone });
  } catch {
    throw new ScheduleExpressionError(
      scheduleName,
      expression,
      `has scheduleExpressionTimezone ${JSON.stringify(timezone)}, which is not an IANA time zone (e.g. UTC, Europe/Paris, America/New_York)`,
    );
  }
}

/** How far `timeZone`'s wall clock is ahead of UTC at `instant`. */
function offsetMs(timeZone: string, instant: number): number {
  const parts = new Intl.DateTimeFormat("en-US", {
    timeZone,
    hourCycle: "h23",
    year: "numeric",
    month: "2-digit",
    day: "2-digit",
    hour: "2-digit",
    minute: "2-digit",
    second: "2-digit",
  }).formatToParts(new Date(instant));
  const part = (type: string) => Number(parts.find((p) => p.type === type)?.value);
  const wall = Date.UTC(
    part("year"),
    part("month") - 1,
    part("day"),
    part("hour"),
    part("minute"),
    part("second"),
  );
  return wall - Math.floor(instant / 1000) * 1000;
}

/** The instant a wall-clock time (given as if it were UTC) is in `timeZone`. */
function zonedInstant(wallAsUtc: number, timeZone: string): number {
  const guess = wallAsUtc - offsetMs(timeZone, wallAsUtc);
  return wallAsUtc - offsetMs(timeZone, guess);
}

/**
 * Parses a schedule's expression as EventBridge Scheduler reads it; throws a
 * ScheduleExpressionError naming the schedule, the expression and what is allowed.
 */
export function parseScheduleExpression(
  expression: string,
  timezone = "UTC",
  scheduleName = "(unnamed)",
): ScheduleExpression {
  function fail(why: string): never {
    throw new ScheduleExpressionError(scheduleName, expression, why);
  }
  assertTimeZone(scheduleName, expression, timezone);

  if (expression.startsWith("rate(")) {
    const rate = /^rate\((\d+) ([a-z]+)\)$/.exec(expression);
    if (!rate || !Object.hasOwn(UNIT_MS, rate[2]) || Number(rate[1]) < 1)
      fail("is not a rate expression: rate(<positive integer> minute|minutes|hour|hours|day|days)");
    return { kind: "rate", intervalMs: Number(rate[1]) * UNIT_MS[rate[2]] };
  }

  if (expression.startsWith("at(")) {
    const at = /^at\((\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})\)$/.exec(expression);
    if (!at) fail("is not a one-time expression: at(yyyy-mm-ddThh:mm:ss)");
    const [year, month, day, hour, minute, second] = at.slice(1).map(Number);
    const wall = Date.UTC(year, month - 1, day, hour, minute, second);
    const check = new Date(wall);
    if (
      check.getUTCMonth() !== month - 1 ||
      check.getUTCDate() !== day ||
      hour > 23 ||
      minute > 59 ||
      second > 59
    )
      fail("names a date or time that does not exist");
    return { kind: "at", instant: zonedInstant(wall, timezone) };
  }

  const cron = /^cron\((.*)\)$/.exec(expression);
  if (!cron)
    fail(
      "is not a schedule expression: rate(N unit), cron(minutes hours day-of-month month day-of-week year) or at(yyyy-mm-ddThh:mm:ss)",
    );
  const fields = cron[1].trim().split(/\s+/);
  if (fields.length !== 6)
    fail(
      `has ${fields.length} cron fields; AWS cron takes 6: minutes hours day-of-month month day-of-week year`,
    );
  fields.forEach((field, index) => {
    const spec = CRON_FIELDS[index];
    if (!spec.pattern.test(field) || fieldNumbers(field).some((n) => n < spec.min || n > spec.max))
      fail(`has ${JSON.stringify(field)} in its ${spec.name} field, which allows ${spec.allowed}`);
  });
  const [minutes, hours, dayOfMonth, month, weekday, year] = fields;
  if ((dayOfMonth === "?") === (weekday === "?"))
    fail(
      "must have ? in exactly one of day-of-month and day-of-week (AWS does not take both, e.g. cron(0 12 * * ? *) or cron(0 12 ? * MON *))",
    );
  const pattern = [
    "0",
    withRangeSteps(minutes, CRON_FIELDS[0].max),
    withRangeSteps(hours, CRON_FIELDS[1].max),
    dayOfMonth === "?" ? "*" : withRangeSteps(dayOfMonth, CRON_FIELDS[2].max),
    withRangeSteps(month, CRON_FIELDS[3].max),
    weekday === "?" ? "*" : dayOfWeek(withRangeSteps(weekday, CRON_FIELDS[4].max)),
    withRangeSteps(year, CRON_FIELDS[5].max),
  ].join(" ");
  try {
    const compiled = new Cron(pattern, {
      paused: true,
      mode: "7-part",
      // AWS numbers weekdays as Quartz does (1 = SUN ... 7 = SAT); the unused day field is `?`.
      alternativeWeekdays: true,
      domAndDow: true,
      timezone,
    });
    return { kind: "cron", pattern, cron: compiled };
  } catch (error) {
    fail(
      `cannot be run by the local cloud (as croner pattern ${JSON.stringify(pattern)}: ${(error as Error).message})`,
    );
  }
}

/** When a schedule may fire: its planned `startDate` and `endDate`, as ms since the epoch. */
export interface ScheduleWindow {
  startDate?: string;
  endDate?: string;
}

/**
 * The first time after `after` the schedule fires, or none. A rate counts its intervals from its
 * `startDate`, or else from `origin` (when the local cloud created it), firing one interval after.
 */
export function nextFireTime(
  expression: ScheduleExpression,
  window: ScheduleWindow,
  after: number,
  origin: number,
): number | undefined {
  const start = window.startDate ? Date.parse(window.startDate) : undefined;
  const end = window.endDate ? Date.parse(window.endDate) : undefined;
  let next: number | undefined;
  if (expression.kind === "at") next = expression.instant > after ? expression.instant : undefined;
  else if (expression.kind === "rate") {
    const anchor = start ?? origin;
    next =
      after < anchor
        ? anchor
        : anchor + (Math.floor((after - anchor) / expression.intervalMs) + 1) * expression.intervalMs;
  } else {
    const from = start !== undefined && start - 1 > after ? start - 1 : after;
    next = expression.cron.nextRun(new Date(from))?.getTime();
  }
  if (next === undefined || (end !== undefined && next > end)) return undefined;
  return next;
}
