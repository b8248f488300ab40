import * as assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { PROJECT_DIR } from "../../automation/plan/plan";

/** Runs a script in a fresh process after the plan host's preload; returns what it printed as JSON. */
function afterPreload(script: string): Record<string, unknown> {
  const output = execFileSync(
    process.execPath,
    ["--require", "tsx/cjs", "-e", `require("./automation/plan/host/preload.ts");\n${script}`],
    { cwd: PROJECT_DIR, encoding: "utf8" },
  );
  return JSON.parse(output) as Record<string, unknown>;
}

const loadedPackages = `const loaded = (name) => Object.keys(require.cache).some((file) => file.includes("/node_modules/" + name + "/"));`;

describe("the plan host's preload", function () {
  this.timeout(60_000);

  it("loads Pulumi's SDK without the Automation API, arborist or typescript", () => {
    const result = afterPreload(`${loadedPackages}
      require("@pulumi/pulumi"); require("@pulumi/aws");
      console.log(JSON.stringify({ arborist: loaded("@npmcli/arborist"), typescript: loaded("typescript"),
        automation: Object.keys(require.cache).some((file) => file.endsWith("/@pulumi/pulumi/automation/stack.js")) }));`);
    assert.deepEqual(result, { arborist: false, typescript: false, automation: false });
  });

  it("gives the real Automation API on first use", () => {
    const result = afterPreload(`
      const pulumi = require("@pulumi/pulumi");
      const real = require("@pulumi/pulumi/automation");
      console.log(JSON.stringify({ workspace: typeof pulumi.automation.LocalWorkspace,
        same: pulumi.automation.LocalWorkspace === real.LocalWorkspace,
        keys: Object.keys(pulumi.automation).includes("LocalWorkspace") }));`);
    assert.deepEqual(result, { workspace: "function", same: true, keys: true });
  });

  it("serializes a function with the real closure serializer on first use", () => {
    const result = afterPreload(`
      const pulumi = require("@pulumi/pulumi");
      const answer = 42;
      pulumi.runtime.serializeFunction(() => answer).then((serialized) =>
        console.log(JSON.stringify({ text: serialized.text.includes("42"), exportName: serialized.exportName })));`);
    assert.deepEqual(result, { text: true, exportName: "handler" });
  });

  it("turns source maps and stack traces off before the SDK loads", () => {
    const result = afterPreload(`
      console.log(JSON.stringify({ sourceMaps: process.sourceMapsEnabled ?? false, limit: Error.stackTraceLimit }));`);
    assert.deepEqual(result, { sourceMaps: false, limit: 0 });
  });
});

describe("the plan host's loader", function () {
  this.timeout(60_000);
  const loader = path.join(PROJECT_DIR, "automation", "plan", "host", "register.cjs");
  let dir: string;
  before(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "platform-loader-"));
    // A package whose .js uses ES module syntax: Node loads it as an ES module (require(esm), syntax
    // detection), tsx would transform it to CommonJS.
    fs.mkdirSync(path.join(dir, "node_modules", "esm-in-js"), { recursive: true });
    fs.writeFileSync(
      path.join(dir, "node_modules", "esm-in-js", "package.json"),
      '{"name":"esm-in-js","main":"index.js"}',
    );
    fs.writeFileSync(path.join(dir, "node_modules", "esm-in-js", "index.js"), "export const x = 1;\n");
    fs.writeFileSync(path.join(dir, "program.ts"), "const answer: number = 42;\nexport = answer;\n");
    fs.writeFileSync(path.join(dir, "esm.js"), "export const fromProject = true;\n");
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  const run = (script: string) =>
    spawnSync(process.execPath, ["--require", loader, "-e", script], { cwd: dir, encoding: "utf8" });

  it("loads the program's TypeScript and its ES module syntax .js files through tsx", () => {
    const result = run(
      'console.log(JSON.stringify([require("./program.ts"), require("./esm.js").fromProject]))',
    );
    assert.equal(result.status, 0, result.stderr);
    assert.deepEqual(JSON.parse(result.stdout), [42, true]);
  });

  it("loads packages with Node's own loader, as Pulumi's Node.js host does (no tsx transform)", () => {
    const result = run('console.log(Object.prototype.toString.call(require("esm-in-js")))');
    assert.equal(result.status, 0, result.stderr);
    assert.equal(result.stdout.trim(), "[object Module]");
  });
});
