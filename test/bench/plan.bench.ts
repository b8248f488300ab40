/**
 * `npm run bench -- plan`: the offline plan's inner loop (issue 15). Prints, each as a median and as
 * a ratio to the floor: the floor (`require("@pulumi/aws")` in a fresh process), a cold plan of dev
 * (empty caches, new host), a warm plan of dev (caches filled, new host), dev + prod planned and
 * policy-checked (in this process, and as the command `platform policy dev prod` from a fresh
 * process, which is what the CDK figure of the issue is), the three prod region stacks, and a warm
 * planner's re-plan; then where a plan's time goes (host phases, and a CPU profile of a host by
 * package). Throws when a target is missed.
 */
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { closureCacheDir } from "../../automation/plan/closure-cache";
import { Planner, PROJECT_DIR } from "../../automation/plan/plan";
import type { PlanPhases } from "../../automation/plan/types";
import { evaluatePlan } from "../../automation/policy/evaluate";
import { bundleCacheDir } from "../../components/bundle-cache";

const TARGETS = { devProdPolicyMs: 4000, warmPlanFloorRatio: 2, replanMs: 300 };

const median = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
};

async function timed(runs: number, once: () => Promise<unknown> | unknown): Promise<number> {
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    const started = performance.now();
    await once();
    times.push(performance.now() - started);
  }
  return median(times);
}

/** A fresh planner for one measurement, closed after it: every figure but the re-plan starts hosts. */
async function withPlanner<T>(use: (planner: Planner) => Promise<T>, maxHosts?: number): Promise<T> {
  const planner = new Planner({ maxHosts });
  try {
    return await use(planner);
  } finally {
    planner.close();
  }
}

/** Self time of a CPU profile by package (or project folder), largest first. */
function profileByPackage(file: string): [string, number][] {
  const profile = JSON.parse(fs.readFileSync(file, "utf8")) as {
    nodes: { id: number; callFrame: { url: string; functionName: string } }[];
    samples: number[];
    timeDeltas: number[];
  };
  const nodes = new Map(profile.nodes.map((node) => [node.id, node]));
  const totals = new Map<string, number>();
  profile.samples.forEach((id, i) => {
    const { url, functionName } = nodes.get(id)?.callFrame ?? { url: "", functionName: "?" };
    const pkg = /node_modules\/((@[^/]+\/)?[^/]+)/.exec(url)?.[1];
    const key =
      pkg ??
      (url.startsWith("node:")
        ? "node (internals: module loader, streams)"
        : url
          ? path.relative(PROJECT_DIR, new URL(url).pathname).split(path.sep)[0]
          : functionName);
    totals.set(key, (totals.get(key) ?? 0) + (profile.timeDeltas[i] ?? 0) / 1000);
  });
  return [...totals].sort((a, b) => b[1] - a[1]);
}

