/**
 * What a `platform` process loads (issue 15): each command loads what it needs when it runs, so
 * `--help` and a plan start without the service, the local cloud or Pulumi's SDK (planning happens
 * in the plan hosts), and a command that does load the SDK leaves its Automation API unloaded.
 * Real processes, each writing the modules in its require cache to a file as it exits.
 */
import { strict as assert } from "node:assert";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { PROJECT_DIR } from "../../automation/plan/plan";

/** Modules a plan's CLI process has no use for, by what they are. */
const UNNEEDED = {
  "Pulumi's SDK": "/node_modules/@pulumi/pulumi/index.js",
  "the AWS provider SDK": "/node_modules/@pulumi/aws/index.js",
  fastify: "/node_modules/fastify/",
  dynalite: "/node_modules/dynalite/",
  "the Automation API's @npmcli/arborist": "/node_modules/@npmcli/arborist/",
};
const ARBORIST = UNNEEDED["the Automation API's @npmcli/arborist"];

let dir: string;
let recorder: string;
let runs = 0;

interface Recorded {
  status: number | null;
  stdout: string;
  stderr: string;
  /** Absolute paths of the modules loaded by the time the process exited. */
  modules: string[];
}

/** Runs `node --require <recorder> <entry> ...args` in the project and returns what it loaded. */
function record(entry: string[], args: string[]): Recorded {
  const file = path.join(dir, `modules-${++runs}.txt`);
  const run = spawnSync(process.execPath, ["--require", recorder, ...entry, ...args], {
    cwd: PROJECT_DIR,
    encoding: "utf8",
    env: { ...process.env, RECORD_MODULES_TO: file },
    timeout: 120_000,
  });
  // No record means the recorder never ran: every "not loaded" check would pass for nothing.
  assert.ok(fs.existsSync(file), `the process recorded no modules (exit ${run.status}): ${run.stderr}`);
  const modules = fs.readFileSync(file, "utf8").split("\n");
  assert.ok(
    modules.some((module) => module.endsWith(path.join("automation", "cli.ts"))),
    "cli.ts not among them",
  );
  return { status: run.status, stdout: run.stdout, stderr: run.stderr, modules };
}

const platform = (...args: string[]) => record([path.join(PROJECT_DIR, "bin", "platform.js")], args);

/** The names of UNNEEDED whose modules were loaded. */
function unneededIn(modules: string[]): string[] {
  return Object.entries(UNNEEDED)
    .filter(([, marker]) => modules.some((module) => module.includes(marker)))
    .map(([name]) => name);
}

describe("platform CLI startup", function () {
  this.timeout(150_000);

  before(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "cli-startup-"));
    recorder = path.join(dir, "record-modules.js");
    fs.writeFileSync(
      recorder,
      'process.on("exit", () => require("node:fs").writeFileSync(process.env.RECORD_MODULES_TO, Object.keys(require.cache).join("\\n")));\n',
    );
  });

  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  it("prints --help without loading Pulumi's SDK, fastify, dynalite or @npmcli/arborist", () => {
    const run = platform("--help");

    assert.equal(run.status, 0, run.stderr);
    assert.match(run.stdout, /^Usage: platform /);
    assert.deepEqual(unneededIn(run.modules), []);
  });

  it("plans dev with --json in a process that loads neither Pulumi's SDK, fastify, dynalite nor @npmcli/arborist", () => {
    const run = platform("plan", "dev", "--json");

    assert.equal(run.status, 0, run.stderr);
    assert.equal((JSON.parse(run.stdout) as { stack: string }).stack, "dev");
    assert.deepEqual(unneededIn(run.modules), []);
  });

  it("checks policy with Pulumi's SDK loaded but not its Automation API (@npmcli/arborist)", () => {
    const run = platform("policy", "dev", "--format", "json");

    assert.equal(run.status, 0, run.stderr);
    assert.ok(run.modules.some((module) => module.includes(UNNEEDED["Pulumi's SDK"])));
    assert.ok(!run.modules.some((module) => module.includes(ARBORIST)), "@npmcli/arborist was loaded");
  });

  it("defers the Automation API when automation/cli.ts is the entry, as under the tsx CLI", () => {
    // --parallel 0 is a usage error found after the stage settings (and with them the SDK) load.
    const run = record(
      ["--require", "tsx/cjs", path.join(PROJECT_DIR, "automation", "cli.ts")],
      ["rollout", "dev", "--parallel", "0"],
    );

    assert.equal(run.status, 2, run.stderr);
    assert.ok(run.modules.some((module) => module.includes(UNNEEDED["Pulumi's SDK"])));
    assert.ok(!run.modules.some((module) => module.includes(ARBORIST)), "@npmcli/arborist was loaded");
  });

  it("passes the stack of `npm run plan -- <stack>` to platform plan (an unknown one exits 2 naming it)", () => {
    const run = spawnSync("npm", ["run", "--silent", "plan", "--", "no-such-stack"], {
      cwd: PROJECT_DIR,
      encoding: "utf8",
      timeout: 120_000,
    });

    assert.equal(run.status, 2, run.stderr);
    assert.match(run.stderr, /Unknown stack "no-such-stack"/);
  });
});
