import { collectDefaultMetrics, Gauge, Histogram, Registry } from "prom-client";
import type { JobStoreApi } from "./jobs/store-api";
import { FINISHED_STATES, JOB_KINDS, JOB_STATES, type Job } from "./jobs/types";

/** Job durations' buckets, in seconds: from an in-memory preview to a long multi-region rollout. */
const DURATION_BUCKETS = [0.1, 0.5, 1, 5, 15, 30, 60, 120, 300, 600, 1200, 2400];

/**
 * The service's Prometheus metrics (`GET /metrics`), on a registry of its own: jobs by kind and
 * state (read from the store at scrape time, so they survive restarts), job durations, the drifted
 * resources of each stack's last drift check, and the process's default metrics.
 */
export class ServiceMetrics {
  readonly registry = new Registry();
  private readonly durations: Histogram<"kind" | "state">;
  /** Counts the open event streams (set by the HTTP server). */
  openStreams: () => number = () => 0;

  constructor(store: JobStoreApi) {
    const registry = this.registry;
    new Gauge({
      name: "platform_jobs",
      help: "Jobs in the store, by kind and state.",
      labelNames: ["kind", "state"],
      registers: [registry],
      async collect() {
        // Read from the store (shared by the replicas: every replica answers the same).
        const rows = await store.countByKindAndState();
        this.reset();
        // Every combination, so that a state with no job reads 0 instead of vanishing.
        for (const kind of JOB_KINDS) for (const state of JOB_STATES) this.set({ kind, state }, 0);
        for (const row of rows) this.set({ kind: row.kind, state: row.state }, row.count);
      },
    });
    this.durations = new Histogram({
      name: "platform_job_duration_seconds",
      help: "Duration of finished jobs (from start to finish), by kind and final state.",
      labelNames: ["kind", "state"],
      buckets: DURATION_BUCKETS,
      registers: [registry],
    });
    new Gauge({
      name: "platform_drifted_resources",
      help: "Resources found drifted by the last drift check of each stack.",
      labelNames: ["stack"],
      registers: [registry],
      async collect() {
        const statuses = await store.stackStatuses();
        this.reset();
        for (const status of statuses.values()) {
          if (status.drift?.driftedCount !== undefined) {
            this.set({ stack: status.stackName }, status.drift.driftedCount);
          }
        }
      },
    });
    const streams = () => this.openStreams();
    new Gauge({
      name: "platform_event_streams",
      help: "Open Server-Sent Events streams (GET /jobs/:id/events).",
      registers: [registry],
      collect() {
        this.set(streams());
      },
    });
    collectDefaultMetrics({ register: registry, prefix: "platform_service_" });
  }

  /** Records a finished job's duration. */
  observe(job: Job): void {
    if (!FINISHED_STATES.has(job.state) || job.durationMs === undefined || !job.startedAt) return;
    this.durations.observe({ kind: job.kind, state: job.state }, job.durationMs / 1000);
  }
}
