/**
 * A cache of the serialized dynamic providers, for the plan host.
 *
 * A `pulumi.dynamic.Resource` serializes its provider (the SDK's closure serializer: `typescript`,
 * an inspector session, a walk of everything the provider captures) each time a plan loads the
 * provider's module afresh. In a new host that is 450 ms of a plan, most of it loading the
 * serializer (measured; 55 ms once loaded). The text depends only on the provider's module and the
 * modules it imports, the packages installed, and the SDK, Node.js and transpiler that produced it;
 * so it is kept under a hash of all of them in `node_modules/.cache/platform/closures`, and a plan
 * of unchanged sources takes it from there without loading the serializer at all.
 *
 * Only the SDK's own dynamic-provider call (`serializeFunction(() => provider, …)`) is cached, and
 * only for a provider exported by a module of the program. A serialization that captured a secret
 * is never written to disk. A provider that captures a value its module computed from the
 * environment as it loaded would keep the value of the run that filled the cache; the plan records
 * the text only to show when a provider changes (a real deploy serializes it afresh).
 */
import { createHash, randomBytes } from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";

/** What the SDK's serializer returns. */
interface SerializedFunction {
  text: string;
  exportName: string;
  containsSecrets: boolean;
}

export type Serialize = (func: unknown, args?: Record<string, unknown>) => Promise<SerializedFunction>;

/** The SDK's call for a dynamic provider (`@pulumi/pulumi/dynamic/index.js`), without spaces. */
const DYNAMIC_PROVIDER_THUNK = "()=>provider";
/** Bumped when what is stored changes. */
const FORMAT = 1;

const sha256 = (data: string | Buffer) => createHash("sha256").update(data).digest("hex");

/** Where serialized providers are cached for a project. */
export function closureCacheDir(projectDir: string): string {
  return path.join(projectDir, "node_modules", ".cache", "platform", "closures");
}

/** A package's version, or "" when it is not installed. */
function versionOf(name: string): string {
  try {
    return (require(`${name}/package.json`) as { version: string }).version;
  } catch {
    return "";
  }
}

/** The program module (outside node_modules) that exports `value`, if one does. */
function moduleExporting(value: object): NodeModule | undefined {
  for (const module of Object.values(require.cache)) {
    // A module still loading (the program's entry, creating the resource) exports nothing yet.
    if (!module?.loaded || module.filename.split(path.sep).includes("node_modules")) continue;
    const exports = module.exports as unknown;
    if (!exports || typeof exports !== "object") continue;
    for (const descriptor of Object.values(Object.getOwnPropertyDescriptors(exports))) {
      if (exportedValue(descriptor) === value) return module;
    }
  }
  return undefined;
}

/**
 * What an export holds: its value, or what a getter as esbuild (tsx) emits for `export` bindings
 * returns (`() => name`, or `() => from[key]` in its CommonJS wrapper). No other getter is called.
 */
function exportedValue(descriptor: PropertyDescriptor): unknown {
  if ("value" in descriptor) return descriptor.value;
  const getter = descriptor.get;
  if (
    typeof getter !== "function" ||
    getter.length !== 0 ||
    !/^\(\) ?=> ?[\w$]+(\[[\w$]+\])?$/.test(getter.toString())
  ) {
    return undefined;
  }
  try {
    return getter();
  } catch {
    return undefined; // a binding not initialized yet
  }
}

/** The content hashes of a module and every program module it imports, transitively. */
function sourcesOf(root: NodeModule, projectDir: string): [string, string][] {
  const seen = new Map<string, string>();
  const visit = (module: NodeModule) => {
    if (seen.has(module.filename) || module.filename.split(path.sep).includes("node_modules")) return;
    seen.set(module.filename, sha256(fs.readFileSync(module.filename)));
    for (const child of module.children) visit(child);
  };
  visit(root);
  return [...seen]
    .map(([file, hash]): [string, string] => [path.relative(projectDir, file), hash])
    .sort((a, b) => a[0].localeCompare(b[0]));
}

function keyOf(module: NodeModule, args: Record<string, unknown> | undefined, projectDir: string): string {
  let lock = "";
  try {
    lock = sha256(fs.readFileSync(path.join(projectDir, "node_modules", ".package-lock.json")));
  } catch {
    // No lock file: the versions below still key the cache.
  }
  return sha256(
    JSON.stringify([
      FORMAT,
      process.version,
      versionOf("@pulumi/pulumi"),
      versionOf("tsx"),
      lock,
      args ?? {},
      sourcesOf(module, projectDir),
    ]),
  );
}

function read(file: string): SerializedFunction | undefined {
  try {
    const stored = JSON.parse(fs.readFileSync(file, "utf8")) as Partial<SerializedFunction>;
    if (typeof stored.text !== "string" || typeof stored.exportName !== "string") return undefined;
    return { text: stored.text, exportName: stored.exportName, containsSecrets: false };
  } catch {
    return undefined;
  }
}

/** Writes a file whole or not at all (a temporary file renamed over it), never failing the plan. */
function write(file: string, value: SerializedFunction): void {
  try {
    fs.mkdirSync(path.dirname(file), { recursive: true });
    const partial = `${file}.${process.pid}.${randomBytes(4).toString("hex")}.partial`;
    fs.writeFileSync(partial, JSON.stringify({ text: value.text, exportName: value.exportName }));
    fs.renameSync(partial, file);
  } catch {
    // A read-only or full disk: the next plan serializes again.
  }
}

/**
 * `serializeFunction` with the cache in front: `serialize` is the SDK's, loaded only on a miss.
 * Anything but the SDK's dynamic-provider call goes straight to it.
 */
export async function serializeWithCache(
  serialize: () => Serialize,
  func: unknown,
  args?: Record<string, unknown>,
  projectDir: string = process.cwd(),
): Promise<SerializedFunction> {
  const provider =
    typeof func === "function" &&
    func.length === 0 &&
    func.toString().replace(/\s/g, "") === DYNAMIC_PROVIDER_THUNK
      ? (func as () => unknown)()
      : undefined;
  const module = provider && typeof provider === "object" ? moduleExporting(provider) : undefined;
  if (!module) return serialize()(func, args);
  const file = path.join(closureCacheDir(projectDir), `${keyOf(module, args, projectDir)}.json`);
  const cached = read(file);
  if (cached) return cached;
  const serialized = await serialize()(func, args);
  if (!serialized.containsSecrets) write(file, serialized);
  return serialized;
}
