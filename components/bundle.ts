import * as path from "node:path";
import * as esbuild from "esbuild";

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
}

/**
 * Lets bundled CommonJS dependencies `require` what is not bundled (Node built-ins): in an ES module
 * `require` is not defined, and esbuild's fallback throws "Dynamic require is not supported". Added
 * only to bundles that need it: importing `node:module` costs a handler that does not a third of
 * its (sub-millisecond) import.
 */
const ESM_REQUIRE_SHIM =
  'import{createRequire as __cr}from"node:module";const require=__cr(import.meta.url);';

const cache = new Map<string, Bundle>();

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
 * @param entry path of the handler module, relative to the project root (`functions/users/list.ts`)
 */
export function bundleHandler(entry: string, options: BundleOptions = {}): Bundle {
  const key = `${entry}|${options.target ?? "node22"}|${options.minify ?? true}`;
  let bundle = cache.get(key);
  if (!bundle) {
    bundle = buildBundle(entry, options);
    cache.set(key, bundle);
  }
  return bundle;
}

/** Like `bundleHandler`, without the per-process cache. */
export function buildBundle(entry: string, options: BundleOptions = {}): Bundle {
  const target = options.target ?? "node22";
  const minify = options.minify ?? true;
  const outdir = path.join(PROJECT_ROOT, ".bundle");
  const build = (banner: string) =>
    esbuild.buildSync({
      absWorkingDir: PROJECT_ROOT,
      entryPoints: [path.join(PROJECT_ROOT, entry)],
      bundle: true,
      write: false,
      metafile: true,
      platform: "node",
      format: "esm",
      splitting: true,
      target,
      minify,
      treeShaking: true,
      sourcemap: "linked",
      sourcesContent: false,
      legalComments: "none",
      // ES module builds first: the SDK's and Powertools' `dist-es`/`esm` tree-shake, and their
      // CommonJS builds are prebundled per package, so they would pull in every command and schema.
      mainFields: ["module", "main"],
      banner: { js: banner },
      outdir,
      entryNames: "index",
      chunkNames: "chunk-[hash]",
      outExtension: { ".js": ".mjs" },
      logLevel: "silent",
    });
  let result = build("");
  if (requiresUnbundled(result.metafile)) result = build(ESM_REQUIRE_SHIM);
  const files: Record<string, string> = {};
  for (const file of [...result.outputFiles].sort((a, b) => a.path.localeCompare(b.path))) {
    files[path.relative(outdir, file.path)] = file.text;
  }
  const code = files[ENTRY_FILE];
  const map = files[`${ENTRY_FILE}.map`];
  if (code === undefined || map === undefined) throw new Error(`esbuild produced no output for ${entry}`);
  const modules = Object.keys(files).filter((name) => name.endsWith(".mjs"));
  const startupFiles = staticImportClosure(result.metafile, path.relative(PROJECT_ROOT, outdir));
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
