/**
 * Plan hosts: child processes (host/run-program.ts) that keep Pulumi's SDKs loaded and plan one stack
 * at a time, reused across plans. A host works in one project directory (its working directory,
 * as the engine runs a program), so hosts are pooled per directory, up to a limit shared by all.
 */
import { type ChildProcess, fork } from "node:child_process";
import * as path from "node:path";
import type { HostReply, HostRequest, PlanRequest } from "./types";

export interface HostPoolOptions {
  /** Hosts at most, i.e. plans at once. */
  maxHosts: number;
  /** A host idle this long exits (it would hold memory for nothing). */
  idleMs: number;
  /** The environment a host starts with and a program runs with (the caller's, without secrets). */
  environment(): NodeJS.ProcessEnv;
  /** More Node.js flags for the hosts (`--cpu-prof` to profile them). */
  execArgv: string[];
}

interface Host {
  child: ChildProcess;
  projectDir: string;
  busy: boolean;
  exited: boolean;
  /** What the host wrote to stderr outside any plan (its crash, if it crashed). */
  stderr: string;
  idleTimer?: NodeJS.Timeout;
  pending?: { id: number; resolve(reply: HostReply): void };
}

const HOST_ENTRY = path.join(__dirname, "host", "run-program.ts");
/** tsx for the program, Node's own loader for packages (see the file). */
const HOST_LOADER = path.join(__dirname, "host", "register.cjs");

export class HostPool {
  private readonly hosts: Host[] = [];
  private readonly waiting: { projectDir: string; take(host: Host): void }[] = [];
  private nextId = 1;

  constructor(private readonly options: HostPoolOptions) {}

  /** Runs one plan on a host working in `projectDir`; resolves with its reply (never rejects). */
  async run(projectDir: string, request: PlanRequest): Promise<HostReply> {
    const host = await this.acquire(projectDir);
    const id = this.nextId++;
    let reply: HostReply | undefined;
    try {
      reply = await new Promise<HostReply>((resolve) => {
        host.pending = { id, resolve };
        const env = Object.fromEntries(
          Object.entries(this.options.environment()).filter(
            (entry): entry is [string, string] => entry[1] !== undefined,
          ),
        );
        host.child.send({ id, request, env } satisfies HostRequest, (error) => {
          if (error)
            resolve({ id, stderr: host.stderr, error: `cannot reach the plan host: ${error.message}` });
        });
      });
      return reply;
    } finally {
      host.pending = undefined;
      // A host that failed a plan ends itself (the program may have left work pending): never reuse it.
      if (!reply || "error" in reply) this.forget(host);
      this.release(host);
    }
  }

  /** Takes a host out of the pool for good; it exits by itself, or is ended. */
  private forget(host: Host): void {
    if (!host.exited) this.retire(host);
    host.exited = true;
  }

  /** Ends every host. */
  close(): void {
    for (const host of [...this.hosts]) this.retire(host);
  }

  /** How many hosts run (for tests and the benchmark). */
  get size(): number {
    return this.hosts.length;
  }

  private acquire(projectDir: string): Promise<Host> {
    const idle = this.hosts.find((host) => !host.busy && host.projectDir === projectDir);
    if (idle) return Promise.resolve(this.use(idle));
    if (this.hosts.length >= this.options.maxHosts) {
      // Full: an idle host of another project makes room; else wait for one to be released.
      const other = this.hosts.find((host) => !host.busy);
      if (other) this.retire(other);
      else return new Promise((take) => this.waiting.push({ projectDir, take }));
    }
    return Promise.resolve(this.use(this.spawn(projectDir)));
  }

  private release(host: Host): void {
    host.busy = false;
    if (host.exited) this.retire(host);
    if (this.waiting.length > 0) {
      const same = host.exited
        ? -1
        : this.waiting.findIndex((waiter) => waiter.projectDir === host.projectDir);
      if (same >= 0) {
        const [waiter] = this.waiting.splice(same, 1);
        waiter.take(this.use(host));
        return;
      }
      const [waiter] = this.waiting.splice(0, 1);
      if (!host.exited) this.retire(host);
      waiter.take(this.use(this.spawn(waiter.projectDir)));
      return;
    }
    if (host.exited) return;
    // Idle: the host must not keep the caller's process alive (a CLI exits when its work is done).
    setReferenced(host.child, false);
    host.idleTimer = setTimeout(() => this.retire(host), this.options.idleMs);
    host.idleTimer.unref();
  }

  private use(host: Host): Host {
    clearTimeout(host.idleTimer);
    host.busy = true;
    setReferenced(host.child, true);
    return host;
  }

  private spawn(projectDir: string): Host {
    const child = fork(HOST_ENTRY, [], {
      cwd: projectDir,
      env: this.options.environment(),
      // tsx's CommonJS hooks only: the program is loaded with `require`, and its ES module loader
      // (a thread of its own) would add 80 ms to every host's start (measured).
      execArgv: ["--require", HOST_LOADER, ...this.options.execArgv],
      stdio: ["ignore", "ignore", "pipe", "ipc"],
    });
    const host: Host = { child, projectDir, busy: false, exited: false, stderr: "" };
    this.hosts.push(host);
    child.stderr?.setEncoding("utf8");
    child.stderr?.on("data", (chunk: string) => {
      host.stderr = (host.stderr + chunk).slice(-64 * 1024);
    });
    child.on("message", (reply: HostReply) => {
      if (host.pending?.id === reply.id) host.pending.resolve(reply);
    });
    const exited = (code: number | null) => {
      if (host.exited) return;
      host.exited = true;
      const index = this.hosts.indexOf(host);
      if (index >= 0) this.hosts.splice(index, 1);
      // The stderr pipe may still hold the host's last words: read them before answering.
      const answer = () =>
        host.pending?.resolve({
          id: host.pending.id,
          stderr: "",
          error: host.stderr.trim() || `the program exited with code ${code}`,
        });
      if (child.stderr && !child.stderr.readableEnded) child.stderr.once("end", answer);
      else answer();
    };
    child.on("exit", exited);
    child.on("error", (error) => {
      host.stderr += `${error.message}\n`;
      exited(null);
    });
    return host;
  }

  private retire(host: Host): void {
    clearTimeout(host.idleTimer);
    const index = this.hosts.indexOf(host);
    if (index >= 0) this.hosts.splice(index, 1);
    if (host.exited) return;
    // A host exits by itself once disconnected (writing a --cpu-prof profile); a stuck one is killed.
    if (host.child.connected) host.child.disconnect();
    else host.child.kill();
    setTimeout(() => {
      if (!host.exited) host.child.kill("SIGKILL");
    }, 5_000).unref();
  }
}

/** Whether a host keeps this process alive (its process, IPC channel and stderr pipe). */
function setReferenced(child: ChildProcess, referenced: boolean): void {
  const handles = [child, child.channel, child.stderr] as (
    | { ref?(): void; unref?(): void }
    | null
    | undefined
  )[];
  for (const handle of handles) {
    if (referenced) handle?.ref?.();
    else handle?.unref?.();
  }
}
