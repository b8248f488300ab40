import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { FunctionPool } from "../../automation/local/functions";
import {
  type Bundle,
  buildBundle,
  bundleHandler,
  ENTRY_FILE,
  esbuildTarget,
  forgetCheckedBundles,
  knownBundles,
  prepareBundles,
} from "../../components/bundle";

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

describe("the bundle cache", function () {
  this.timeout(60_000);
  let root: string;
  const options = () => ({ projectRoot: root });
  const write = (file: string, text: string) => {
    fs.mkdirSync(path.dirname(path.join(root, file)), { recursive: true });
    fs.writeFileSync(path.join(root, file), text);
  };
  /** A fresh process's view: nothing in memory, only what is on disk. */
  const forgetMemory = () => {
    const shared = (
      globalThis as Record<
        symbol,
        {
          bundles: Map<string, unknown>;
          hashes: Map<string, unknown>;
          keys: Map<string, unknown>;
          loaded: Set<string>;
        }
      >
    )[Symbol.for("platform.bundle-cache")];
    shared.bundles.clear();
    shared.hashes.clear();
    shared.keys.clear();
    shared.loaded.clear();
    forgetCheckedBundles();
  };
  beforeEach(() => {
    // A project of its own: its handlers import a shared module, and its cache is its node_modules'.
    root = fs.mkdtempSync(path.join(os.tmpdir(), "platform-bundle-cache-"));
    write("node_modules/.package-lock.json", "{}");
    write("functions/shared.ts", 'export const greeting = (name: string) => "hello " + name;\n');
    write(
      "functions/a.ts",
      'import { greeting } from "./shared";\nexport const handler = async () => greeting("a");\n',
    );
    write(
      "functions/b.ts",
      'import { greeting } from "./shared";\nexport const handler = async () => greeting("b") + "!";\n',
    );
  });
  afterEach(() => fs.rmSync(root, { recursive: true, force: true }));

  it("returns a cached bundle byte-identical to a fresh build, from another process's cache", () => {
    bundleHandler("functions/a.ts", options());
    forgetMemory();
    const cached = bundleHandler("functions/a.ts", options());
    assert.deepEqual(cached, buildBundle("functions/a.ts", options()));
  });

  it("takes the file hashes an earlier process saved, trusting each while its file's stat is unchanged", () => {
    bundleHandler("functions/a.ts", options());
    const cacheDir = path.join(root, "node_modules", ".cache", "platform", "bundles");
    const savedFile = path.join(cacheDir, "file-hashes.json");
    const saved = JSON.parse(fs.readFileSync(savedFile, "utf8")) as Record<
      string,
      [number, number, number, string]
    >;
    const shared = path.join(root, "functions", "shared.ts");
    assert.ok(saved[shared], "the imported file's hash was not saved");
    // A wrong hash under the file's own stat: used, it keys the bundle anew (a rebuild, a new file).
    saved[shared][3] = "0".repeat(64);
    fs.writeFileSync(savedFile, JSON.stringify(saved));
    const bundles = () => fs.readdirSync(cacheDir).filter((name) => name.startsWith("bundle-")).length;
    const before = bundles();
    forgetMemory();
    assert.deepEqual(bundleHandler("functions/a.ts", options()), buildBundle("functions/a.ts", options()));
    assert.equal(bundles(), before + 1);
  });

  it("rebuilds a handler when a file it imports changes", () => {
    const before = bundleHandler("functions/a.ts", options());
    write("functions/shared.ts", 'export const greeting = (name: string) => "hi " + name;\n');
    forgetMemory();
    const after = bundleHandler("functions/a.ts", options());
    assert.notEqual(after.code, before.code);
    assert.match(after.code, /hi /);
    assert.deepEqual(after, buildBundle("functions/a.ts", options()));
  });

  it("builds the handlers that changed together, each byte-identical to its single-handler build", async () => {
    assert.deepEqual(await prepareBundles([{ entry: "functions/a.ts", ...options() }]), ["functions/a.ts"]);
    const known = knownBundles(root);
    assert.deepEqual(
      known.map((request) => request.entry),
      ["functions/a.ts"],
    );
    const built = await prepareBundles([...known, { entry: "functions/b.ts", ...options() }]);
    assert.deepEqual(built, ["functions/b.ts"], "an unchanged handler is not rebuilt");
    forgetMemory();
    for (const entry of ["functions/a.ts", "functions/b.ts"]) {
      assert.deepEqual(bundleHandler(entry, options()), buildBundle(entry, options()), entry);
    }
  });

  it("keeps each handler's archive free of the others' code: no chunks shared across handlers", async () => {
    await prepareBundles([
      { entry: "functions/a.ts", ...options() },
      { entry: "functions/b.ts", ...options() },
    ]);
    const a = bundleHandler("functions/a.ts", options());
    write("functions/b.ts", 'export const handler = async () => "b changed";\n');
    await prepareBundles(knownBundles(root));
    forgetMemory();
    assert.deepEqual(bundleHandler("functions/a.ts", options()), a, "a changed because b did");
  });

  it("writes whole files only (temporary file, then rename), so concurrent planners never read a partial one", () => {
    bundleHandler("functions/a.ts", options());
    const names = fs.readdirSync(path.join(root, "node_modules", ".cache", "platform", "bundles"));
    assert.ok(names.some((name) => name.startsWith("bundle-")));
    assert.ok(names.some((name) => name.startsWith("manifest-")));
    assert.deepEqual(
      names.filter((name) => name.endsWith(".partial")),
      [],
    );
  });
});
