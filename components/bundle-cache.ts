/**
 * The handler bundle cache: a bundle is keyed by a hash of its entry, every file esbuild read for it
 * (its metafile's inputs, by content), the esbuild options and version, the installed packages
 * (`node_modules/.package-lock.json`) and the bundler's own source. Kept in memory (for a warm
 * planner) and under `node_modules/.cache/platform/bundles` (across processes, stacks and runs).
 *
 * Layout: `manifest-<entry key>.json` lists what the last build of an entry read (its inputs);
 * `bundle-<full key>.json` is a bundle, content-addressed. A lookup hashes the listed inputs and
 * opens the bundle of that key, so switching back to sources built before is a hit. A change to the
 * set of inputs always changes one of the listed files (the importer), so the listed inputs suffice.
 * Writers write a temporary file and rename it: concurrent planners never read a partial file.
 */
import { createHash, randomBytes } from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import type { Bundle } from "./bundle";

/** A handler to bundle, with every option resolved. */
export interface NormalizedRequest {
  entry: string;
  target: string;
  minify: boolean;
  projectRoot: string;
}

/** Bumped when the record layout changes. */
const FORMAT = 1;

interface Manifest {
  format: number;
  entry: string;
  target: string;
  minify: boolean;
  /** What esbuild read, relative to the project root. */
  inputs: string[];
}

interface Remembered {
  key: string;
  inputs: string[];
  bundle: Bundle;
}

interface FileHash {
  mtimeMs: number;
  size: number;
  ino: number;
  sha256: string;
}

/**
 * Process-wide state, on globalThis: a warm planner re-requires the program's modules (this one
 * included) for every plan, and the cache must outlive them.
 */
const SHARED = Symbol.for("platform.bundle-cache");
/** A full key and the content hashes it was computed from (the same strings while files are unchanged). */
interface KeyMemo {
  inputs: string[];
  contents: string[];
  key: string;
}

const holder = globalThis as {
  [SHARED]?: {
    bundles: Map<string, Remembered>;
    hashes: Map<string, FileHash>;
    keys: Map<string, KeyMemo>;
    paths: WeakMap<string[], string[]>;
    /** Projects whose saved file hashes were read; whether a hash was computed since the last save. */
    loaded: Set<string>;
    unsaved: boolean;
  };
};
holder[SHARED] ??= {
  bundles: new Map(),
  hashes: new Map(),
  keys: new Map(),
  paths: new WeakMap(),
  loaded: new Set(),
  unsaved: false,
};
const shared = holder[SHARED];

/** Where bundles are cached for a project. */
export function bundleCacheDir(projectRoot: string): string {
  return path.join(projectRoot, "node_modules", ".cache", "platform", "bundles");
}

const sha256 = (data: string | Buffer) => createHash("sha256").update(data).digest("hex");

/**
 * A file's content hash; re-read only when its size, mtime or inode changed. `seen` holds the hashes
 * of one check of many bundles, so that a file they share is looked at once.
 */
function hashFile(file: string, seen?: Map<string, string | undefined>): string | undefined {
  if (seen?.has(file)) return seen.get(file);
  const hash = hashNow(file);
  seen?.set(file, hash);
  return hash;
}

function hashNow(file: string): string | undefined {
  let stat: fs.Stats;
  try {
    stat = fs.statSync(file);
  } catch {
    return undefined;
  }
  const known = shared.hashes.get(file);
  if (known && known.mtimeMs === stat.mtimeMs && known.size === stat.size && known.ino === stat.ino) {
    return known.sha256;
  }
  const hash = sha256(fs.readFileSync(file));
  shared.hashes.set(file, { mtimeMs: stat.mtimeMs, size: stat.size, ino: stat.ino, sha256: hash });
  shared.unsaved = true;
  return hash;
}

/** Where a project's file hashes are kept between processes. */
const fileHashesPath = (projectRoot: string) => path.join(bundleCacheDir(projectRoot), "file-hashes.json");

/**
 * The file hashes an earlier process computed for this project (each still checked against the
 * file's size, mtime and inode before use): a new plan host then reads and hashes none of the 1,300
 * files its handlers import, only stats them.
 */
function loadFileHashes(projectRoot: string): void {
  if (shared.loaded.has(projectRoot)) return;
  shared.loaded.add(projectRoot);
  const saved = readJson<Record<string, [number, number, number, string]>>(fileHashesPath(projectRoot));
  for (const [file, [mtimeMs, size, ino, sha256]] of Object.entries(saved ?? {})) {
    if (!shared.hashes.has(file)) shared.hashes.set(file, { mtimeMs, size, ino, sha256 });
  }
}

/**
 * Saves the file hashes computed for this project, if any was. Only for a project with its own
 * node_modules: a copy sharing another's through a symbolic link would overwrite that one's.
 */
export function saveFileHashes(projectRoot: string): void {
  if (!shared.unsaved) return;
  shared.unsaved = false;
  try {
    if (fs.lstatSync(path.join(projectRoot, "node_modules")).isSymbolicLink()) return;
    const prefix = `${projectRoot}${path.sep}`;
    const saved: Record<string, [number, number, number, string]> = {};
    for (const [file, { mtimeMs, size, ino, sha256 }] of shared.hashes) {
      if (file.startsWith(prefix)) saved[file] = [mtimeMs, size, ino, sha256];
    }
    writeAtomically(fileHashesPath(projectRoot), JSON.stringify(saved));
  } catch {
    // A read-only or full disk: the next process hashes the files again.
  }
}

