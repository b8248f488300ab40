import { execFile } from "node:child_process";
import { mkdir, rm, writeFile } from "node:fs/promises";
import * as path from "node:path";
import { pathToFileURL } from "node:url";
import { promisify } from "node:util";
import * as esbuild from "esbuild";
import { bundleHandler, PROJECT_ROOT } from "../../components/bundle";

/**
 * Our handler bundles against what CDK's `NodejsFunction` builds by default, for each API handler:
 * size on disk and the median time a fresh Node process takes to import the module.
 */

interface HandlerEntry {
  name: string;
  entry: string;
}

const HANDLERS: HandlerEntry[] = [
  { name: "users/list", entry: "functions/users/list.ts" },
  { name: "users/get", entry: "functions/users/get.ts" },
  { name: "users/create", entry: "functions/users/create.ts" },
  { name: "users/update", entry: "functions/users/update.ts" },
  { name: "users/delete", entry: "functions/users/delete.ts" },
  { name: "health", entry: "functions/health/index.ts" },
];

/** Targets: small enough to keep cold starts and archive uploads cheap. */
const MAX_BYTES = 30 * 1024;
const MIN_SIZE_RATIO = 3;
/** Cold imports per bundle; the median resists the odd slow spawn. */
const RUNS = 15;

// Inside the project, so that the bundles' external `@aws-sdk/*` imports resolve from its node_modules.
const OUTPUT_DIR = path.join(PROJECT_ROOT, "test-output", "bench", "bundle");

const IMPORT_TIMER =
  "const t = performance.now(); await import(process.argv[1]); console.log(performance.now() - t);";

const execFileAsync = promisify(execFile);

interface Measurement {
  name: string;
  oursBytes: number;
  cdkBytes: number;
  oursMs: number;
  cdkMs: number;
}

/** What `NodejsFunction` runs when given only an entry and a `nodejs22.x` runtime. */
async function buildCdkDefault(entry: string, outfile: string): Promise<number> {
  const result = await esbuild.build({
    absWorkingDir: PROJECT_ROOT,
    entryPoints: [path.join(PROJECT_ROOT, entry)],
    bundle: true,
    platform: "node",
    format: "cjs",
    target: "node22",
    minify: false,
    sourcemap: false,
    external: ["@aws-sdk/*"],
    outfile,
    metafile: true,
    logLevel: "silent",
  });
  return Object.values(result.metafile.outputs)[0].bytes;
}

interface WrittenBundles {
  ours: { file: string; bytes: number };
  cdk: { file: string; bytes: number };
}

async function writeBundles(handler: HandlerEntry): Promise<WrittenBundles> {
  const dir = path.join(OUTPUT_DIR, handler.name.replace("/", "-"));
  const ours = path.join(dir, "ours", "index.mjs");
  const cdk = path.join(dir, "cdk", "index.js");
  await mkdir(path.dirname(ours), { recursive: true });
  await mkdir(path.dirname(cdk), { recursive: true });
  const bundle = bundleHandler(handler.entry);
  await writeFile(ours, bundle.code);
  await writeFile(path.join(path.dirname(ours), bundle.mapFileName), bundle.map);
  const cdkBytes = await buildCdkDefault(handler.entry, cdk);
  // Lambda runs `index.js` as CommonJS unless a package.json says otherwise; pin it so the project's doesn't.
  await writeFile(path.join(path.dirname(cdk), "package.json"), '{"type":"commonjs"}\n');
  return { ours: { file: ours, bytes: bundle.bytes }, cdk: { file: cdk, bytes: cdkBytes } };
}

/** Milliseconds a fresh `node` takes to import `file`, as the process itself measures it. */
async function coldImportMs(file: string): Promise<number> {
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    AWS_REGION: "us-east-1",
    TABLE_NAME: "bench-users",
    POWERTOOLS_LOG_LEVEL: "SILENT",
    AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: "true",
  };
  // tsx's loader would otherwise be inherited and slow every import down.
  delete env.NODE_OPTIONS;
  const { stdout } = await execFileAsync(
    process.execPath,
    ["--input-type=module", "-e", IMPORT_TIMER, pathToFileURL(file).href],
    { cwd: PROJECT_ROOT, env },
  );
  const ms = Number.parseFloat(stdout.trim());
  if (!Number.isFinite(ms)) throw new Error(`cannot read an import time from ${JSON.stringify(stdout)}`);
  return ms;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
}

async function measure(handler: HandlerEntry): Promise<Measurement> {
  const bundles = await writeBundles(handler);
  // One unmeasured import each fills the file cache; then alternate so drift hits both alike.
  await coldImportMs(bundles.ours.file);
  await coldImportMs(bundles.cdk.file);
  const ours: number[] = [];
  const cdk: number[] = [];
  for (let run = 0; run < RUNS; run++) {
    ours.push(await coldImportMs(bundles.ours.file));
    cdk.push(await coldImportMs(bundles.cdk.file));
  }
  return {
    name: handler.name,
    oursBytes: bundles.ours.bytes,
    cdkBytes: bundles.cdk.bytes,
    oursMs: median(ours),
    cdkMs: median(cdk),
  };
}

function failures(measurement: Measurement): string[] {
  const problems: string[] = [];
  if (measurement.oursBytes > MAX_BYTES) problems.push(`${measurement.oursBytes} B > ${MAX_BYTES} B`);
  if (measurement.cdkBytes / measurement.oursBytes < MIN_SIZE_RATIO) {
    problems.push(`only ${(measurement.cdkBytes / measurement.oursBytes).toFixed(2)}x smaller than CDK's`);
  }
  return problems;
}

function printTable(measurements: Measurement[]): void {
  const header = [
    "handler",
    "bytes ours / CDK",
    "size ratio",
    "cold import ms ours / CDK",
    "time ratio",
    "result",
  ];
  const rows = measurements.map((m) => {
    const problems = failures(m);
    return [
      m.name,
      `${m.oursBytes} / ${m.cdkBytes}`,
      `${(m.cdkBytes / m.oursBytes).toFixed(2)}x`,
      `${m.oursMs.toFixed(1)} / ${m.cdkMs.toFixed(1)}`,
      `${(m.cdkMs / m.oursMs).toFixed(2)}x`,
      problems.length === 0 ? "PASS" : `FAIL (${problems.join("; ")})`,
    ];
  });
  const widths = header.map((title, column) =>
    Math.max(title.length, ...rows.map((row) => row[column].length)),
  );
  const line = (cells: string[]) => cells.map((cell, column) => cell.padEnd(widths[column])).join(" | ");
  console.log(line(header));
  console.log(widths.map((width) => "-".repeat(width)).join("-|-"));
  for (const row of rows) console.log(line(row));
  console.log(
    `\nTargets: at most ${MAX_BYTES} bytes and at least ${MIN_SIZE_RATIO}x smaller than CDK's default ` +
      `(CommonJS, not minified, node22, @aws-sdk/* external). Times: median of ${RUNS} cold imports ` +
      `in fresh node ${process.version} processes; ratios are CDK / ours.`,
  );
}

export async function run(): Promise<void> {
  await rm(OUTPUT_DIR, { recursive: true, force: true });
  const measurements: Measurement[] = [];
  for (const handler of HANDLERS) measurements.push(await measure(handler));
  printTable(measurements);
  const missed = measurements.filter((m) => failures(m).length > 0).map((m) => m.name);
  if (missed.length > 0) throw new Error(`bundle targets missed by ${missed.join(", ")}`);
}
