import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import * as pulumi from "@pulumi/pulumi";
import { closureCacheDir, type Serialize, serializeWithCache } from "../../automation/plan/closure-cache";

/** A folder with a provider module (exporting `provider`) that imports a helper module. */
function providerProject(helper: string): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "platform-closures-"));
  fs.writeFileSync(path.join(dir, "helper.js"), helper);
  fs.writeFileSync(
    path.join(dir, "provider.js"),
    'const { describe } = require("./helper");\nexports.provider = { async create(inputs) { return { id: describe(inputs) }; } };\n',
  );
  return dir;
}

/** The SDK's serializer, counting its calls. */
function countingSerializer(): { calls: number; serialize: () => Serialize } {
  const counter = {
    calls: 0,
    serialize: () =>
      ((func: unknown, args?: Record<string, unknown>) => {
        counter.calls++;
        return pulumi.runtime.serializeFunction(func as () => unknown, args);
      }) as Serialize,
  };
  return counter;
}

describe("the cache of serialized dynamic providers", function () {
  this.timeout(60_000);
  let dir: string;
  let provider: unknown;
  // The SDK's own call for a dynamic provider (`@pulumi/pulumi/dynamic/index.js`) is `() => provider`.
  const thunk = () => provider;

  beforeEach(() => {
    dir = providerProject('exports.describe = (inputs) => "id-" + inputs.name;\n');
    provider = require(path.join(dir, "provider.js")).provider;
  });
  afterEach(() => {
    for (const file of ["provider.js", "helper.js"]) delete require.cache[path.join(dir, file)];
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it("gives the text a fresh serialization gives, byte for byte, without serializing again", async () => {
    const counter = countingSerializer();
    const fresh = await serializeWithCache(counter.serialize, thunk, { allowSecrets: true }, dir);
    const cached = await serializeWithCache(counter.serialize, thunk, { allowSecrets: true }, dir);
    assert.equal(counter.calls, 1);
    assert.equal(cached.text, fresh.text);
    assert.equal(cached.exportName, fresh.exportName);
    assert.match(cached.text, /describe\(inputs\)/);
    assert.equal(fs.readdirSync(closureCacheDir(dir)).length, 1);
  });

  it("serializes afresh when a module the provider imports changed", async () => {
    const counter = countingSerializer();
    await serializeWithCache(counter.serialize, thunk, { allowSecrets: true }, dir);
    fs.writeFileSync(
      path.join(dir, "helper.js"),
      'exports.describe = (inputs) => "changed-" + inputs.name;\n',
    );
    await serializeWithCache(counter.serialize, thunk, { allowSecrets: true }, dir);
    assert.equal(counter.calls, 2);
    assert.equal(fs.readdirSync(closureCacheDir(dir)).length, 2);
  });

  it("never caches a function other than the SDK's provider thunk", async () => {
    const counter = countingSerializer();
    const handler = async () => provider;
    for (let i = 0; i < 2; i++) await serializeWithCache(counter.serialize, handler, {}, dir);
    assert.equal(counter.calls, 2);
    assert.equal(fs.existsSync(closureCacheDir(dir)), false);
  });

  it("never writes a serialization that captured a secret", async () => {
    const secretive: Serialize = async () => ({
      text: "exports.handler = 'hunter2';",
      exportName: "handler",
      containsSecrets: true,
    });
    await serializeWithCache(() => secretive, thunk, { allowSecrets: true }, dir);
    assert.equal(fs.existsSync(closureCacheDir(dir)), false);
  });
});
