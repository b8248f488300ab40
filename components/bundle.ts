import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import * as esbuild from "esbuild";
import {
  cachedBundle as cacheLookup,
  listManifests,
  type NormalizedRequest,
  rememberBundle,
  saveFileHashes,
} from "./bundle-cache";

export type { NormalizedRequest } from "./bundle-cache";

/** The project root: handler entries are resolved against it, and bundle paths are relative to it. */
export const PROJECT_ROOT = path.resolve(__dirname, "..");

/** The entry module's name in the archive; the Lambda handler is `index.handler`. */
export const ENTRY_FILE = "index.mjs";

/**
 * A bundled handler: an ES module entry, the chunks it imports (statically at cold start, or lazily
 * on first use), and one source map per module, with the names they take in the archive.
 */
export interface Bundle {
  /** File name of the entry module in the archive (`index.mjs`); the Lambda handler is `index.handler`. */
  fileName: string;
  /** The entry module. */
  code: string;
  /** File name of the entry's source map beside it (`index.mjs.map`). */
  mapFileName: string;
  /** The entry's source map. */
  map: string;
  /** Every file of the archive (modules and source maps), by name, in name order. */
  files: Record<string, string>;
  /**
   * The modules a cold start loads: the entry and the chunks it imports statically, in load order.
   * Chunks reached only through `import()` (the SDK's fallback credential providers) are not in it.
   */
  startupFiles: string[];
  /** Bytes of the modules in `startupFiles` (what a cold start reads and compiles; maps excluded). */
  bytes: number;
  /** Bytes of every module in the archive, lazy chunks included (maps excluded). */
  totalBytes: number;
  /** What the modules import from outside the archive (Node built-ins only, unless a package is marked external). */
  externals: string[];
}

export interface BundleOptions {
  /** Node.js version targeted by the output, from the Lambda runtime (`nodejs22.x` -> `node22`). */
  target?: string;
  /** Minify the modules. @default true */
  minify?: boolean;
  /** The project the entry is relative to (its `node_modules` holds the cache). @default PROJECT_ROOT */
  projectRoot?: string;
}

/** A handler to bundle: its entry and options. */
export interface BundleRequest extends BundleOptions {
  entry: string;
}

/** Where esbuild would write (it writes nothing): archive names are relative to it. */
const OUTDIR = ".bundle";

/**
 * Lets bundled CommonJS dependencies `require` what is not bundled (Node built-ins): in an ES module
 * `require` is not defined, and esbuild's fallback throws "Dynamic require is not supported". Added
 * only to bundles that need it: importing `node:module` costs a handler that does not a third of
 * its (sub-millisecond) import.
 */
const ESM_REQUIRE_SHIM =
  'import{createRequire as __cr}from"node:module";const require=__cr(import.meta.url);';

/** `nodejs22.x` -> `node22`. */
export function esbuildTarget(runtime: string): string {
  const match = /^nodejs(\d+)\.x$/.exec(runtime);
  if (!match) throw new Error(`Unsupported Lambda runtime ${runtime}: expected nodejsNN.x`);
  return `node${match[1]}`;
}

/**
 * Bundles a handler with esbuild for the fastest cold import on Lambda's Node.js runtime (measured by
 * `npm run bench -- bundle`, figures in the README):
 *
 * - The AWS SDK is bundled from its ES module sources and tree-shaken, not left external. External,
 *   it resolves from the runtime's own SDK, about 33 CommonJS files per DynamoDB handler, each
 *   looked up, read and compiled at cold start; bundled it is part of a few files.
 * - ES modules with code splitting: what the SDK imports lazily (the credential providers after
 *   `fromEnv`, which Lambda never reaches since it sets credentials in the environment, with their
 *   STS/SSO clients) goes to chunks loaded only on use, so a cold start compiles about a fifth of the
 *   code. CommonJS cannot split, and a single CommonJS file compiles all of it. The runtime's
 *   bootstrap is itself an ES module, so the ES module loader costs a handler nothing extra.
 * - Minified: less to read and parse. Source maps are separate files, linked but not loaded:
 *   Node reads them only with `--enable-source-maps`, which the function does not set by default.
 * - Deterministic: the same sources give byte-identical files (chunk names are content hashes and
 *   source paths are relative), so an unchanged handler gives an unchanged archive.
 *
 * Bundles are cached (see bundle-cache below): an unchanged handler is not rebuilt, across stacks,
 * regions and runs; what the cache returns is byte-identical to a fresh `buildBundle`.
 *
 * @param entry path of the handler module, relative to the project root (`functions/users/list.ts`)
 */
