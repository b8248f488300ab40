import { execFile } from "node:child_process";
import { mkdir, rm, writeFile } from "node:fs/promises";
import * as path from "node:path";
import { promisify } from "node:util";
import * as esbuild from "esbuild";
import { FunctionPool } from "../../automation/local/functions";
import { type Bundle, bundleHandler, PROJECT_ROOT } from "../../components/bundle";

/**
 * Our handler bundles against what CDK's `NodejsFunction` builds by default, for every handler the
 * platform deploys (API routes and CodeDeploy hooks): the time a fresh Node process takes to import
 * the handler as Lambda's Node.js runtime does (the judge), the files that import loads, and sizes.
 *
 * How Lambda is modelled: the runtime's bootstrap is an ES module that `require`s `index.js` (no
 * `"type": "module"`) and `import()`s `index.mjs`; the timer below does the same, as an ES module.
 * CDK's bundle leaves `@aws-sdk/*` external, which Lambda resolves from the SDK it ships under
 * /var/runtime/node_modules (CommonJS builds, one file per package). Here they resolve from this
 * project's node_modules, walking up from the bundle's folder as Lambda walks up from /var/task:
 * `require` takes each package's `main`/`node` export, its `dist-cjs` build, the same format as
 * Lambda's (the counting run checks that no `dist-es` file is loaded). What differs: the SDK's
 * version, and the page cache: one unmeasured import per bundle warms it here, while on Lambda the
 * runtime's SDK files may be cold on disk, which only makes CDK's 30-odd files slower there.
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
  { name: "hooks/pre-traffic", entry: "functions/hooks/pre-traffic.ts" },
  { name: "hooks/post-traffic", entry: "functions/hooks/post-traffic.ts" },
];

/** The judge: our cold import takes at most this fraction of CDK's default bundle's. */
const MAX_TIME_RATIO = 0.7;
/** A handler that loads no AWS SDK has no reason to grow past this. */
const MAX_BYTES_WITHOUT_SDK = 30 * 1024;
/** Cold imports per bundle (fresh processes, interleaved with CDK's); the median resists the odd slow spawn. */
const RUNS = 21;
/** Cold starts per handler in the local cloud's Lambda worker. */
const LOCAL_RUNS = 5;

// Inside the project, so that CDK's external `@aws-sdk/*` imports resolve from its node_modules.
const OUTPUT_DIR = path.join(PROJECT_ROOT, "test-output", "bench", "bundle");

/** Loads the handler as Lambda's runtime does and prints the milliseconds it took. */
const IMPORT_TIMER = `
import { createRequire } from "node:module";
import { pathToFileURL } from "node:url";
const file = process.argv[2];
const require = createRequire(file);
const started = performance.now();
const loaded = file.endsWith(".mjs") ? await import(pathToFileURL(file).href) : require(file);
const ms = performance.now() - started;
if (typeof loaded.handler !== "function") throw new Error(file + " exports no handler");
console.log(ms);`;

/** Hooks the ES module loader sees every file through (in its own thread, so only for counting). */
const LOAD_HOOKS = `
let port;
export function initialize(data) { port = data.port; }
export async function load(url, context, next) {
  if (url.startsWith("file:")) port.postMessage(url);
  return next(url, context);
}`;

/** Loads the handler the same way and prints the files loaded: ES modules via the hook, CommonJS via require.cache. */
const FILE_COUNTER = `
import { createRequire, register } from "node:module";
import { fileURLToPath, pathToFileURL } from "node:url";
import { MessageChannel } from "node:worker_threads";
const file = process.argv[2];
const require = createRequire(file);
const files = new Set();
const { port1, port2 } = new MessageChannel();
port1.on("message", (url) => files.add(fileURLToPath(url)));
register("data:text/javascript," + encodeURIComponent(${JSON.stringify(LOAD_HOOKS)}), pathToFileURL(file).href, {
  data: { port: port2 },
  transferList: [port2],
});
const before = new Set(Object.keys(require.cache));
await (file.endsWith(".mjs") ? import(pathToFileURL(file).href) : Promise.resolve(require(file)));
for (const key of Object.keys(require.cache)) if (!before.has(key)) files.add(key);
await new Promise((resolve) => setTimeout(resolve, 200));
port1.close();
const list = [...files];
console.log(JSON.stringify({
  files: list.length,
  sdkCommonJs: list.filter((f) => f.includes("/dist-cjs/")).length,
  sdkEsm: list.filter((f) => f.includes("/dist-es/")).length,
}));`;

/** What a Lambda function's process has at cold start that the handlers read. */
const LAMBDA_ENVIRONMENT = {
  AWS_REGION: "us-east-1",
  AWS_ACCESS_KEY_ID: "AKIDBENCH",
  AWS_SECRET_ACCESS_KEY: "bench",
  AWS_LAMBDA_FUNCTION_NAME: "bench",
  TABLE_NAME: "bench-users",
  POWERTOOLS_LOG_LEVEL: "SILENT",
  AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: "true",
};

