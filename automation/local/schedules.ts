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
import type { InvokeResult } from "./functions";
import type { LocalEventInvokeConfig, LocalSchedule } from "./model";
import { nextFireTime, parseScheduleExpression, type ScheduleExpression } from "./schedule-expression";

/** Time as the scheduler sees it; tests pass a clock they move by hand. */
export interface ScheduleClock {
  now(): number;
  /** Calls `callback` after `delayMs`; the scheduler re-arms when woken early. */
  setTimer(callback: () => void, delayMs: number): unknown;
  clearTimer(timer: unknown): void;
}

/** setTimeout fires at once past 2^31-1 ms: a longer wait (rate(30 days)) wakes early and re-arms. */
const MAX_TIMEOUT_MS = 2 ** 31 - 1;

export const systemClock: ScheduleClock = {
  now: () => Date.now(),
  setTimer: (callback, delayMs) => {
    const timer = setTimeout(callback, Math.min(Math.max(0, delayMs), MAX_TIMEOUT_MS));
    // A schedule never keeps the process alive on its own.
    timer.unref();
    return timer;
  },
  clearTimer: (timer) => clearTimeout(timer as NodeJS.Timeout),
};

/** Lambda's waits before the asynchronous retries of a failed run (its documented one, then two minutes). */
const LAMBDA_RETRY_DELAYS_MS = [60_000, 120_000];
type AsyncConfig = Omit<LocalEventInvokeConfig, "functionName" | "qualifier">;
/** Lambda's defaults for a function without an event invoke config. */
const LAMBDA_ASYNC_DEFAULTS: AsyncConfig = { maximumRetryAttempts: 2, maximumEventAgeSeconds: 21600 };
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
  private eventInvokeConfigs: LocalEventInvokeConfig[] = [];
  private readonly clock: ScheduleClock;
  private readonly sleepers = new Set<{ timer: unknown; wake(ran: boolean): void }>();
  /** Invocations under way (`idle` waits for none). */
  private running = 0;
  private readonly idleWaiters: (() => void)[] = [];
  private closed = false;

  constructor(private readonly options: LocalSchedulesOptions) {
    this.clock = options.clock ?? systemClock;
  }

  /** Schedules fire on their own timers. */
  get timers(): boolean {
    return this.options.timers ?? true;
  }

  /**
   * Brings the schedules to the plan; returns one line per change. With timers on, an expression
   * the local cloud cannot run fails the whole apply (before anything changes), naming it.
   */
  apply(schedules: LocalSchedule[], eventInvokeConfigs: LocalEventInvokeConfig[]): string[] {
    const checked = schedules.map((schedule) => this.check(schedule));
    this.eventInvokeConfigs = eventInvokeConfigs;
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
  async idle(): Promise<void> {
    for (;;) {
      // A turn of the event loop lets a finished invocation's next step (a retry's timer) happen first.
      await new Promise((resolve) => setImmediate(resolve));
      if (this.running === 0) return;
      await new Promise<void>((resolve) => this.idleWaiters.push(resolve));
    }
  }

  /** Stops every timer; events waiting for a retry are given up. */
  close(): void {
    this.closed = true;
    for (const entry of this.entries.values()) this.disarm(entry);
    for (const sleeper of this.sleepers) {
      this.clock.clearTimer(sleeper.timer);
      sleeper.wake(false);
    }
    this.sleepers.clear();
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

  /** Waits `delayMs` on the clock; false when the scheduler closed meanwhile. */
  private sleep(delayMs: number): Promise<boolean> {
    if (this.closed) return Promise.resolve(false);
    return new Promise((resolve) => {
      const sleeper = {
        timer: undefined as unknown,
        wake: (ran: boolean) => resolve(ran && !this.closed),
      };
      sleeper.timer = this.clock.setTimer(() => {
        this.sleepers.delete(sleeper);
        sleeper.wake(true);
      }, delayMs);
      this.sleepers.add(sleeper);
    });
  }

  private async invoke(functionName: string, event: unknown): Promise<InvokeResult> {
    this.running += 1;
    try {
      return await this.options.invoke(functionName, event);
    } finally {
      this.running -= 1;
      if (this.running === 0) for (const wake of this.idleWaiters.splice(0)) wake();
    }
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
        result = await this.invoke(functionName, event);
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
          if (await this.sleep(delayMs)) continue;
          return { ...failed, outcome: "dropped", detail: "the local cloud closed" };
        }
        return this.report(this.deadLetter(schedule, failed, executionId));
      }
      return this.runAsync(schedule, { ...base, deliveryAttempt, event }, result);
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

  /** Lambda's side of an accepted event: retries a failed run, then its on-failure destination. */
  private async runAsync(
    schedule: LocalSchedule,
    accepted: Omit<ScheduleFiring, "outcome" | "detail">,
    first: InvokeResult,
  ): Promise<ScheduleFiring> {
    const functionName = accepted.functionName as string;
    const configs = this.eventInvokeConfigs.filter((c) => c.functionName === functionName);
    const config: AsyncConfig =
      configs.find((c) => c.qualifier === schedule.qualifier) ??
      configs.find((c) => !c.qualifier) ??
      LAMBDA_ASYNC_DEFAULTS;
    const acceptedAt = this.clock.now();
    let result = first;
    for (let run = 1; ; run += 1) {
      const step = { ...accepted, run, result };
      if (!result.error) return this.report({ ...step, outcome: "succeeded", detail: "succeeded" });
      const delayMs = LAMBDA_RETRY_DELAYS_MS[Math.min(run - 1, LAMBDA_RETRY_DELAYS_MS.length - 1)];
      const tooOld = this.clock.now() + delayMs - acceptedAt > config.maximumEventAgeSeconds * 1000;
      if (run <= config.maximumRetryAttempts && !tooOld) {
        this.report({
          ...step,
          outcome: "retrying",
          detail: `Lambda retries the event in ${delayMs / 1000} s`,
        });
        if (!(await this.sleep(delayMs)))
          return { ...step, outcome: "dropped", detail: "the local cloud closed" };
        try {
          result = await this.invoke(functionName, accepted.event);
        } catch (error) {
          return this.report({ ...step, outcome: "dropped", detail: (error as Error).message });
        }
        continue;
      }
      const queueName = config.onFailureQueueName;
      if (!queueName)
        return this.report({
          ...step,
          outcome: "dropped",
          detail: `Lambda gave up after ${run} runs; ${functionName} has no on-failure destination, so the event is dropped (as on AWS: the schedule's dead-letter queue only gets events Lambda did not accept)`,
        });
      try {
        this.options.sendMessage(queueName, JSON.stringify(this.failureRecord(schedule, step, tooOld)));
      } catch (error) {
        return this.report({
          ...step,
          outcome: "dropped",
          detail: `its on-failure destination: ${(error as Error).message}`,
        });
      }
      return this.report({
        ...step,
        outcome: "dead-lettered",
        queueName,
        detail: `Lambda gave up after ${run} runs: sent to on-failure destination ${queueName}`,
      });
    }
  }

  /** What Lambda sends an on-failure destination for an asynchronous event. */
  private failureRecord(
    schedule: LocalSchedule,
    step: Omit<ScheduleFiring, "outcome" | "detail">,
    tooOld: boolean,
  ): unknown {
    const result = step.result as InvokeResult;
    return {
      version: "1.0",
      timestamp: new Date(this.clock.now()).toISOString(),
      requestContext: {
        requestId: result.requestId,
        functionArn: `arn:aws:lambda:${this.options.region}:${this.options.accountId}:function:${step.functionName}:${schedule.qualifier ?? "$LATEST"}`,
        condition: tooOld ? "EventAgeExceeded" : "RetriesExhausted",
        approximateInvokeCount: step.run,
      },
      requestPayload: step.event,
      responseContext: { statusCode: 200, executedVersion: "$LATEST", functionError: "Unhandled" },
      responsePayload: result.error,
    };
  }
}
