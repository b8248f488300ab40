import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { planStack } from "../../automation/plan/plan";
import { startServiceProcess } from "../helpers/service-process";

const TOKEN = "secret-token-0123456789abcdef";

describe("the service's secrets and child processes", function () {
  this.timeout(60_000);
  const dirs: string[] = [];
  const tempDir = () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "platform-secrets-"));
    dirs.push(dir);
    return dir;
  };
  after(() => {
    for (const dir of dirs) fs.rmSync(dir, { recursive: true, force: true });
  });

  it("keeps the API token out of the plan child's environment, and passes the rest", async () => {
    const saved = { ...process.env };
    process.env.PLATFORM_API_TOKEN = TOKEN;
    process.env.CHILD_ENV_MARKER = "inherited";
    try {
      const plan = await planStack("dev", { programPath: "test/fixtures/child-env-program.ts" });
      assert.equal(plan.outputs.apiToken, "absent");
      assert.equal(plan.outputs.marker, "inherited");
    } finally {
      process.env = saved;
    }
  });

  it("keeps the API token out of the environment of the Pulumi CLI that platform serve runs", async function () {
    if (process.platform === "win32") this.skip();
    // A stand-in `pulumi` first on PATH: it records its environment, and says which version it is.
    const bin = tempDir();
    const probe = path.join(tempDir(), "pulumi.env");
    fs.writeFileSync(
      path.join(bin, "pulumi"),
      `#!/bin/sh\nenv > "${probe}.tmp" && mv "${probe}.tmp" "${probe}"\necho v3.249.0\n`,
      { mode: 0o755 },
    );
    const dataDir = tempDir();
    const service = await startServiceProcess({
      FIXTURE_ENGINE: "choose",
      PATH: `${bin}${path.delimiter}${process.env.PATH}`,
      PLATFORM_API_TOKEN: TOKEN,
      PLATFORM_DATA_DIR: dataDir,
      PULUMI_BACKEND_URL: `file://${tempDir()}`,
    });
    try {
      assert.match(service.output(), /engine: pulumi/);
      const deadline = Date.now() + 20_000;
      while (!fs.existsSync(probe) && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      const childEnv = fs.readFileSync(probe, "utf8");
      assert.match(
        childEnv,
        new RegExp(`^PLATFORM_DATA_DIR=${dataDir}$`, "m"),
        "the child got the environment",
      );
      assert.doesNotMatch(childEnv, /PLATFORM_API_TOKEN/);
      assert.ok(!childEnv.includes(TOKEN), "the token's value is nowhere in the child's environment");
      // The service itself still knows its token.
      const response = await fetch(`${service.url}/jobs`, { headers: { authorization: `Bearer ${TOKEN}` } });
      assert.equal(response.status, 200);
    } finally {
      service.child.kill("SIGTERM");
      await service.exited;
    }
  });
});
