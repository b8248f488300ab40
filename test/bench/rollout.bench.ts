/**
 * Rollout benchmark: the orchestrator's wall time against the ideal critical path, and its own
 * overhead per region. Run alone with `npx tsx test/bench/rollout.bench.ts`.
 */
import { delay } from "../../automation/engine/abort";
import { InMemoryEngine } from "../../automation/engine/in-memory";
import type { HealthGate } from "../../automation/rollout/health";
import { runRollout } from "../../automation/rollout/orchestrator";
import type { RegionTarget, RolloutEvent } from "../../automation/rollout/types";

const GATE_MS = 50;
const GATES = 3; // preview, up, health
const PARALLELISM = 4;
const REGION_COUNTS = [2, 8, 32];
const MAX_RATIO = 1.05;
const OVERHEAD_REGIONS = 2000;
const MAX_OVERHEAD_MS = 1;

function targets(count: number): RegionTarget[] {
  return Array.from({ length: count }, (_, index) => ({
    stage: "bench",
    region: `region-${String(index).padStart(4, "0")}`,
    stackName: index === 0 ? "bench" : `bench-region-${String(index).padStart(4, "0")}`,
    primary: index === 0,
  }));
}

async function rollout(
  regions: number,
  gateMs: number,
  parallelism: number,
): Promise<{ wallMs: number; maxConcurrent: number; failed: boolean }> {
  const engine = new InMemoryEngine({ defaults: { durations: { preview: gateMs, up: gateMs } } });
  const health: HealthGate = ({ signal }) => delay(gateMs, signal);
  // A listener, as the CLI and the HTTP service have one.
  let events = 0;
  const onEvent = (_event: RolloutEvent) => {
    events++;
  };
  const started = performance.now();
  const report = await runRollout({
    engine,
    stage: "bench",
    targets: targets(regions),
    parallelism,
    health,
    onEvent,
  });
  const wallMs = performance.now() - started;
  return {
    wallMs,
    maxConcurrent: engine.maxConcurrent,
    failed: report.status !== "succeeded" || events === 0,
  };
}

/** Wall time against the ideal critical path: canary + ceil(n / parallelism) x region time. */
async function criticalPath(): Promise<string[]> {
  const problems: string[] = [];
  const regionMs = GATES * GATE_MS;
  console.log(
    `rollout: wall time vs ideal critical path (in-memory engine, ${GATE_MS} ms per gate x ${GATES} gates, parallelism ${PARALLELISM})`,
  );
  console.log("  regions    wall ms   ideal ms   ratio");
  await rollout(2, 1, PARALLELISM); // warm-up
  for (const count of REGION_COUNTS) {
    const ideal = regionMs * (1 + Math.ceil(count / PARALLELISM));
    const { wallMs, maxConcurrent, failed } = await rollout(1 + count, GATE_MS, PARALLELISM);
    const ratio = wallMs / ideal;
    console.log(
      `  1+${String(count).padEnd(7)} ${wallMs.toFixed(1).padStart(8)}  ${ideal.toFixed(1).padStart(9)}   ${ratio.toFixed(3)}`,
    );
    if (failed) problems.push(`1+${count} regions: the rollout did not succeed`);
    if (maxConcurrent > PARALLELISM)
      problems.push(`1+${count} regions: ${maxConcurrent} regions ran at once`);
    if (ratio > MAX_RATIO) {
      problems.push(
        `1+${count} regions: wall ${wallMs.toFixed(1)} ms is ${ratio.toFixed(3)}x the ideal (max ${MAX_RATIO})`,
      );
    }
    if (ratio < 0.98)
      problems.push(`1+${count} regions: faster than the critical path (${ratio.toFixed(3)}x): bound broken`);
  }
  return problems;
}

/** The orchestrator's own cost: zero-duration engine operations and health gate, many regions. */
async function overhead(): Promise<string[]> {
  await rollout(200, 0, PARALLELISM); // warm-up
  const samples: number[] = [];
  for (let i = 0; i < 3; i++) samples.push((await rollout(OVERHEAD_REGIONS, 0, PARALLELISM)).wallMs);
  const best = Math.min(...samples);
  const perRegionMs = best / OVERHEAD_REGIONS;
  console.log(
    `rollout: orchestrator overhead ${(perRegionMs * 1000).toFixed(1)} µs per region (${OVERHEAD_REGIONS} regions, zero-duration gates, best of 3: ${best.toFixed(1)} ms)`,
  );
  return perRegionMs < MAX_OVERHEAD_MS
    ? []
    : [`overhead ${perRegionMs.toFixed(3)} ms per region (max ${MAX_OVERHEAD_MS} ms)`];
}

export async function run(): Promise<void> {
  const problems = [...(await criticalPath()), ...(await overhead())];
  if (problems.length > 0)
    throw new Error(`rollout benchmark missed its targets:\n  ${problems.join("\n  ")}`);
  console.log("rollout: all targets met");
}

if (require.main === module) {
  run().catch((error) => {
    console.error(error instanceof Error ? error.message : error);
    process.exitCode = 1;
  });
}
