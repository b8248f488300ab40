import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { FunctionPool } from "../../automation/local/functions";
import { type Bundle, buildBundle, ENTRY_FILE, esbuildTarget } from "../../components/bundle";

const modules = (bundle: Bundle) => Object.keys(bundle.files).filter((name) => name.endsWith(".mjs"));

describe("bundleHandler", () => {
  // One build per entry: esbuild is fast, but a bundle with the SDK is not free on a shared machine.
  let list: Bundle;
  let get: Bundle;
  let health: Bundle;
  before(() => {
    list = buildBundle("functions/users/list.ts");
    get = buildBundle("functions/users/get.ts");
    health = buildBundle("functions/health/index.ts");
  });

  it("builds byte-identical output from unchanged sources", () => {
    const second = buildBundle("functions/users/list.ts");
    assert.deepEqual(Object.keys(second.files), Object.keys(list.files));
    for (const [name, text] of Object.entries(list.files)) assert.equal(second.files[name], text, name);
  });

  it("bundles the AWS SDK instead of resolving it from the runtime at cold start", () => {
    assert.deepEqual(
      list.externals.filter((specifier) => !specifier.startsWith("node:")),
      [],
      "only Node built-ins may come from outside the archive",
    );
    assert.match(list.code, /^import\{[^}]*\}from"\.\/chunk-[A-Z0-9]+\.mjs"/, "the entry is an ES module");
    assert.match(list.code, /export\{[^}]* as handler\}/);
  });

  it("bundles Powertools", () => {
    for (const name of modules(list)) assert.doesNotMatch(list.files[name], /@aws-lambda-powertools\/logger/);
  });

  it("leaves the SDK's fallback credential providers out of the cold start, in lazy chunks", () => {
    const lazy = modules(get).filter((name) => !get.startupFiles.includes(name));
    assert.ok(lazy.length > 0, "no lazy chunks");
    const holding = (text: string) => modules(get).filter((name) => get.files[name].includes(text));
    // STS web identity and SSO: what the chain tries after the environment, which Lambda always sets.
    for (const provider of ["AssumeRoleWithWebIdentity", "GetRoleCredentials", "credential_process"]) {
      assert.ok(holding(provider).length > 0, `${provider} is not bundled`);
      for (const name of holding(provider)) {
        assert.ok(!get.startupFiles.includes(name), `${provider} is in ${name}, loaded at cold start`);
      }
    }
    assert.ok(get.bytes < get.totalBytes * 0.7, `cold start loads ${get.bytes} of ${get.totalBytes} bytes`);
  });

  it("lists the entry first among the modules a cold start loads", () => {
    assert.equal(get.startupFiles[0], ENTRY_FILE);
    for (const name of get.startupFiles) assert.ok(name in get.files, `${name} is not in the archive`);
    assert.equal(
      get.bytes,
      get.startupFiles.reduce((sum, name) => sum + Buffer.byteLength(get.files[name]), 0),
    );
  });

  it("adds no require shim to a bundle whose code never calls require", () => {
    assert.doesNotMatch(health.code, /node:module/);
    assert.deepEqual(modules(health), [ENTRY_FILE]);
  });

  it("minifies the modules and keeps each source map as a separate file", () => {
    const readable = buildBundle("functions/users/list.ts", { minify: false });
    assert.ok(readable.totalBytes > 1.5 * list.totalBytes, "the modules are not minified");
    for (const name of modules(list)) {
      assert.ok(list.files[name].endsWith(`//# sourceMappingURL=${name}.map\n`), `${name} links no map`);
      assert.equal(JSON.parse(list.files[`${name}.map`]).version, 3);
    }
    assert.equal(list.map, list.files[`${ENTRY_FILE}.map`]);
  });

  it("records sources relative to the project, never absolute paths", () => {
    const sources = JSON.parse(list.map).sources as string[];
    assert.ok(sources.some((s) => s.endsWith("functions/users/list.ts")));
    assert.ok(
      sources.every((s) => !s.startsWith("/")),
      "absolute paths make archives differ between machines",
    );
  });

  it("maps Lambda runtimes to esbuild targets", () => {
    assert.equal(esbuildTarget("nodejs22.x"), "node22");
    assert.throws(() => esbuildTarget("python3.12"), /Unsupported Lambda runtime python3.12/);
  });

  describe("in the local cloud's Lambda worker", function () {
    this.timeout(30_000);
    let dir: string;
    before(() => {
      // Outside the project: nothing the handler loads may come from this checkout's node_modules.
      dir = fs.mkdtempSync(path.join(os.tmpdir(), "platform-bundle-"));
      for (const [name, text] of Object.entries(get.files)) fs.writeFileSync(path.join(dir, name), text);
    });
    after(() => fs.rmSync(dir, { recursive: true, force: true }));

    it("loads the archive alone and answers its cold request, reporting the import time", async () => {
      const pool = new FunctionPool(
        {
          name: "get",
          logicalName: "get-function",
          handler: "index.handler",
          files: Object.fromEntries(Object.keys(get.files).map((name) => [name, name])),
          environment: { TABLE_NAME: "users", POWERTOOLS_LOG_LEVEL: "SILENT" },
          memoryMb: 256,
          timeoutSeconds: 10,
          architecture: "arm64",
          runtime: "nodejs22.x",
        },
        { codeDir: dir, baseEnvironment: {}, region: "us-east-1", accountId: "123456789012", maxWorkers: 1 },
      );
      try {
        const result = await pool.invoke(null);
        assert.equal(result.error, undefined, JSON.stringify(result.error));
        assert.equal(JSON.parse(result.payload ?? "{}").statusCode, 400);
        assert.equal(result.cold, true);
        assert.ok((result.initDurationMs ?? 0) > 0, "no init time reported");
      } finally {
        await pool.close();
      }
    });
  });
});
