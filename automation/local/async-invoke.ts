/**
 * Lambda's asynchronous invocation in the local cloud: what Lambda does with an event it accepted
 * (an `Invoke` with `InvocationType: Event`, or an EventBridge Scheduler target). It runs the
 * function; a function error is retried (twice by default, one then two minutes apart) while the
 * event is younger than its maximum age; then Lambda gives up: a record of the event goes to the
 * on-failure destination of the event invoke config (the invoked qualifier's, else the function's),
 * and the event itself to the function's dead-letter queue (its `DeadLetterConfig`), with
 * `RequestID`, `ErrorCode` and `ErrorMessage` attributes. With neither, the event is dropped.
 *
 * Also the local cloud's clock for waits that outlive a request (retries), so that closing the
 * cloud gives them up and tests can wait for the invocations under way (`idle`).
 */
import { randomUUID } from "node:crypto";
import type { InvokeResult } from "./functions";
import type { LocalEventInvokeConfig, LocalFunction } from "./model";

/** Time as the local cloud's timers see it; tests pass a clock they move by hand. */
export interface LocalClock {
  now(): number;
  /** Calls `callback` after `delayMs`; a caller re-arms when woken early. */
  setTimer(callback: () => void, delayMs: number): unknown;
  clearTimer(timer: unknown): void;
}

/** setTimeout fires at once past 2^31-1 ms: a longer wait (rate(30 days)) wakes early and re-arms. */
const MAX_TIMEOUT_MS = 2 ** 31 - 1;

export const systemClock: LocalClock = {
  now: () => Date.now(),
  setTimer: (callback, delayMs) => {
    const timer = setTimeout(callback, Math.min(Math.max(0, delayMs), MAX_TIMEOUT_MS));
    // A local timer never keeps the process alive on its own.
    timer.unref();
    return timer;
  },
  clearTimer: (timer) => clearTimeout(timer as NodeJS.Timeout),
};

/** Lambda's waits before the asynchronous retries of a failed run (its documented one, then two minutes). */
const RETRY_DELAYS_MS = [60_000, 120_000];
type AsyncConfig = Omit<LocalEventInvokeConfig, "functionName" | "qualifier">;
/** Lambda's defaults for a function without an event invoke config. */
const DEFAULTS: AsyncConfig = { maximumRetryAttempts: 2, maximumEventAgeSeconds: 21600 };
/** Lambda's dead-letter message keeps the first kilobyte of the error message. */
const DLQ_ERROR_MESSAGE_BYTES = 1024;

/** An event Lambda accepted: which function and qualifier it was sent to. */
export interface AcceptedEvent {
  functionName: string;
  /** The alias or version invoked (`live`), if any. */
  qualifier?: string;
  event: unknown;
}

/** One step of an accepted event: a run and what Lambda does next. */
export interface AsyncStep extends AcceptedEvent {
  /** Lambda's run of the event: 1, then its retries. */
  run: number;
  result: InvokeResult;
  outcome: "succeeded" | "retrying" | "dead-lettered" | "dropped";
  /** The queues Lambda's record of the event, or the event, went to when it gave up. */
  queueNames?: string[];
  /** The outcome in words: when the retry comes, or where the event went. */
  detail: string;
}

export interface LocalAsyncInvocationsOptions {
  /**
   * Lambda's synchronous invoke of a function by physical name, under the given request id (an
   * event's retries keep its id, as on Lambda); throws when the cloud does not run it.
   */
  invoke(functionName: string, event: unknown, requestId?: string): Promise<InvokeResult>;
  /** Sends a message to a local queue by name; throws when the plan has no such queue. */
  sendMessage(
    queueName: string,
    body: string,
    attributes?: Record<string, { DataType: "String" | "Number"; StringValue: string }>,
  ): void;
  region: string;
  accountId: string;
  /** @default systemClock */
  clock?: LocalClock;
  /** Each step of an event accepted through `accept` (the caller of `complete` reports its own). */
  onStep?(step: AsyncStep): void;
}

