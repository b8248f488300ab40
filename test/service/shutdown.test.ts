import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { serveCommand } from "../../automation/commands/serve";
import { InMemoryEngine } from "../../automation/engine/in-memory";
import { createService } from "../../automation/service/service";
import { runCommand } from "../helpers/cli";

/** A service on the real project whose engine's `up` runs long and takes `cancelMs` to stop once cancelled. */
function serviceWith(cancelMs: number, graceMs: number) {
  const engine = new InMemoryEngine({ defaults: { durations: { up: 60_000 }, cancelMs } });
  const service = createService({
    engine,
    dataDir: fs.mkdtempSync(path.join(os.tmpdir(), "platform-shutdown-")),
    token: "t".repeat(32),
    revision: async () => "0123456789abcdef0123456789abcdef01234567",
    health: () => async () => {},
    driftSchedule: false,
    graceMs,
  });
  return { engine, service };
}

async function until(condition: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error("timed out");
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

describe("service shutdown", () => {
  it("waits for the engine to finish cancelling before it stops, so that no stack stays locked", async () => {
    const { engine, service } = serviceWith(150, 5000);
    const job = await service.manager.submit({ kind: "rollout", stage: "prod", regions: ["us-east-1"] });
    await until(() => engine.callsOf("up").length === 1);
    assert.deepEqual(engine.lockedStacks(), ["prod"]);

    const started = performance.now();
    await service.manager.shutdown(5000);
    assert.ok(performance.now() - started >= 140, "shutdown waited for the CLI's clean cancel");
    assert.deepEqual(engine.lockedStacks(), [], "no stack locked when the service stops");
    assert.equal(engine.callsOf("up")[0].outcome, "cancelled");
    const stored = service.manager.get(job.id);
    assert.equal(stored?.state, "cancelled");
    assert.equal(stored?.regions[0].state, "cancelled");
    await service.close();
  });

  it("waits at most its grace period, then names the stacks the engine may still hold", async () => {
    const { engine, service } = serviceWith(600, 100);
    const job = await service.manager.submit({ kind: "rollout", stage: "prod", regions: ["us-east-1"] });
    await until(() => engine.callsOf("up").length === 1);

    const started = performance.now();
    await service.manager.shutdown(100);
    const stored = service.manager.get(job.id);
    assert.ok(performance.now() - started < 1000, "bounded by the grace period");
    assert.equal(stored?.state, "interrupted");
    assert.match(stored?.error ?? "", /may still hold stacks prod .*pulumi cancel -s <stack>/);
    await service.close();
    await until(() => engine.lockedStacks().length === 0, 5000);
  });
});

describe("platform serve and the state backend", () => {
  it("says at start which state backend and secrets the engine uses, and warns of a CLI too old", async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "platform-serve-backend-"));
    class DescribedEngine extends InMemoryEngine {
      describeBackend(): string {
        return "Pulumi Cloud https://api.pulumi.com (the backend `pulumi login` selected); secrets: each stack's own";
      }
      async start(): Promise<void> {
        throw new Error("Pulumi CLI 3.1.0 is too old: the Automation API needs Pulumi CLI >= 3.2.0");
      }
    }
    try {
      const register = serveCommand({
        engine: new DescribedEngine(),
        env: { PORT: "0", PLATFORM_DATA_DIR: dir },
        stopped: async () => "SIGTERM",
      });
      const { code, stdout, stderr } = await runCommand(register, ["serve"]);
      assert.equal(code, 0, stderr);
      assert.match(
        stdout,
        /^ {2}state: {2}Pulumi Cloud https:\/\/api\.pulumi\.com \(the backend `pulumi login` selected\)/m,
      );
      assert.match(stderr, /warning: Pulumi CLI 3\.1\.0 is too old/);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