export function bundleHandler(entry: string, options: BundleOptions = {}): Bundle {
  const request = normalize(entry, options);
  const hit = checked.get(JSON.stringify(request)) ?? cachedBundle(request);
  if (hit) return hit;
  const first = esbuild.buildSync(buildOptions(request, ""));
  const result = requiresUnbundled(first.metafile)
    ? esbuild.buildSync(buildOptions(request, ESM_REQUIRE_SHIM))
    : first;
  return storeBundle(request, result);
}

/**
 * Makes sure every handler that planned with this project before is bundled, before the program
 * asks for them one at a time (synchronously). Those whose sources changed are rebuilt together, on
 * one esbuild service, concurrently; each is still its own build, so its archive is exactly what
 * `buildBundle` gives it alone. One build with all entries would share chunks across handlers: a
 * change to one handler would then change the others' archives (and redeploy them), and no archive
 * would match a single-handler build. Returns the entries it built.
 */
export async function prepareBundles(requests: readonly BundleRequest[]): Promise<string[]> {
  // One stat per file for all requests: handlers share most of their inputs (the SDK).
  const stats = new Map<string, string | undefined>();
  const stale = requests.map((r) => normalize(r.entry, r)).filter((request) => !cachedBundle(request, stats));
  await Promise.all(
    stale.map(async (request) => {
      const first = await esbuild.build(buildOptions(request, ""));
      const result = requiresUnbundled(first.metafile)
        ? await esbuild.build(buildOptions(request, ESM_REQUIRE_SHIM))
        : first;
      storeBundle(request, result);
    }),
  );
  for (const root of new Set(requests.map((r) => normalize(r.entry, r).projectRoot))) saveFileHashes(root);
  return stale.map((request) => request.entry);
}

/** The handlers this project bundled before (what `prepareBundles` should check), newest builds first. */
export function knownBundles(projectRoot: string = PROJECT_ROOT): BundleRequest[] {
  const unique = new Map<string, BundleRequest>();
  for (const known of listManifests(projectRoot)) {
    unique.set(JSON.stringify(known), { ...known, projectRoot });
  }
  return [...unique.values()];
}

/** Like `bundleHandler`, without any cache: what every cached bundle must equal byte for byte. */
export function buildBundle(entry: string, options: BundleOptions = {}): Bundle {
  const request = normalize(entry, options);
  let result = esbuild.buildSync(buildOptions(request, ""));
  if (requiresUnbundled(result.metafile)) result = esbuild.buildSync(buildOptions(request, ESM_REQUIRE_SHIM));
  return assemble(request, result);
}

function normalize(entry: string, options: BundleOptions): NormalizedRequest {
  return {
    entry,
    target: options.target ?? "node22",
    minify: options.minify ?? true,
    projectRoot: path.resolve(options.projectRoot ?? PROJECT_ROOT),
  };
}

/** The esbuild options of a handler's build: part of the cache key, so change them only here. */
export function buildOptions(
  request: NormalizedRequest,
  banner: string,
): esbuild.BuildOptions & { metafile: true; write: false } {
  return {
    absWorkingDir: request.projectRoot,
    entryPoints: [path.join(request.projectRoot, request.entry)],
    bundle: true,
    write: false,
    metafile: true,
    platform: "node",
    format: "esm",
    splitting: true,
    target: request.target,
    minify: request.minify,
    treeShaking: true,
    sourcemap: "linked",
    sourcesContent: false,
    legalComments: "none",
    // ES module builds first: the SDK's and Powertools' `dist-es`/`esm` tree-shake, and their
    // CommonJS builds are prebundled per package, so they would pull in every command and schema.
    mainFields: ["module", "main"],
    banner: { js: banner },
    outdir: path.join(request.projectRoot, OUTDIR),
    entryNames: "index",
    chunkNames: "chunk-[hash]",
    outExtension: { ".js": ".mjs" },
    logLevel: "silent",
  };
}