export async function run(): Promise<void> {
  const cpus = os.availableParallelism();
  console.log(`machine: ${cpus} CPUs, load average ${os.loadavg()[0].toFixed(2)}`);
  const floor = await timed(5, () =>
    spawnSync(process.execPath, ["-e", 'require("@pulumi/aws")'], { cwd: PROJECT_DIR }),
  );
  const ratio = (ms: number) => `${Math.round(ms)} ms (${(ms / floor).toFixed(2)}x floor)`;
  console.log(`floor, require("@pulumi/aws") in a fresh process: ${Math.round(floor)} ms`);

  const cold = await timed(2, () => {
    fs.rmSync(bundleCacheDir(PROJECT_DIR), { recursive: true, force: true });
    fs.rmSync(closureCacheDir(PROJECT_DIR), { recursive: true, force: true });
    return withPlanner((planner) => planner.plan("dev"));
  });
  console.log(`cold plan of dev (empty bundle and provider caches, new host): ${ratio(cold)}`);

  let warmPhases: PlanPhases | undefined;
  const warm = await timed(3, () =>
    withPlanner((planner) => planner.plan("dev", { onPhases: (phases) => (warmPhases = phases) })),
  );
  console.log(`warm plan of dev (bundles cached, new host): ${ratio(warm)}`);

  const devProd = await timed(3, () =>
    withPlanner(async (planner) => {
      const plans = await planner.planMany(["dev", "prod"]);
      return Promise.all(plans.map((plan) => evaluatePlan(plan)));
    }),
  );
  console.log(`dev + prod planned and policy-checked (new hosts, ${cpus} at once): ${ratio(devProd)}`);

  // The command a user runs, from a fresh process: tsx, the CLI, the hosts, the policy pack.
  const cli = await timed(3, () => {
    const run = spawnSync(
      process.execPath,
      ["bin/platform.js", "policy", "dev", "prod", "--format", "json"],
      {
        cwd: PROJECT_DIR,
        encoding: "utf8",
      },
    );
    const reports = JSON.parse(run.stdout) as unknown[];
    if (run.status !== 0 || reports.length !== 2) throw new Error(`platform policy dev prod: ${run.stderr}`);
  });
  console.log(`platform policy dev prod, the command from a fresh process: ${ratio(cli)}`);

  const regions = await timed(3, () =>
    withPlanner((planner) => planner.planMany(["prod", "prod-us-west-2", "prod-eu-west-1"])),
  );
  console.log(`the three prod region stacks (new hosts): ${ratio(regions)}`);

  const phases: PlanPhases[] = [];
  const replan = await withPlanner(async (planner) => {
    await planner.plan("dev");
    return timed(7, () => planner.plan("dev", { onPhases: (p) => phases.push(p) }));
  }, 1);
  console.log(`warm planner's re-plan of dev: ${ratio(replan)}`);

  console.log("\nwhere a plan's time goes (host phases, ms):");
  console.log(`  warm plan, new host: ${JSON.stringify(warmPhases)}`);
  console.log(`  re-plan (median run): ${JSON.stringify(phases[Math.floor(phases.length / 2)])}`);

  // A CPU profile of one host: a first plan (SDK loading) and four re-plans.
  const profileDir = fs.mkdtempSync(path.join(os.tmpdir(), "platform-plan-profile-"));
  try {
    const profiled = new Planner({
      maxHosts: 1,
      hostExecArgv: ["--cpu-prof", `--cpu-prof-dir=${profileDir}`],
    });
    for (let i = 0; i < 5; i++) await profiled.plan("dev");
    profiled.close();
    const deadline = Date.now() + 10_000;
    while (fs.readdirSync(profileDir).length === 0 && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    const [file] = fs.readdirSync(profileDir);
    if (file) {
      const byPackage = profileByPackage(path.join(profileDir, file));
      const total = byPackage.reduce((sum, [, ms]) => sum + ms, 0);
      console.log(`  CPU profile of a host (first plan + 4 re-plans, ${Math.round(total)} ms), self time:`);
      for (const [name, ms] of byPackage.slice(0, 12)) {
        console.log(
          `    ${String(Math.round(ms)).padStart(6)} ms  ${((100 * ms) / total).toFixed(1).padStart(5)}%  ${name}`,
        );
      }
    }
  } finally {
    fs.rmSync(profileDir, { recursive: true, force: true });
  }

  const missed: string[] = [];
  if (devProd > TARGETS.devProdPolicyMs)
    missed.push(`dev + prod with policy ${Math.round(devProd)} ms > 4000 ms`);
  if (cli > TARGETS.devProdPolicyMs) missed.push(`platform policy dev prod ${Math.round(cli)} ms > 4000 ms`);
  if (warm > TARGETS.warmPlanFloorRatio * floor)
    missed.push(`warm plan ${(warm / floor).toFixed(2)}x the floor > 2x`);
  if (replan > TARGETS.replanMs) missed.push(`re-plan ${Math.round(replan)} ms > 300 ms`);
  if (missed.length > 0) throw new Error(`targets missed: ${missed.join("; ")}`);
}
