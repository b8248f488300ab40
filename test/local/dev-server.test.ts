/**
 * `platform dev` on a copy of the project: edits to a handler, a stack file and the program are
 * picked up by re-planning, and only what changed gets new execution environments.
 */
import { strict as assert } from "node:assert";
import * as fs from "node:fs";
import * as path from "node:path";
import { DevServer } from "../../automation/local/dev-server";
import { copyProject } from "../helpers/project";

async function eventually<T>(
  what: string,
  probe: () => Promise<T | undefined>,
  timeoutMs = 60_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const value = await probe();
    if (value !== undefined) return value;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  throw new Error(`timed out waiting for ${what}`);
}

describe("platform dev re-plans on change", function () {
  this.timeout(180_000);
  let project: string;
  let server: DevServer;
  const printed: string[] = [];
  const health = async () => (await (await fetch(`${server.cloud.url}/health`)).json()) as { status: string };

  before(async () => {
    project = copyProject("platform-dev-");
    server = await DevServer.start({
      stack: "dev",
      projectDir: project,
      inMemory: true,
      auth: false,
      print: (line) => printed.push(line),
    });
  });
  after(async () => {
    await server?.close();
    fs.rmSync(project, { recursive: true, force: true });
  });

  it("prints the API's URL and every route with its auth and function", () => {
    assert.ok(printed.some((line) => line.includes(server.cloud.url)));
    assert.ok(
      printed.some((line) => /GET\s+\/users\/\{userId\}\s+iam\s+-> platform-dev-users-get/.test(line)),
    );
  });

  it("serves a handler edit after re-planning, replacing that function only", async () => {
    assert.equal((await health()).status, "ok");
    const file = path.join(project, "functions/health/index.ts");
    fs.writeFileSync(file, fs.readFileSync(file, "utf8").replace('{ status: "ok" }', '{ status: "edited" }'));
    await eventually("the edited handler", async () =>
      (await health()).status === "edited" ? true : undefined,
    );
    const changes = printed.filter((line) => line.startsWith("re-planned"));
    assert.ok(
      changes.some((line) => line.endsWith("function platform-dev-users-health updated")),
      changes.join("\n"),
    );
    assert.ok(
      !changes.some((line) => /platform-dev-users-(get|list|create)\b/.test(line)),
      "unchanged functions were replaced",
    );
  });

  it("applies a stack file change to every function it concerns", async () => {
    const file = path.join(project, "Pulumi.dev.yaml");
    printed.length = 0;
    fs.writeFileSync(
      file,
      fs.readFileSync(file, "utf8").replace("platform:memoryMb: 256", "platform:memoryMb: 512"),
    );
    await eventually("the re-plan", async () =>
      printed.some((line) => line.includes("platform-dev-users-get updated")) ? true : undefined,
    );
    assert.equal(server.cloud.resolveFunction("get").memoryMb, 512);
  });

  it("keeps serving the last plan when the program fails, saying why", async () => {
    const file = path.join(project, "index.ts");
    printed.length = 0;
    fs.writeFileSync(file, `${fs.readFileSync(file, "utf8")}\nthrow new Error("broken on purpose");\n`);
    const failure = await eventually("the failed re-plan", async () =>
      printed.find((line) => line.startsWith("re-plan failed")),
    );
    assert.match(failure, /broken on purpose/);
    assert.equal((await health()).status, "edited");
  });
});

describe("platform dev closing", function () {
  this.timeout(180_000);

  it("starts no re-plan once closed, not even one asked for during the last", async () => {
    const project = copyProject("platform-dev-close-");
    const printed: string[] = [];
    try {
      const server = await DevServer.start({
        stack: "dev",
        projectDir: project,
        inMemory: true,
        auth: false,
        watch: false,
        print: (line) => printed.push(line),
      });
      const running = server.replan();
      void server.replan(); // seen during the running one: would start when it ends
      await server.close();
      await running;
      const atClose = printed.length;
      await new Promise((resolve) => setTimeout(resolve, 3_000));
      assert.deepEqual(printed.slice(atClose), []);
      assert.equal(printed.filter((line) => line.startsWith("re-plan")).length, 1);
    } finally {
      fs.rmSync(project, { recursive: true, force: true });
    }
  });
});
