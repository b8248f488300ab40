/**
 * Which of the program's modules a plan host keeps loaded from one plan to the next.
 *
 * Loading the program's modules afresh for every plan costs a re-plan about 100 ms of transpiling
 * and evaluating (measured). A module may stay loaded only where that cannot change a plan, and in
 * general it can: a module may create a resource in a callback it starts as it loads, register a
 * stack transformation, log a warning, read a data file, or keep state (a set of names used) that
 * the next plan would find full. None of that is visible from outside. So only the modules of the
 * folders the host is told to keep may stay: the platform's component library (`components/`) and
 * the handlers' shared code it imports (`functions/shared/`), whose modules define classes,
 * functions and constants and keep no state across plans (a warm re-plan of dev
 * and of prod is tested to equal a fresh host's). Even there, a module stays loaded only when:
 *
 * - the next plan is of the same project, stack, config, program and environment (a module may
 *   read the stack's config or name as it loads);
 * - its file is unchanged since it was loaded (size, mtime, ctime and inode);
 * - it registered or read no resource while it loaded;
 * - nothing it loaded was itself loaded afresh (it would hold that module's old exports).
 *
 * Everything else of the program (its entry, the services' declarations, any module of the user's)
 * loads afresh for every plan, as in a new host. Packages (node_modules) and the host's own modules
 * are never unloaded.
 */
import * as fs from "node:fs";
import Module from "node:module";
import * as path from "node:path";

/** What identifies a file's content without reading it. */
type FileStamp = string;

function stampOf(file: string): FileStamp {
  try {
    const stat = fs.statSync(file);
    return `${stat.size}:${stat.mtimeMs}:${stat.ctimeMs}:${stat.ino}`;
  } catch {
    return "gone";
  }
}

export interface ReloadSummary {
  /** Program modules kept loaded from the last plan. */
  kept: number;
  /** Program modules unloaded, to load afresh. */
  unloaded: number;
}

export interface ProgramModulesOptions {
  /** Folders (absolute) whose modules may stay loaded between plans. @default none */
  keptFolders?: string[];
}

export class ProgramModules {
  /** The host's own modules (loaded before any plan): never unloaded. */
  private readonly hostModules = new Set(Object.keys(require.cache));
  /** Program modules loaded by plans, with the stamp of their file when they loaded. */
  private readonly stamps = new Map<string, FileStamp>();
  /** Program modules that registered or read a resource while they loaded. */
  private readonly effectful = new Set<string>();
  /** Program modules being loaded, outermost first. */
  private readonly loading: string[] = [];
  /** What the last plan was of (project, stack, config, program, environment). */
  private lastPlan?: string;

  /** Folders whose modules may stay loaded, each ending with a separator. */
  private readonly keptFolders: string[];

  constructor(options: ProgramModulesOptions = {}) {
    this.keptFolders = (options.keptFolders ?? []).map((folder) => path.join(path.resolve(folder), path.sep));
    const modules = this;
    // Node's loader: `load` reads and evaluates a module's file, once, when it is first required.
    const prototype = Module.prototype as unknown as { load(this: Module, filename: string): void };
    const load = prototype.load;
    prototype.load = function (this: Module, filename: string) {
      if (!modules.isProgramModule(filename)) return load.call(this, filename);
      // Stamped before the file is read: a change while it loads shows as a change next time.
      modules.stamps.set(filename, stampOf(filename));
      modules.loading.push(filename);
      try {
        return load.call(this, filename);
      } finally {
        modules.loading.pop();
      }
    };
    // Every resource a program creates (custom, component, dynamic, read) goes through these two.
    const resources = require("@pulumi/pulumi/runtime/resource") as Record<string, unknown>;
    for (const name of ["registerResource", "readResource"]) {
      const original = resources[name];
      if (typeof original !== "function") continue;
      resources[name] = function (this: unknown, ...args: unknown[]) {
        for (const file of modules.loading) modules.effectful.add(file);
        return original.apply(this, args);
      };
    }
  }

  /** A module of the program: not a package and not part of this host. */
  private isProgramModule(filename: string): boolean {
    return !this.hostModules.has(filename) && !filename.split(path.sep).includes("node_modules");
  }

  /**
   * Before a plan: unloads every program module the plan must load afresh. `plan` identifies what
   * is planned (project, stack, config); `entry` is the program's entry module.
   */
  beforePlan(plan: string, entry: string): ReloadSummary {
    const samePlan = plan === this.lastPlan;
    this.lastPlan = plan;
    const stale = new Set<string>();
    for (const [file, stamp] of this.stamps) {
      const keepable = this.keptFolders.some((folder) => file.startsWith(folder));
      if (!samePlan || !keepable || file === entry || this.effectful.has(file) || stampOf(file) !== stamp) {
        stale.add(file);
      }
    }
    // Whoever loaded a stale module holds its old exports: it loads afresh too, and so on upwards.
    const dependents = new Map<string, string[]>();
    for (const [file, module] of Object.entries(require.cache)) {
      if (!module || !this.stamps.has(file)) continue;
      for (const child of module.children) {
        const list = dependents.get(child.filename) ?? [];
        list.push(file);
        dependents.set(child.filename, list);
      }
    }
    const pending = [...stale];
    while (pending.length > 0) {
      for (const dependent of dependents.get(pending.pop() as string) ?? []) {
        if (!stale.has(dependent)) {
          stale.add(dependent);
          pending.push(dependent);
        }
      }
    }
    const kept = this.stamps.size - stale.size;
    this.unload(stale);
    return { kept, unloaded: stale.size };
  }

  private unload(files: Set<string>): void {
    const unloaded = new Set<NodeModule>();
    for (const file of files) {
      const module = require.cache[file];
      if (module) unloaded.add(module);
      delete require.cache[file];
      this.stamps.delete(file);
      this.effectful.delete(file);
    }
    // A module that stays (this host, a package, a kept module) keeps the modules it required as
    // `children`: without this, every plan's program would stay in memory, and each plan would
    // collect more garbage.
    for (const kept of Object.values(require.cache)) {
      if (kept?.children.some((child) => unloaded.has(child))) {
        kept.children = kept.children.filter((child) => !unloaded.has(child));
      }
    }
  }
}
