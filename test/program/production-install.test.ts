/**
 * `pulumi up` where only production dependencies are installed (`npm ci --omit=dev`, as a deploy
 * job or a container image does): the program must compile and run with those alone.
 *
 * The test lays out such an install (hard links of exactly the packages `npm ls --omit=dev` lists),
 * then loads the program the way Pulumi's Node.js host does: `@pulumi/pulumi`'s own choice of
 * TypeScript and ts-node (its vendored TypeScript 3.8 when the project has none), the tsconfig that
 * Pulumi.yaml names, type checking on, and the program run under the mock runtime.
 */
import { strict as assert } from "node:assert";
import { execFileSync, spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { parse as parseYaml } from "yaml";

const PROJECT_DIR = path.resolve(__dirname, "../..");
/** What the program needs besides node_modules: the program, its components, handlers, and the mock runtime the test loads it under. */
const PROGRAM_FILES = ["index.ts", "components", "functions", "automation/plan", "package.json"];

/** A copy of the project with only its production dependencies installed. */
function productionInstall(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "platform-prod-install-"));
  const listed = execFileSync("npm", ["ls", "--omit=dev", "--all", "--parseable"], {
    cwd: PROJECT_DIR,
    encoding: "utf8",
  });
  const root = `${path.join(PROJECT_DIR, "node_modules")}${path.sep}`;
  for (const line of listed.split("\n")) {
    if (!line.startsWith(root)) continue;
    const packagePath = line.slice(root.length);
    if (packagePath.includes(`${path.sep}node_modules${path.sep}`)) continue; // inside its parent's copy
    const target = path.join(dir, "node_modules", packagePath);
    fs.mkdirSync(path.dirname(target), { recursive: true });
    execFileSync("cp", ["-al", line, target]);
  }
  for (const file of [
    ...PROGRAM_FILES,
    ...fs.readdirSync(PROJECT_DIR).filter((f) => /^(Pulumi\..*|tsconfig.*\.json)$/.test(f)),
  ]) {
    fs.cpSync(path.join(PROJECT_DIR, file), path.join(dir, file), { recursive: true });
  }
  return dir;
}

/** Loads the program as Pulumi's host does and prints what it registered. Plain CommonJS: no tsx here. */
const HOST = `
const path = require("node:path");
const fs = require("node:fs");
const yaml = require("yaml");
const tsutils = require("@pulumi/pulumi/tsutils");
const project = yaml.parse(fs.readFileSync("Pulumi.yaml", "utf8"));
const tsconfig = project.runtime.options.tsconfig ?? "tsconfig.json";
const { tsnodeRequire, typescriptRequire } = tsutils.typeScriptRequireStrings();
const compilerOptions = tsutils.loadTypeScriptCompilerOptions(tsconfig);
require(tsnodeRequire).register({
  compiler: typescriptRequire,
  transpileOnly: compilerOptions.noCheck,
  project: tsconfig,
  skipProject: !fs.existsSync(tsconfig),
  compilerOptions: {},
});
const pulumi = require("@pulumi/pulumi");
const { installMockRuntime, settled } = require("./automation/plan/mocks.ts");
(async () => {
  const stack = yaml.parse(fs.readFileSync("Pulumi.dev.yaml", "utf8")).config;
  const config = {};
  for (const [key, value] of Object.entries(stack)) config[key] = typeof value === "string" ? value : JSON.stringify(value);
  pulumi.runtime.setAllConfig(config, []);
  const runtime = await installMockRuntime({ project: project.name, stack: "dev", region: stack["aws:region"], preview: false });
  await pulumi.runtime.runInPulumiStack(async () => require(path.resolve("index.ts")));
  await settled();
  const typescript = require(typescriptRequire);
  console.log(JSON.stringify({ typescript: typescript.version, types: runtime.resources.map((r) => r.type) }));
})().catch((error) => { console.error(error && error.stack || String(error)); process.exit(1); });
`;

describe("the program with production dependencies only (npm ci --omit=dev)", function () {
  this.timeout(180_000);
  let dir: string;
  let run: { status: number | null; stdout: string; stderr: string };

  before(() => {
    dir = productionInstall();
    fs.writeFileSync(path.join(dir, "pulumi-host.cjs"), HOST);
    const result = spawnSync(process.execPath, ["pulumi-host.cjs"], { cwd: dir, encoding: "utf8" });
    run = { status: result.status, stdout: result.stdout, stderr: result.stderr };
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  it("installs no test-only package (mocha and its types, SDK mocks, the browser driver)", () => {
    for (const devOnly of ["@types/mocha", "mocha", "aws-sdk-client-mock", "playwright-core"]) {
      assert.equal(fs.existsSync(path.join(dir, "node_modules", devOnly)), false, `${devOnly} was installed`);
    }
  });

  it("names a tsconfig in Pulumi.yaml that lists no test types", () => {
    const project = parseYaml(fs.readFileSync(path.join(PROJECT_DIR, "Pulumi.yaml"), "utf8"));
    const tsconfigFile = project.runtime.options.tsconfig;
    assert.equal(typeof tsconfigFile, "string");
    const compilerOptions = JSON.parse(
      fs.readFileSync(path.join(PROJECT_DIR, tsconfigFile), "utf8"),
    ).compilerOptions;
    assert.deepEqual(compilerOptions.types, ["node"]);
  });

  it("compiles with the project's TypeScript 5, not Pulumi's vendored 3.8, and runs the program", () => {
    assert.equal(run.status, 0, `the program failed under Pulumi's host:\n${run.stderr.slice(0, 4000)}`);
    const printed = JSON.parse(run.stdout.trim().split("\n").pop() ?? "{}") as {
      typescript: string;
      types: string[];
    };
    assert.match(printed.typescript, /^5\./);
    assert.ok(printed.types.includes("aws:lambda/function:Function"), "no Lambda function was registered");
    assert.ok(printed.types.includes("platform:index:Platform"), "the Platform component was not registered");
  });
});
