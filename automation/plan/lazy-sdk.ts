/**
 * Defers the parts of Pulumi's Node.js SDK that a process of ours rarely needs until first used:
 * the plan hosts (host/preload.ts) and the `platform` command line install this before anything
 * loads `@pulumi/pulumi`.
 *
 * `require("@pulumi/pulumi")` loads the Automation API (and through it `@npmcli/arborist`, sigstore
 * and about 900 more modules) and the closure serializer (`typescript`), eagerly: 330 ms of the
 * 395 ms it takes to load the SDK and `@pulumi/aws` here (measured). A program under the mock
 * runtime never touches the Automation API, and serializes a function only for a dynamic provider
 * (served from closure-cache.ts when it can) or a callback function. Each deferred module is put
 * in the require cache as a stand-in that loads the real module on first use, so whoever uses it
 * gets the real thing, exactly as before.
 *
 * A stand-in is made only for a module this SDK version has at the expected path and whose exports
 * are as listed; anything else loads eagerly as before (slower, never wrong).
 */
import * as fs from "node:fs";
import Module from "node:module";
import * as path from "node:path";
import { type Serialize, serializeWithCache } from "./closure-cache";

interface Deferred {
  /** The module, relative to the SDK's folder. */
  file: string;
  /**
   * The functions the SDK reads off the module while loading (`exports.f = m.f`): the stand-in
   * has them as forwarding functions. Without a list, the stand-in is a namespace that loads the
   * real module on its first property read.
   */
  functions?: string[];
  /** Functions the stand-in answers itself, given how to reach the real module's. */
  own?: Record<string, (real: () => Record<string, unknown>) => (...args: never[]) => unknown>;
}

const DEFERRED: Deferred[] = [
  // index.js: `exports.automation = __importStar(require("./automation"))`.
  { file: "automation/index.js" },
  // runtime/index.js: `exports.computeCodePaths = codePaths_1.computeCodePaths` (arborist).
  { file: "runtime/closure/codePaths.js", functions: ["computeCodePaths"] },
  // runtime/index.js, and dynamic/index.js for each dynamic resource: the serializer (typescript,
  // an inspector session), with the cache of serialized providers in front (closure-cache.ts).
  {
    file: "runtime/closure/serializeClosure.js",
    functions: ["serializeFunctionAsync", "serializeFunction"],
    own: {
      serializeFunction: (real) => (func: unknown, args?: Record<string, unknown>) =>
        serializeWithCache(() => real().serializeFunction as Serialize, func, args),
    },
  },
];

/** Installs the stand-ins; returns the modules deferred (absolute paths). */
export function deferSdkModules(): string[] {
  let sdkDir: string;
  try {
    sdkDir = path.dirname(require.resolve("@pulumi/pulumi/package.json"));
  } catch {
    return [];
  }
  const deferred: string[] = [];
  for (const { file, functions, own } of DEFERRED) {
    const filename = path.join(sdkDir, file);
    if (require.cache[filename] || !fs.existsSync(filename)) continue;
    if (functions && !definesAll(filename, functions)) continue;
    let real: Record<string, unknown> | undefined;
    const load = (): Record<string, unknown> => {
      if (!real) {
        // The real module, loaded as if required the first time; the stand-in stays in the cache,
        // so that whoever requires the module later still goes through it (and its own functions).
        delete require.cache[filename];
        try {
          real = require(filename) as Record<string, unknown>;
        } finally {
          require.cache[filename] = standIn;
        }
      }
      return real;
    };
    const standIn = new Module(filename);
    standIn.filename = filename;
    standIn.loaded = true;
    standIn.paths = (Module as unknown as { _nodeModulePaths(dir: string): string[] })._nodeModulePaths(
      path.dirname(filename),
    );
    standIn.exports = functions ? forwardingFunctions(functions, load) : lazyNamespace(load);
    for (const [name, make] of Object.entries(own ?? {})) {
      (standIn.exports as Record<string, unknown>)[name] = make(load);
    }
    require.cache[filename] = standIn;
    deferred.push(filename);
  }
  return deferred;
}

/** Whether a module's source exports each of these names (`exports.name = name;` as tsc emits). */
function definesAll(filename: string, names: string[]): boolean {
  const source = fs.readFileSync(filename, "utf8");
  return names.every((name) => source.includes(`exports.${name} = ${name};`));
}

function forwardingFunctions(names: string[], load: () => Record<string, unknown>): Record<string, unknown> {
  const exports: Record<string, unknown> = {};
  Object.defineProperty(exports, "__esModule", { value: true });
  for (const name of names) {
    exports[name] = (...args: unknown[]) => (load()[name] as (...a: unknown[]) => unknown)(...args);
  }
  return exports;
}

/** A namespace object that is the real module's as soon as anything but `__esModule` is read. */
function lazyNamespace(load: () => Record<string, unknown>): object {
  return new Proxy(
    {},
    {
      get: (_, key) => (key === "__esModule" ? true : Reflect.get(load(), key)),
      has: (_, key) => key in load(),
      ownKeys: () => Reflect.ownKeys(load()),
      getOwnPropertyDescriptor: (_, key) => {
        const descriptor = Reflect.getOwnPropertyDescriptor(load(), key);
        // A proxy may not report a property non-configurable that its (empty) target lacks.
        return descriptor && { ...descriptor, configurable: true };
      },
    },
  );
}
