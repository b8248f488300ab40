/**
 * The local cloud's EventBridge Scheduler: the plan's schedules fire on timers (or by `fire`), and
 * deliver as AWS does. Scheduler invokes a Lambda target asynchronously: once Lambda accepts the
 * event, a function error is Lambda's to retry (twice by default, one then two minutes apart) and
 * then to send to the function's on-failure destination, if it has one; Scheduler's own retry
 * policy and dead-letter queue are for an event Lambda did not accept (here, a target function the
 * local cloud does not run). The event is the target's input with Scheduler's context attributes
 * filled in, or Scheduler's default notification when the target has none.
 */
import { randomBytes, randomUUID } from "node:crypto";
import { type AsyncStep, LocalAsyncInvocations, type LocalClock, systemClock } from "./async-invoke";
import type { InvokeResult } from "./functions";
import type { LocalEventInvokeConfig, LocalFunction, LocalSchedule } from "./model";
import { nextFireTime, parseScheduleExpression, type ScheduleExpression } from "./schedule-expression";

/** Time as the scheduler sees it; tests pass a clock they move by hand. */
export type ScheduleClock = LocalClock;
export { systemClock };

/** Scheduler backs off between deliveries; locally 1 s, doubling, at most a minute. */
const deliveryBackoffMs = (attempt: number) => Math.min(60_000, 1000 * 2 ** (attempt - 1));

/** One step of a scheduled event, for the dev server's log and for tests. */
export interface ScheduleFiring {
  schedule: string;
  functionName?: string;
  /** When the event was due (ISO 8601). */
  scheduledTime: string;
  /** Scheduler's attempt at handing the event to Lambda (`<aws.scheduler.attempt-number>`). */
  deliveryAttempt: number;
  /** Lambda's run of the accepted event: 1, then its asynchronous retries. */
  run?: number;
  event: unknown;
  result?: InvokeResult;
  /** Why Lambda did not accept the event. */
  deliveryError?: { code: string; message: string };
  outcome: "succeeded" | "retrying" | "dead-lettered" | "dropped";
  /** The queue the event (or Lambda's record of it) went to, when dead-lettered. */
  queueName?: string;
  /** The outcome in words: when the retry comes, or why the event was dropped. */
  detail: string;
}

/** A schedule as the local cloud runs it: when it fires next, or why it does not. */
export interface ScheduleStatus {
  schedule: LocalSchedule;
  /** The next fire time (ms since the epoch), if it has one. */
  next?: number;
  /** Why it cannot fire locally. */
  problem?: string;
}

export interface LocalSchedulesOptions {
  /** Lambda's synchronous invoke of a function by physical name; throws when the cloud does not run it. */
  invoke(functionName: string, event: unknown): Promise<InvokeResult>;
  /** Sends a message to a local queue by name; throws when the plan has no such queue. */
  sendMessage(queueName: string, body: string, attributes?: Record<string, string>): void;
  region: string;
  accountId: string;
  /** @default systemClock */
  clock?: ScheduleClock;
  /**
   * Lambda's asynchronous side, shared with the cloud's Lambda API (its clock is then the one used).
   * @default one of the scheduler's own, on `clock`
   */
  lambda?: LocalAsyncInvocations;
  /** Fire on their own timers (else only by `fire`). @default true */
  timers?: boolean;
  onFiring?(firing: ScheduleFiring): void;
}

interface Entry {
  schedule: LocalSchedule;
  expression?: ScheduleExpression;
  problem?: string;
  /** When the local cloud created it: where a rate without a startDate counts from. */
  origin: number;
  next?: number;
  timer?: unknown;
}

const isoSeconds = (time: number) => new Date(time).toISOString().replace(/\.\d{3}Z$/, "Z");

/**
 * The event of one delivery: the target's input with Scheduler's context attributes filled in, or
 * Scheduler's default notification when it has none (an EventBridge-style event whose `detail` is
 * the string "{}", as Lambda receives it).
 */
export function scheduleEvent(
  schedule: LocalSchedule,
  context: { region: string; accountId: string; scheduledTime: number; executionId: string; attempt: number },
): unknown {
  if (schedule.input === undefined) {
    return {
      version: "0",
      id: randomUUID(),
      "detail-type": "Scheduled Event",
      source: "aws.scheduler",
      account: context.accountId,
      time: isoSeconds(context.scheduledTime),
      region: context.region,
      resources: [schedule.arn],
      detail: "{}",
    };
  }
  const input = schedule.input
    .replaceAll("<aws.scheduler.schedule-arn>", schedule.arn)
    .replaceAll("<aws.scheduler.scheduled-time>", isoSeconds(context.scheduledTime))
    .replaceAll("<aws.scheduler.execution-id>", context.executionId)
    .replaceAll("<aws.scheduler.attempt-number>", String(context.attempt));
  try {
    return JSON.parse(input);
  } catch {
    throw new Error(
      `schedule ${schedule.name}: target.input must be JSON for a Lambda target (got ${JSON.stringify(schedule.input.slice(0, 80))})`,
    );
  }
}