const execFileAsync = promisify(execFile);

interface FileCount {
  files: number;
  sdkCommonJs: number;
  sdkEsm: number;
}

interface Measurement {
  name: string;
  ours: Bundle;
  cdkBytes: number;
  importsSdk: boolean;
  oursMs: number;
  cdkMs: number;
  oursWithSourceMapsMs: number;
  localCloudMs: number;
  oursFiles: FileCount;
  cdkFiles: FileCount;
}

/** What `NodejsFunction` runs when given only an entry and a `nodejs22.x` runtime. */
async function buildCdkDefault(
  entry: string,
  outfile: string,
): Promise<{ bytes: number; importsSdk: boolean }> {
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
  const output = Object.values(result.metafile.outputs)[0];
  return {
    bytes: output.bytes,
    importsSdk: output.imports.some((imported) => imported.external && imported.path.startsWith("@aws-sdk/")),
  };
}

interface WrittenBundles {
  ours: { dir: string; file: string; bundle: Bundle };
  cdk: { file: string; bytes: number; importsSdk: boolean };
}

async function writeBundles(handler: HandlerEntry): Promise<WrittenBundles> {
  const dir = path.join(OUTPUT_DIR, handler.name.replace("/", "-"));
  const oursDir = path.join(dir, "ours");
  const cdk = path.join(dir, "cdk", "index.js");
  await mkdir(oursDir, { recursive: true });
  await mkdir(path.dirname(cdk), { recursive: true });
  // Every file of the archive, as Lambda unpacks it into /var/task.
  const bundle = bundleHandler(handler.entry);
  for (const [name, text] of Object.entries(bundle.files)) await writeFile(path.join(oursDir, name), text);
  const built = await buildCdkDefault(handler.entry, cdk);
  // Lambda runs `index.js` as CommonJS unless a package.json says otherwise; pin it so the project's doesn't.
  await writeFile(path.join(path.dirname(cdk), "package.json"), '{"type":"commonjs"}\n');
  return {
    ours: { dir: oursDir, file: path.join(oursDir, bundle.fileName), bundle },
    cdk: { file: cdk, ...built },
  };
}

// Files, not \`node -e\`: Lambda's bootstrap is a file (/var/runtime/index.mjs) that has imported other
// files before it loads the handler, so the loader's file machinery is warm; under -e it is not yet.
const TIMER_FILE = path.join(OUTPUT_DIR, "import-timer.mjs");
const COUNTER_FILE = path.join(OUTPUT_DIR, "file-counter.mjs");

async function runNode(script: string, file: string, nodeOptions?: string): Promise<string> {
  const env: NodeJS.ProcessEnv = { ...process.env, ...LAMBDA_ENVIRONMENT };
  // tsx's loader would otherwise be inherited and slow every import down.
  delete env.NODE_OPTIONS;
  if (nodeOptions) env.NODE_OPTIONS = nodeOptions;
  const { stdout } = await execFileAsync(process.execPath, [script, file], { cwd: PROJECT_ROOT, env });
  return stdout.trim();
}

/** Milliseconds a fresh `node` takes to load `file` as Lambda's runtime would, as the process measures it. */
async function coldImportMs(file: string, nodeOptions?: string): Promise<number> {
  const stdout = await runNode(TIMER_FILE, file, nodeOptions);
  const ms = Number.parseFloat(stdout);
  if (!Number.isFinite(ms)) throw new Error(`cannot read an import time from ${JSON.stringify(stdout)}`);
  return ms;
}

async function countFiles(file: string): Promise<FileCount> {
  return JSON.parse(await runNode(COUNTER_FILE, file)) as FileCount;
}

/** The init time the local cloud reports for a cold request, on the very archive files. */
async function localCloudInitMs(handler: HandlerEntry, codeDir: string, bundle: Bundle): Promise<number> {
  const pool = new FunctionPool(
    {
      name: "bench",
      logicalName: "bench-function",
      handler: "index.handler",
      files: Object.fromEntries(Object.keys(bundle.files).map((name) => [name, name])),
      environment: { TABLE_NAME: LAMBDA_ENVIRONMENT.TABLE_NAME, POWERTOOLS_LOG_LEVEL: "SILENT" },
      memoryMb: 256,
      timeoutSeconds: 10,
      architecture: "arm64",
      runtime: "nodejs22.x",
    },
    { codeDir, baseEnvironment: {}, region: "us-east-1", accountId: "123456789012", maxWorkers: 1 },
  );
  try {
    // A null event is answered (or rejected) before any I/O: the figure is the import alone.
    const result = await pool.invoke(null);
    if (!result.cold || result.initDurationMs === undefined) {
      throw new Error(`${handler.name}: the local cloud reported no cold start`);
    }
    return result.initDurationMs;
  } finally {
    await pool.close();
  }
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
}