/**
 * What else decides a bundle besides its inputs: the esbuild options (project root left out, so
 * that a checkout elsewhere shares entries), esbuild's version and this bundler's own source.
 */
function fingerprint(request: NormalizedRequest): string {
  const options = JSON.stringify(buildOptions(request, "")).split(request.projectRoot).join("<root>");
  const bundler = [__filename, path.join(__dirname, "bundle-cache.ts")]
    .map((file) => (fs.existsSync(file) ? fs.readFileSync(file) : ""))
    .join("\0");
  return createHash("sha256").update(`${esbuild.version}\0${options}\0${bundler}`).digest("hex");
}

/**
 * Bundles this module instance has checked or built, by request: what the old per-process cache was.
 * A plan host loads this module afresh for every plan, so there a bundle is checked once per plan.
 */
const checked = new Map<string, Bundle>();
const fingerprints = new Map<string, string>();

/** Checks every bundle again on next use (a plan host gets the same by loading this module afresh). */
export function forgetCheckedBundles(): void {
  checked.clear();
}

function cachedBundle(
  request: NormalizedRequest,
  stats?: Map<string, string | undefined>,
): Bundle | undefined {
  const key = JSON.stringify(request);
  let print = fingerprints.get(key);
  if (print === undefined) {
    print = fingerprint(request);
    fingerprints.set(key, print);
  }
  const bundle = cacheLookup(request, print, stats);
  if (bundle) checked.set(key, bundle);
  return bundle;
}

/** Turns esbuild's output into a Bundle. */
function assemble(
  request: NormalizedRequest,
  result: esbuild.BuildResult & { metafile: esbuild.Metafile },
): Bundle {
  const outdir = path.join(request.projectRoot, OUTDIR);
  const files: Record<string, string> = {};
  for (const file of [...(result.outputFiles ?? [])].sort((a, b) => a.path.localeCompare(b.path))) {
    files[path.relative(outdir, file.path)] = file.text;
  }
  const code = files[ENTRY_FILE];
  const map = files[`${ENTRY_FILE}.map`];
  if (code === undefined || map === undefined)
    throw new Error(`esbuild produced no output for ${request.entry}`);
  const modules = Object.keys(files).filter((name) => name.endsWith(".mjs"));
  const startupFiles = staticImportClosure(result.metafile, OUTDIR);
  const size = (names: string[]) => names.reduce((sum, name) => sum + Buffer.byteLength(files[name]), 0);
  return {
    fileName: ENTRY_FILE,
    code,
    mapFileName: `${ENTRY_FILE}.map`,
    map,
    files,
    startupFiles,
    bytes: size(startupFiles),
    totalBytes: size(modules),
    externals: [
      ...new Set(
        Object.values(result.metafile.outputs).flatMap((output) =>
          output.imports.filter((imported) => imported.external).map((imported) => imported.path),
        ),
      ),
    ].sort(),
  };
}

/** Assembles a build's Bundle and keeps it in the cache, keyed by what esbuild read for it. */
function storeBundle(
  request: NormalizedRequest,
  result: esbuild.BuildResult & { metafile: esbuild.Metafile },
): Bundle {
  const bundle = assemble(request, result);
  rememberBundle(request, fingerprint(request), Object.keys(result.metafile.inputs), bundle);
  checked.set(JSON.stringify(request), bundle);
  return bundle;
}

/** Whether bundled CommonJS code calls `require` on a module left out of the bundle. */
function requiresUnbundled(metafile: esbuild.Metafile): boolean {
  return Object.values(metafile.inputs).some((input) =>
    input.imports.some((imported) => imported.kind === "require-call" && imported.external),
  );
}

/** The entry and every chunk it reaches through static imports, as archive names. */
function staticImportClosure(metafile: esbuild.Metafile, outdir: string): string[] {
  const toArchiveName = (output: string) => path.relative(outdir, output);
  const seen: string[] = [];
  const visit = (output: string) => {
    const name = toArchiveName(output);
    if (seen.includes(name)) return;
    seen.push(name);
    for (const imported of metafile.outputs[output]?.imports ?? []) {
      if (imported.kind === "import-statement" && !imported.external) visit(imported.path);
    }
  };
  visit(path.join(outdir, ENTRY_FILE));
  return seen;
}
