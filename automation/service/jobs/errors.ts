import type { Job } from "./types";

/*
 * What the job manager refuses, in both modes; automation/service/http/errors.ts gives each its
 * HTTP status. (A store that cannot take writes is StoreUnavailableError, group-commit.ts: 503.)
 */

/** Bad input for a job (unknown stage or region, invalid stage settings): HTTP 400. */
export class JobRequestError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "JobRequestError";
  }
}

/** A stack of the job is busy and the request did not ask to queue: HTTP 409. */
export class StackBusyError extends Error {
  constructor(
    readonly stackName: string,
    readonly jobId: string,
    readonly jobState: "running" | "queued",
  ) {
    super(
      jobState === "running"
        ? `stack "${stackName}" is busy with job ${jobId}; retry when it has finished, or ask to queue`
        : `stack "${stackName}" is busy: job ${jobId} is queued for it; retry when it has finished, or ask to queue`,
    );
    this.name = "StackBusyError";
  }
}

/** Too many jobs wait for their stacks already (`queue: true`): HTTP 429. */
export class QueueFullError extends Error {
  constructor(readonly limit: number) {
    super(
      `the job queue is full: ${limit} job(s) are waiting for their stacks (the limit, PLATFORM_QUEUE_LIMIT=${limit}); retry when some have run`,
    );
    this.name = "QueueFullError";
  }
}

/** The service is stopping and takes no new jobs: HTTP 503. */
export class ServiceStoppingError extends Error {
  constructor() {
    super("the service is stopping and takes no new jobs");
    this.name = "ServiceStoppingError";
  }
}

/** No such job: HTTP 404. */
export class JobNotFoundError extends Error {
  constructor(readonly jobId: string) {
    super(`no job ${jobId}`);
    this.name = "JobNotFoundError";
  }
}

/** Cancel of a job that already finished: HTTP 409. */
export class JobFinishedError extends Error {
  constructor(readonly job: Job) {
    super(`job ${job.id} has already finished (${job.state})`);
    this.name = "JobFinishedError";
  }
}
