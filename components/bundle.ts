import * as path from "node:path";
import * as esbuild from "esbuild";

/** The project root: handler entries are resolved against it, and bundle paths are relative to it. */
export const PROJECT_ROOT = path.resolve(__dirname, "..");

/** A bundled handler: the ESM module, its source map, and the names they take in the archive. */
export interface Bundle {
  /** File name of the module in the archive (`index.mjs`); the Lambda handler is `index.handler`. */
  fileName: string;
  code: string;
  /** File name of the source map beside the module (`index.mjs.map`). */
  mapFileName: string;
  map: string;
  /** Size of the module in bytes (the source map is not loaded at run time). */
  bytes: number;
}

export interface BundleOptions {
  /** Node.js version targeted by the output, from the Lambda runtime (`nodejs22.x` -> `node22`). */
  target?: string;
  /** Minify the module. @default true */
  minify?: boolean;
}

/**
 * Lets ESM bundles load CommonJS dependencies that call `require` for Node built-ins.
 * Lambda's Node.js runtime runs `.mjs` as ESM, where `require` is not defined.
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
 * Bundles a handler with esbuild: ESM, minified, tree-shaken, `@aws-sdk/*` left external (the Lambda
 * Node.js runtime ships SDK v3), source map as a separate file. The output is deterministic: the
 * same sources give byte-identical files, so an unchanged handler gives an unchanged archive.
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
  const result = esbuild.buildSync({
    absWorkingDir: PROJECT_ROOT,
    entryPoints: [path.join(PROJECT_ROOT, entry)],
    bundle: true,
    write: false,
    platform: "node",
    format: "esm",
    target,
    minify,
    treeShaking: true,
    sourcemap: "linked",
    sourcesContent: false,
    legalComments: "none",
    external: ["@aws-sdk/*"],
    // Powertools and friends ship ESM entry points: prefer them so tree-shaking works.
    mainFields: ["module", "main"],
    banner: { js: ESM_REQUIRE_SHIM },
    outfile: path.join(PROJECT_ROOT, ".bundle", "index.mjs"),
    logLevel: "silent",
  });
  const js = result.outputFiles.find((file) => file.path.endsWith(".mjs"));
  const map = result.outputFiles.find((file) => file.path.endsWith(".map"));
  if (!js || !map) throw new Error(`esbuild produced no output for ${entry}`);
  return {
    fileName: "index.mjs",
    code: js.text,
    mapFileName: "index.mjs.map",
    map: map.text,
    bytes: js.contents.byteLength,
  };
}
