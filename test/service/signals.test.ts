import * as assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import * as fs from "node:fs";
import * as net from "node:net";
import * as os from "node:os";
import * as path from "node:path";
import { PROJECT_DIR } from "../../automation/plan/plan";
import { databaseFile, JobStore } from "../../automation/service/jobs/store";

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Whether something accepts connections on the port. */
function listening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect(port, "127.0.0.1");
    socket.once("connect", () => {
      socket.destroy();
      resolve(true);
    });
    socket.once("error", () => resolve(false));
  });
}

/** Whether the job store's lock can be taken (no other process holds it). */
function storeFree(dataDir: string): boolean {
  try {
    new JobStore(databaseFile(dataDir), { lock: true }).close();
    return true;
  } catch {
    return false;
  }
}

/**
 * `npm start` as a process manager runs it: npm's own PID is the one it signals (not the group).
 * Started in a process group of its own so that the test can clean up whatever is left.
 */
async function npmStart(
  dataDir: string,
): Promise<{ npm: ChildProcess; port: number; exited: Promise<unknown> }> {
  const npm = spawn("npm", ["start", "--silent"], {
    cwd: PROJECT_DIR,
    detached: true,
    stdio: ["ignore", "pipe", "pipe"],
    env: {
      ...process.env,
      HOST: "127.0.0.1",
      PORT: "0",
      PLATFORM_DATA_DIR: dataDir,
      PLATFORM_API_TOKEN: "signals-token-0123456789",
    },
  });
  const exited = new Promise((resolve) => npm.once("exit", resolve));
  let output = "";
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`npm start printed no URL in 60 s:\n${output}`)), 60_000);
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      const match = /Platform service on http:\/\/127\.0\.0\.1:(\d+)/.exec(output);
      if (match) {
        clearTimeout(timer);
        resolve(Number(match[1]));
      }
    };
    npm.stdout?.on("data", onData);
    npm.stderr?.on("data", onData);
    void exited.then(() => {
      clearTimeout(timer);
      reject(new Error(`npm start exited before listening:\n${output}`));
    });
  });
  return { npm, port, exited };
}

describe("npm start under a process manager", function () {
  this.timeout(120_000);

  for (const signal of ["SIGTERM", "SIGINT"] as const) {
    it(`stops when npm's own PID gets ${signal}: the port and the job store's lock are freed`, async () => {
      const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "platform-signals-"));
      const { npm, port, exited } = await npmStart(dataDir);
      try {
        assert.equal(await listening(port), true);
        assert.equal(storeFree(dataDir), false, "the running service holds the store's lock");

        npm.kill(signal);
        await Promise.race([exited, sleep(30_000)]);

        // npm may exit a moment before its child: give the service its clean stop.
        const deadline = Date.now() + 15_000;
        while ((await listening(port)) && Date.now() < deadline) await sleep(100);
        assert.equal(await listening(port), false, `port ${port} is still held after ${signal}`);
        assert.equal(storeFree(dataDir), true, "the store's lock is still held");
      } finally {
        // Whatever is left of the process group (an orphaned service, on failure) goes too.
        try {
          process.kill(-npm.pid!, "SIGKILL");
        } catch {
          // the group has already gone
        }
        fs.rmSync(dataDir, { recursive: true, force: true });
      }
    });
  }
});