/** The key of an entry whatever its sources: which manifest to read. */
function entryKey(request: NormalizedRequest, fingerprint: string): string {
  return sha256(JSON.stringify([FORMAT, request.entry, request.target, request.minify, fingerprint]));
}

/**
 * The full key: entry, options, esbuild version and bundler (in `fingerprint`), installed packages
 * and the content of every input. Undefined when an input is gone (the entry must be rebuilt).
 */
function fullKey(
  request: NormalizedRequest,
  fingerprint: string,
  inputs: string[],
  seen?: Map<string, string | undefined>,
): string | undefined {
  const lock = hashFile(path.join(request.projectRoot, "node_modules", ".package-lock.json"), seen) ?? "";
  let files = shared.paths.get(inputs);
  if (!files) {
    files = inputs.map((input) => path.join(request.projectRoot, input));
    shared.paths.set(inputs, files);
  }
  // esbuild names virtual modules `<namespace>:<path>`; they have no file, their name is their content.
  const contents = [lock];
  for (let i = 0; i < inputs.length; i++) {
    const content = inputs[i].includes(":") ? "" : hashFile(files[i], seen);
    if (content === undefined) return undefined;
    contents.push(content);
  }
  // Unchanged files give the very strings hashed last time: no need to hash them all again.
  const memoKey = JSON.stringify([request.projectRoot, request.entry, fingerprint]);
  const memo = shared.keys.get(memoKey);
  if (
    memo?.inputs === inputs &&
    memo.contents.length === contents.length &&
    memo.contents.every((content, i) => content === contents[i])
  ) {
    return memo.key;
  }
  const hash = createHash("sha256").update(JSON.stringify([FORMAT, request.entry, fingerprint]));
  hash.update(`\0lock\0${lock}`);
  for (let i = 0; i < inputs.length; i++) hash.update(`\0${inputs[i]}\0${contents[i + 1]}`);
  const key = hash.digest("hex");
  shared.keys.set(memoKey, { inputs, contents, key });
  return key;
}

function readJson<T>(file: string): T | undefined {
  try {
    return JSON.parse(fs.readFileSync(file, "utf8")) as T;
  } catch {
    return undefined;
  }
}

/** Writes a file whole or not at all: a temporary file renamed over it (atomic on one file system). */
function writeAtomically(file: string, text: string): void {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const partial = `${file}.${process.pid}.${randomBytes(4).toString("hex")}.partial`;
  fs.writeFileSync(partial, text);
  fs.renameSync(partial, file);
}

/** The cached bundle of a request whose inputs are unchanged, from memory or disk; else undefined. */
export function cachedBundle(
  request: NormalizedRequest,
  fingerprint: string,
  seen?: Map<string, string | undefined>,
): Bundle | undefined {
  loadFileHashes(request.projectRoot);
  const id = entryKey(request, fingerprint);
  const dir = bundleCacheDir(request.projectRoot);
  const remembered = shared.bundles.get(`${request.projectRoot}\0${id}`);
  const inputs = remembered?.inputs ?? readJson<Manifest>(path.join(dir, `manifest-${id}.json`))?.inputs;
  if (!inputs) return undefined;
  const key = fullKey(request, fingerprint, inputs, seen);
  if (!key) return undefined;
  if (remembered?.key === key) return remembered.bundle;
  const bundle = readJson<Bundle>(path.join(dir, `bundle-${key}.json`));
  if (!bundle) return undefined;
  shared.bundles.set(`${request.projectRoot}\0${id}`, { key, inputs, bundle });
  return bundle;
}

/** Keeps a fresh build in memory and on disk, under the hash of what esbuild read for it. */
export function rememberBundle(
  request: NormalizedRequest,
  fingerprint: string,
  inputs: string[],
  bundle: Bundle,
): void {
  loadFileHashes(request.projectRoot);
  const sorted = [...inputs].sort();
  const id = entryKey(request, fingerprint);
  const key = fullKey(request, fingerprint, sorted);
  if (!key) return; // An input vanished while building: nothing sound to key it by.
  shared.bundles.set(`${request.projectRoot}\0${id}`, { key, inputs: sorted, bundle });
  const dir = bundleCacheDir(request.projectRoot);
  try {
    writeAtomically(path.join(dir, `bundle-${key}.json`), JSON.stringify(bundle));
    const manifest: Manifest = {
      format: FORMAT,
      entry: request.entry,
      target: request.target,
      minify: request.minify,
      inputs: sorted,
    };
    writeAtomically(path.join(dir, `manifest-${id}.json`), JSON.stringify(manifest));
    saveFileHashes(request.projectRoot);
  } catch {
    // A read-only or full disk costs a rebuild next time, never the plan.
  }
}

/** The entries (with their options) this project bundled before, from the manifests on disk. */
export function listManifests(projectRoot: string): { entry: string; target: string; minify: boolean }[] {
  const dir = bundleCacheDir(projectRoot);
  let names: string[];
  try {
    names = fs.readdirSync(dir).filter((name) => name.startsWith("manifest-") && name.endsWith(".json"));
  } catch {
    return [];
  }
  const requests: { entry: string; target: string; minify: boolean }[] = [];
  for (const name of names) {
    const manifest = readJson<Manifest>(path.join(dir, name));
    if (manifest?.format !== FORMAT) continue;
    if (!fs.existsSync(path.join(projectRoot, manifest.entry))) continue;
    requests.push({ entry: manifest.entry, target: manifest.target, minify: manifest.minify });
  }
  return requests;
}
