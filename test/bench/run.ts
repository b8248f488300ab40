/**
 * `npm run bench`: runs each benchmark module in turn. A module exports `run()`, which prints its
 * figures and throws when a target is missed; every module runs even if an earlier one failed.
 * `npm run bench -- service policy` runs only the named ones.
 */

interface BenchModule {
  run(): Promise<void>;
}

/** Add new benchmarks here; they run in this order, one at a time, so they do not skew each other. */
const BENCHMARKS: { name: string; load: () => Promise<BenchModule> }[] = [
  { name: "bundle", load: () => import("./bundle.bench") },
  { name: "policy", load: () => import("./policy.bench") },
  { name: "rollout", load: () => import("./rollout.bench") },
  { name: "service", load: () => import("./service.bench") },
  { name: "local", load: () => import("./local.bench") },
  { name: "plan", load: () => import("./plan.bench") },
];

async function main(): Promise<void> {
  const wanted = process.argv.slice(2);
  const known = BENCHMARKS.map((benchmark) => benchmark.name);
  const unknown = wanted.filter((name) => !known.includes(name));
  if (unknown.length > 0) {
    console.error(`unknown benchmark(s): ${unknown.join(", ")}; choose from: ${known.join(", ")}`);
    process.exitCode = 2;
    return;
  }
  const chosen = wanted.length > 0 ? BENCHMARKS.filter((b) => wanted.includes(b.name)) : BENCHMARKS;
  const failed: string[] = [];
  for (const benchmark of chosen) {
    console.log(`\n=== ${benchmark.name}`);
    try {
      await (await benchmark.load()).run();
    } catch (error) {
      failed.push(benchmark.name);
      console.error(`${benchmark.name} failed: ${error instanceof Error ? error.message : String(error)}`);
    }
  }
  if (failed.length > 0) {
    console.error(`\n${failed.length} of ${chosen.length} benchmarks failed: ${failed.join(", ")}`);
    process.exitCode = 1;
  }
}

void main();