/**
 * Why a schedule cannot fire locally, if it cannot: its expression or time zone (which fails the
 * cloud's apply when `strict`, naming the schedule), its input, or a target other than a function.
 */
export function scheduleProblem(
  schedule: LocalSchedule,
  strict: boolean,
): { expression?: ScheduleExpression; problem?: string } {
  try {
    const expression = parseScheduleExpression(schedule.expression, schedule.timezone, schedule.name);
    scheduleEvent(schedule, { region: "", accountId: "", scheduledTime: 0, executionId: "0", attempt: 1 });
    if (!schedule.functionName)
      return {
        expression,
        problem: `schedule ${schedule.name} targets ${schedule.targetArn}: the local cloud delivers only to Lambda functions`,
      };
    return { expression };
  } catch (error) {
    if (strict)
      throw new Error(
        `${(error as Error).message} (platform dev --no-schedules serves the stack without firing its schedules)`,
      );
    return { problem: (error as Error).message };
  }
}

export class LocalSchedules {
  private readonly entries = new Map<string, Entry>();
  private readonly clock: ScheduleClock;
  /** Lambda's asynchronous side: its runs, retries and destinations, and the waits between them. */
  private readonly lambda: LocalAsyncInvocations;
  private closed = false;

  constructor(private readonly options: LocalSchedulesOptions) {
    this.lambda =
      options.lambda ??
      new LocalAsyncInvocations({
        invoke: options.invoke,
        sendMessage: (queueName, body, attributes) =>
          options.sendMessage(
            queueName,
            body,
            attributes &&
              Object.fromEntries(
                Object.entries(attributes).map(([name, value]) => [name, value.StringValue]),
              ),
          ),
        region: options.region,
        accountId: options.accountId,
        clock: options.clock,
      });
    this.clock = this.lambda.clock;
  }

  /** Schedules fire on their own timers. */
  get timers(): boolean {
    return this.options.timers ?? true;
  }

  /**
   * Brings the schedules to the plan; returns one line per change. With timers on, an expression
   * the local cloud cannot run fails the whole apply (before anything changes), naming it.
   */
  apply(
    schedules: LocalSchedule[],
    eventInvokeConfigs: LocalEventInvokeConfig[],
    functions: Pick<LocalFunction, "name" | "deadLetterQueueName">[] = [],
  ): string[] {
    const checked = schedules.map((schedule) => this.check(schedule));
    this.lambda.apply(eventInvokeConfigs, functions);
    const changes: string[] = [];
    const wanted = new Set(schedules.map((s) => s.name));
    for (const [name, entry] of this.entries) {
      if (wanted.has(name)) continue;
      this.disarm(entry);
      this.entries.delete(name);
      changes.push(`schedule ${name} deleted`);
    }
    for (const entry of checked) {
      const existing = this.entries.get(entry.schedule.name);
      if (existing && JSON.stringify(existing.schedule) === JSON.stringify(entry.schedule)) continue;
      if (existing) this.disarm(existing);
      this.entries.set(entry.schedule.name, entry);
      this.arm(entry, entry.origin);
      changes.push(`schedule ${entry.schedule.name} ${existing ? "updated" : "created"}`);
    }
    return changes;
  }

  /** Every schedule, with its next fire time or why it does not fire. */
  status(): ScheduleStatus[] {
    return [...this.entries.values()].map((entry) => ({
      schedule: entry.schedule,
      next: entry.next,
      problem: entry.problem,
    }));
  }

  /**
   * Fires a schedule now (or as if due at `scheduledTime`), whatever its state and timers; resolves
   * with the event's final step, after any retries.
   */
  fire(name: string, scheduledTime: number = this.clock.now()): Promise<ScheduleFiring> {
    const entry = this.entries.get(name);
    if (!entry) {
      const known = [...this.entries.keys()].join(", ") || "none";
      throw new Error(`no schedule ${JSON.stringify(name)} in the local cloud; its schedules: ${known}`);
    }
    if (entry.problem) throw new Error(entry.problem);
    return this.deliver(entry.schedule, scheduledTime);
  }

  /** Resolves once no invocation is under way (retries waiting on a timer do not count). */
  idle(): Promise<void> {
    return this.lambda.idle();
  }

  /** Stops every timer; events waiting for a retry are given up. */
  close(): void {
    this.closed = true;
    for (const entry of this.entries.values()) this.disarm(entry);
    this.lambda.close();
  }

  private check(schedule: LocalSchedule): Entry {
    return { schedule, origin: this.clock.now(), ...scheduleProblem(schedule, this.timers) };
  }