async function measure(handler: HandlerEntry): Promise<Measurement> {
  const bundles = await writeBundles(handler);
  const withSourceMaps = "--enable-source-maps";
  // One unmeasured import each fills the file cache; then interleave so that the load of a shared
  // machine hits every variant alike.
  await coldImportMs(bundles.ours.file);
  await coldImportMs(bundles.cdk.file);
  const ours: number[] = [];
  const cdk: number[] = [];
  const oursWithSourceMaps: number[] = [];
  const local: number[] = [];
  for (let run = 0; run < RUNS; run++) {
    ours.push(await coldImportMs(bundles.ours.file));
    cdk.push(await coldImportMs(bundles.cdk.file));
    oursWithSourceMaps.push(await coldImportMs(bundles.ours.file, withSourceMaps));
    if (run < LOCAL_RUNS) local.push(await localCloudInitMs(handler, bundles.ours.dir, bundles.ours.bundle));
  }
  return {
    name: handler.name,
    ours: bundles.ours.bundle,
    cdkBytes: bundles.cdk.bytes,
    importsSdk: bundles.cdk.importsSdk,
    oursMs: median(ours),
    cdkMs: median(cdk),
    oursWithSourceMapsMs: median(oursWithSourceMaps),
    localCloudMs: median(local),
    oursFiles: await countFiles(bundles.ours.file),
    cdkFiles: await countFiles(bundles.cdk.file),
  };
}

function failures(m: Measurement): string[] {
  const problems: string[] = [];
  const ratio = m.oursMs / m.cdkMs;
  if (!(ratio <= MAX_TIME_RATIO)) {
    problems.push(`cold import ${ratio.toFixed(2)}x CDK's, target <= ${MAX_TIME_RATIO}x`);
  }
  if (!m.importsSdk && m.ours.totalBytes > MAX_BYTES_WITHOUT_SDK) {
    problems.push(`${m.ours.totalBytes} B > ${MAX_BYTES_WITHOUT_SDK} B with no AWS SDK to account for it`);
  }
  if (m.cdkFiles.sdkEsm > 0) problems.push("CDK's external SDK loaded ES module builds, unlike Lambda's");
  return problems;
}

function printTable(measurements: Measurement[]): void {
  const header = [
    "handler",
    "cold import ms ours / CDK",
    "ratio",
    "files ours / CDK",
    "bytes loaded ours / CDK",
    "archive JS",
    "+source maps ms",
    "local cloud ms",
    "result",
  ];
  const rows = measurements.map((m) => {
    const problems = failures(m);
    return [
      m.name,
      `${m.oursMs.toFixed(1)} / ${m.cdkMs.toFixed(1)}`,
      `${(m.oursMs / m.cdkMs).toFixed(2)}x`,
      `${m.oursFiles.files} / ${m.cdkFiles.files} (${m.cdkFiles.sdkCommonJs} SDK CJS)`,
      `${m.ours.bytes} / ${m.cdkBytes}`,
      `${m.ours.totalBytes} in ${Object.keys(m.ours.files).length / 2}`,
      m.oursWithSourceMapsMs.toFixed(1),
      m.localCloudMs.toFixed(1),
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
    `\nTarget: each handler's cold import at most ${MAX_TIME_RATIO}x CDK's default bundle's (CommonJS, not ` +
      `minified, node22, @aws-sdk/* external and resolved as CommonJS), median of ${RUNS} fresh node ` +
      `${process.version} processes each, interleaved; ratio = ours / CDK. "bytes loaded" is what the ` +
      `cold import reads (ours: the entry and its static chunks; CDK: its file, not counting the SDK's). ` +
      `"archive JS" is every module in our archive, lazy chunks included, and how many. "+source maps": ` +
      `ours with NODE_OPTIONS=--enable-source-maps (opt-in). "local cloud": the init time the local ` +
      `cloud's Lambda worker reports for a cold request on the same files (median of ${LOCAL_RUNS}).`,
  );
}

export async function run(): Promise<void> {
  await rm(OUTPUT_DIR, { recursive: true, force: true });
  await mkdir(OUTPUT_DIR, { recursive: true });
  await writeFile(TIMER_FILE, IMPORT_TIMER);
  await writeFile(COUNTER_FILE, FILE_COUNTER);
  const measurements: Measurement[] = [];
  for (const handler of HANDLERS) measurements.push(await measure(handler));
  printTable(measurements);
  const missed = measurements.filter((m) => failures(m).length > 0).map((m) => m.name);
  if (missed.length > 0) throw new Error(`bundle targets missed by ${missed.join(", ")}`);
}