export class LocalAsyncInvocations {
  readonly clock: LocalClock;
  private configs: LocalEventInvokeConfig[] = [];
  private deadLetterQueues = new Map<string, string>();
  private readonly sleepers = new Set<{ timer: unknown; wake(ran: boolean): void }>();
  /** Invocations under way (`idle` waits for none). */
  private running = 0;
  private readonly idleWaiters: (() => void)[] = [];
  private closed = false;

  constructor(private readonly options: LocalAsyncInvocationsOptions) {
    this.clock = options.clock ?? systemClock;
  }

  /** The plan's event invoke configs, and the functions' dead-letter queues. */
  apply(
    configs: LocalEventInvokeConfig[],
    functions: Pick<LocalFunction, "name" | "deadLetterQueueName">[],
  ): void {
    this.configs = configs;
    this.deadLetterQueues = new Map(
      functions.flatMap((fn) => (fn.deadLetterQueueName ? [[fn.name, fn.deadLetterQueueName]] : [])),
    );
  }

  /**
   * Accepts an event as Lambda's `Invoke` with `InvocationType: Event` does: at once, with a
   * request id; the runs happen after. `done` resolves with the event's last step.
   */
  accept(accepted: AcceptedEvent): { requestId: string; done: Promise<AsyncStep> } {
    const requestId = randomUUID();
    const acceptedAt = this.clock.now();
    const done = (async () => {
      await new Promise((resolve) => setImmediate(resolve));
      const first = await this.invoke(accepted.functionName, accepted.event, requestId);
      return this.complete(accepted, first, (step) => this.options.onStep?.(step), acceptedAt);
    })();
    done.catch((error: unknown) => {
      process.emitWarning(`asynchronous invoke of ${accepted.functionName}: ${(error as Error).message}`);
    });
    return { requestId, done };
  }

