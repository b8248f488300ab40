import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as net from "node:net";
import * as os from "node:os";
import * as path from "node:path";
import pg from "pg";

/** A PostgreSQL server the tests started, in a temporary directory, on a loopback port. */
export interface TestPostgres {
  port: number;
  /** A new, empty database on the server: its URL. */
  createDatabase(): Promise<string>;
  stop(): void;
}

/** Debian's PostgreSQL binaries (`apt-get install postgresql`), newest version first; undefined when absent. */
export function postgresBinaries(): string | undefined {
  const root = "/usr/lib/postgresql";
  if (!fs.existsSync(root)) return undefined;
  const versions = fs
    .readdirSync(root)
    .filter((version) => fs.existsSync(path.join(root, version, "bin", "initdb")))
    .sort((a, b) => Number(b) - Number(a));
  return versions.length > 0 ? path.join(root, versions[0], "bin") : undefined;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      const port = typeof address === "object" && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

let databases = 0;

/**
 * Starts a PostgreSQL server for the tests (initdb + pg_ctl in a temporary directory, on a free
 * loopback port, trust authentication on loopback only). PostgreSQL refuses to run as root: as
 * root, the server runs as the `postgres` user the Debian package creates. Undefined (with the
 * reason) when PostgreSQL is not installed: the caller skips and says so.
 */
export async function startTestPostgres(): Promise<TestPostgres | { missing: string }> {
  const bin = postgresBinaries();
  if (!bin) return { missing: "PostgreSQL is not installed (apt-get install postgresql)" };
  const asRoot = process.getuid?.() === 0;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "platform-pg-"));
  const dataDir = path.join(dir, "data");
  const run = (command: string, args: string[]) => {
    const [file, argv] = asRoot ? ["runuser", ["-u", "postgres", "--", command, ...args]] : [command, args];
    execFileSync(file, argv, { stdio: "pipe", timeout: 60_000 });
  };
  if (asRoot) execFileSync("chown", ["postgres", dir]);
  const port = await freePort();
  run(path.join(bin, "initdb"), ["-D", dataDir, "-U", "platform", "--auth=trust", "-E", "UTF8", "--no-sync"]);
  run(path.join(bin, "pg_ctl"), [
    "-D",
    dataDir,
    "-l",
    path.join(dir, "server.log"),
    "-w",
    "-o",
    `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200`,
    "start",
  ]);
  const admin = `postgres://platform@127.0.0.1:${port}/postgres`;
  return {
    port,
    async createDatabase() {
      const name = `platform_test_${process.pid}_${++databases}`;
      const client = new pg.Client({ connectionString: admin });
      await client.connect();
      try {
        await client.query(`CREATE DATABASE ${name}`);
      } finally {
        await client.end();
      }
      return `postgres://platform@127.0.0.1:${port}/${name}`;
    },
    stop() {
      try {
        run(path.join(bin, "pg_ctl"), ["-D", dataDir, "-m", "immediate", "-w", "stop"]);
      } catch {
        // Already stopped.
      }
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}