  private arm(entry: Entry, after: number): void {
    this.disarm(entry);
    entry.next =
      entry.expression && !entry.problem && entry.schedule.state === "ENABLED"
        ? nextFireTime(entry.expression, entry.schedule, after, entry.origin)
        : undefined;
    if (entry.next === undefined || !this.timers || this.closed) return;
    const due = entry.next;
    const wake = () => {
      entry.timer = undefined;
      if (this.closed || this.entries.get(entry.schedule.name) !== entry) return;
      const now = this.clock.now();
      if (now < due) {
        entry.timer = this.clock.setTimer(wake, due - now);
        return;
      }
      this.deliver(entry.schedule, due).catch((error: unknown) => {
        // Nothing awaits a timer's delivery: an error (in onFiring) is shown, not left unhandled.
        process.emitWarning(`schedule ${entry.schedule.name}: ${(error as Error).message}`);
      });
      // After a long sleep of the machine, fire once, then go on from now.
      this.arm(entry, Math.max(due, now));
    };
    entry.timer = this.clock.setTimer(wake, due - this.clock.now());
  }

  private disarm(entry: Entry): void {
    if (entry.timer !== undefined) this.clock.clearTimer(entry.timer);
    entry.timer = undefined;
  }

  private report(firing: ScheduleFiring): ScheduleFiring {
    this.options.onFiring?.(firing);
    return firing;
  }

  /** Scheduler's side: hands the event to Lambda, retrying per the retry policy, then dead-letters it. */
  private async deliver(schedule: LocalSchedule, scheduledTime: number): Promise<ScheduleFiring> {
    const functionName = schedule.functionName as string;
    const base = { schedule: schedule.name, functionName, scheduledTime: isoSeconds(scheduledTime) };
    for (let deliveryAttempt = 1; ; deliveryAttempt += 1) {
      const executionId = randomBytes(8).toString("hex");
      const event = scheduleEvent(schedule, {
        region: this.options.region,
        accountId: this.options.accountId,
        scheduledTime,
        executionId,
        attempt: deliveryAttempt,
      });
      let result: InvokeResult;
      try {
        result = await this.lambda.invoke(functionName, event);
      } catch (error) {
        if (this.closed)
          return { ...base, deliveryAttempt, event, outcome: "dropped", detail: "the local cloud closed" };
        const deliveryError = { code: "ResourceNotFoundException", message: (error as Error).message };
        const failed = { ...base, deliveryAttempt, event, deliveryError };
        const delayMs = deliveryBackoffMs(deliveryAttempt);
        const { maximumRetryAttempts, maximumEventAgeSeconds } = schedule.retryPolicy;
        const tooOld = this.clock.now() + delayMs - scheduledTime > maximumEventAgeSeconds * 1000;
        if (deliveryAttempt <= maximumRetryAttempts && !tooOld) {
          this.report({ ...failed, outcome: "retrying", detail: `Scheduler retries in ${delayMs / 1000} s` });
          if (await this.lambda.sleep(delayMs)) continue;
          return { ...failed, outcome: "dropped", detail: "the local cloud closed" };
        }
        return this.report(this.deadLetter(schedule, failed, executionId));
      }
      const accepted = { ...base, deliveryAttempt, event };
      const step = await this.lambda.complete(
        { functionName, qualifier: schedule.qualifier, event },
        result,
        (next) => this.report(this.firing(accepted, next)),
      );
      return this.firing(accepted, step);
    }
  }

  /** Sends an event Scheduler could not deliver to the schedule's dead-letter queue, with Scheduler's attributes. */
  private deadLetter(
    schedule: LocalSchedule,
    failed: Omit<ScheduleFiring, "outcome" | "detail"> & { deliveryError: { code: string; message: string } },
    executionId: string,
  ): ScheduleFiring {
    const queueName = schedule.deadLetterQueueName;
    if (!queueName) return { ...failed, outcome: "dropped", detail: "the schedule has no dead-letter queue" };
    try {
      this.options.sendMessage(queueName, JSON.stringify(failed.event), {
        ERROR_CODE: failed.deliveryError.code,
        ERROR_MESSAGE: failed.deliveryError.message,
        EXECUTION_ID: executionId,
        RETRY_ATTEMPTS: String(failed.deliveryAttempt - 1),
        SCHEDULE_ARN: schedule.arn,
        TARGET_ARN: schedule.targetArn,
      });
    } catch (error) {
      return { ...failed, outcome: "dropped", detail: `its dead-letter queue: ${(error as Error).message}` };
    }
    return {
      ...failed,
      outcome: "dead-lettered",
      queueName,
      detail: `sent to dead-letter queue ${queueName}`,
    };
  }

  /** A step of Lambda's handling of a delivered event, as a firing of its schedule. */
  private firing(accepted: Omit<ScheduleFiring, "outcome" | "detail">, step: AsyncStep): ScheduleFiring {
    const firing: ScheduleFiring = {
      ...accepted,
      run: step.run,
      result: step.result,
      outcome: step.outcome,
      detail: step.detail,
    };
    if (step.queueNames?.[0]) firing.queueName = step.queueNames[0];
    if (step.outcome === "dropped" && !step.queueNames && /no on-failure destination/.test(step.detail))
      firing.detail +=
        " (as on AWS: the schedule's dead-letter queue only gets events Lambda did not accept)";
    return firing;
  }
}