  /**
   * Lambda's side of an accepted event whose first run gave `first`: retries while it fails (under
   * the first run's request id), then gives up to the on-failure destination and dead-letter queue.
   * Each step goes to `report`; resolves with the last. `acceptedAt`: when Lambda took the event,
   * where its age counts from.
   */
  async complete(
    accepted: AcceptedEvent,
    first: InvokeResult,
    report: (step: AsyncStep) => void,
    acceptedAt: number = this.clock.now(),
  ): Promise<AsyncStep> {
    const done = (step: AsyncStep) => {
      report(step);
      return step;
    };
    const config = this.config(accepted);
    let result = first;
    for (let run = 1; ; run += 1) {
      const step = { ...accepted, run, result };
      if (!result.error) return done({ ...step, outcome: "succeeded", detail: "succeeded" });
      const delayMs = RETRY_DELAYS_MS[Math.min(run - 1, RETRY_DELAYS_MS.length - 1)];
      // The age matters only for a retry Lambda would make: with none left, the retries are spent.
      const retriesLeft = run <= config.maximumRetryAttempts;
      const tooOld =
        retriesLeft && this.clock.now() + delayMs - acceptedAt > config.maximumEventAgeSeconds * 1000;
      if (retriesLeft && !tooOld) {
        report({ ...step, outcome: "retrying", detail: `Lambda retries the event in ${delayMs / 1000} s` });
        if (!(await this.sleep(delayMs)))
          return { ...step, outcome: "dropped", detail: "the local cloud closed" };
        try {
          result = await this.invoke(accepted.functionName, accepted.event, first.requestId);
        } catch (error) {
          return done({ ...step, outcome: "dropped", detail: (error as Error).message });
        }
        continue;
      }
      return done(this.giveUp(step, config, tooOld));
    }
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

  /** Gives up every event waiting for a retry. */
  close(): void {
    this.closed = true;
    for (const sleeper of this.sleepers) {
      this.clock.clearTimer(sleeper.timer);
      sleeper.wake(false);
    }
    this.sleepers.clear();
  }

  /** Waits `delayMs` on the clock; false when the cloud closed meanwhile. */
  sleep(delayMs: number): Promise<boolean> {
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

  /** One run of a function, counted for `idle`. */
  async invoke(functionName: string, event: unknown, requestId?: string): Promise<InvokeResult> {
    this.running += 1;
    try {
      return await this.options.invoke(functionName, event, requestId);
    } finally {
      this.running -= 1;
      if (this.running === 0) for (const wake of this.idleWaiters.splice(0)) wake();
    }
  }

  private config(accepted: AcceptedEvent): AsyncConfig {
    const configs = this.configs.filter((c) => c.functionName === accepted.functionName);
    return (
      configs.find((c) => c.qualifier !== undefined && c.qualifier === accepted.qualifier) ??
      configs.find((c) => !c.qualifier) ??
      DEFAULTS
    );
  }

  /** Lambda gives up on an event: its record to the on-failure destination, the event to the DLQ. */
  private giveUp(
    step: Omit<AsyncStep, "outcome" | "detail">,
    config: AsyncConfig,
    tooOld: boolean,
  ): AsyncStep {
    const sent: string[] = [];
    const problems: string[] = [];
    const send = (
      queueName: string,
      body: string,
      attributes?: Parameters<LocalAsyncInvocationsOptions["sendMessage"]>[2],
    ) => {
      try {
        this.options.sendMessage(queueName, body, attributes);
        sent.push(queueName);
      } catch (error) {
        problems.push(`${queueName}: ${(error as Error).message}`);
      }
    };
    if (config.onFailureQueueName)
      send(config.onFailureQueueName, JSON.stringify(this.failureRecord(step, tooOld)));
    const deadLetterQueue = this.deadLetterQueues.get(step.functionName);
    if (deadLetterQueue) {
      const error = step.result.error;
      const message = error ? `${error.errorType}: ${error.errorMessage}` : "function error";
      send(deadLetterQueue, JSON.stringify(step.event), {
        RequestID: { DataType: "String", StringValue: step.result.requestId },
        // Lambda's HTTP status for the failed run: 200 for an error of the function itself.
        ErrorCode: { DataType: "Number", StringValue: "200" },
        ErrorMessage: {
          DataType: "String",
          StringValue: Buffer.from(message).subarray(0, DLQ_ERROR_MESSAGE_BYTES).toString(),
        },
      });
    }
    const why = `Lambda gave up after ${step.run} run${step.run === 1 ? "" : "s"}${tooOld ? " (the event passed its maximum age)" : ""}`;
    if (sent.length > 0)
      return {
        ...step,
        outcome: "dead-lettered",
        queueNames: sent,
        detail: `${why}: sent to ${sent.join(" and ")}${problems.length ? `; not to ${problems.join("; ")}` : ""}`,
      };
    return {
      ...step,
      outcome: "dropped",
      detail:
        problems.length > 0
          ? `${why}; its destinations failed: ${problems.join("; ")}`
          : `${why}; ${step.functionName} has no on-failure destination or dead-letter queue, so the event is dropped`,
    };
  }

  /** What Lambda sends an on-failure destination for an asynchronous event. */
  private failureRecord(step: Omit<AsyncStep, "outcome" | "detail">, tooOld: boolean): unknown {
    const { result } = step;
    return {
      version: "1.0",
      timestamp: new Date(this.clock.now()).toISOString(),
      requestContext: {
        requestId: result.requestId,
        functionArn: `arn:aws:lambda:${this.options.region}:${this.options.accountId}:function:${step.functionName}:${step.qualifier ?? "$LATEST"}`,
        condition: tooOld ? "EventAgeExceeded" : "RetriesExhausted",
        approximateInvokeCount: step.run,
      },
      requestPayload: step.event,
      responseContext: { statusCode: 200, executedVersion: "$LATEST", functionError: "Unhandled" },
      responsePayload: result.error,
    };
  }
}
