/**
 * The local cloud's execution environments: real worker threads running small handler modules
 * written here, so that each Lambda behaviour (isolation, one request at a time, timeouts, errors,
 * code replacement) is seen on its own.
 */
import { strict as assert } from "node:assert";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { FunctionPool, type FunctionPoolOptions } from "../../automation/local/functions";
import type { LocalFunction } from "../../automation/local/model";

const dirs: string[] = [];
function code(source: string): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "platform-fn-"));
  fs.writeFileSync(path.join(dir, "index.mjs"), source);
  dirs.push(dir);
  return dir;
}

function fn(name: string, extra: Partial<LocalFunction> = {}): LocalFunction {
  return {
    name,
    logicalName: `${name}-function`,
    handler: "index.handler",
    files: { "index.mjs": "0" },
    environment: {},
    memoryMb: 128,
    timeoutSeconds: 5,
    architecture: "arm64",
    runtime: "nodejs22.x",
    ...extra,
  };
}

const options = (codeDir: string, maxWorkers = 2): FunctionPoolOptions => ({
  codeDir,
  baseEnvironment: {},
  region: "us-east-1",
  accountId: "123456789012",
  maxWorkers,
});

describe("local Lambda execution environments", function () {
  this.timeout(30_000);
  const pools: FunctionPool[] = [];
  const pool = (definition: LocalFunction, poolOptions: FunctionPoolOptions) => {
    const created = new FunctionPool(definition, poolOptions);
    pools.push(created);
    return created;
  };
  afterEach(async () => {
    await Promise.all(pools.splice(0).map((p) => p.close()));
  });
  after(() => {
    for (const dir of dirs) fs.rmSync(dir, { recursive: true, force: true });
  });

  it("gives each function its own environment variables and none of the host's", async () => {
    process.env.PLATFORM_HOST_ONLY = "leaked";
    const dir = code(
      "export const handler = async () => ({ greeting: process.env.GREETING, host: process.env.PLATFORM_HOST_ONLY ?? null, name: process.env.AWS_LAMBDA_FUNCTION_NAME });",
    );
    const a = pool(fn("a", { environment: { GREETING: "hello" } }), options(dir));
    const b = pool(fn("b", { environment: { GREETING: "hola" } }), options(dir));
    const [ra, rb] = await Promise.all([a.invoke({}), b.invoke({})]);
    assert.deepEqual(JSON.parse(ra.payload ?? ""), { greeting: "hello", host: null, name: "a" });
    assert.deepEqual(JSON.parse(rb.payload ?? ""), { greeting: "hola", host: null, name: "b" });
  });

  it("initializes provisioned environments ahead, so their first requests are not cold", async () => {
    const dir = code("export const handler = async () => 'warm';");
    const fnPool = pool(fn("provisioned", { provisionedConcurrency: 2 }), options(dir, 4));
    fnPool.provision();
    assert.equal(fnPool.stats().environments, 2);
    const results = await Promise.all([fnPool.invoke({}), fnPool.invoke({})]);
    assert.deepEqual(
      results.map((r) => r.cold),
      [false, false],
    );
    const third = await Promise.all([fnPool.invoke({}), fnPool.invoke({}), fnPool.invoke({})]);
    assert.equal(
      third.filter((r) => r.cold).length,
      1,
      "a third concurrent request starts an on-demand, cold environment",
    );
  });

  it("reports the first request of an on-demand environment as cold, with its init time", async () => {
    const dir = code("await new Promise((r) => setTimeout(r, 50)); export const handler = async () => 'ok';");
    const result = await pool(fn("on-demand"), options(dir)).invoke({});
    assert.equal(result.cold, true);
    assert.ok((result.initDurationMs ?? 0) >= 45, `init ${result.initDurationMs} ms`);
  });

  it("runs one request at a time per environment, starting a new one (cold) for concurrent requests", async () => {
    const dir = code(`
      let active = 0, most = 0;
      export const handler = async () => {
        active += 1; most = Math.max(most, active);
        await new Promise((r) => setTimeout(r, 100));
        active -= 1;
        return { most };
      };`);
    const fnPool = pool(fn("busy"), options(dir, 2));
    const results = await Promise.all([1, 2, 3, 4].map(() => fnPool.invoke({})));
    assert.ok(
      results.every((r) => JSON.parse(r.payload ?? "").most === 1),
      "an environment ran two requests at once",
    );
    assert.equal(
      results.filter((r) => r.cold).length,
      2,
      "two environments for four requests with maxWorkers 2",
    );
    assert.equal(fnPool.stats().environments, 2);
  });

  it("times a function out at its timeout and starts the next request cold", async () => {
    const dir = code(
      "export const handler = (event) => event.hang ? new Promise(() => {}) : Promise.resolve('done');",
    );
    const fnPool = pool(fn("slow", { timeoutSeconds: 0.3 }), options(dir, 1));
    await fnPool.invoke({});
    const timedOut = await fnPool.invoke({ hang: true });
    assert.equal(timedOut.timedOut, true);
    assert.match(timedOut.error?.errorMessage ?? "", /Task timed out after 0.30 seconds/);
    const after = await fnPool.invoke({});
    assert.equal(after.cold, true);
    assert.equal(after.payload, '"done"');
  });

  it("returns a thrown error with its type, message and the invocation's log lines", async () => {
    const dir = code(
      "export const handler = async () => { console.log('about to fail'); throw new TypeError('bad input'); };",
    );
    const result = await pool(fn("thrower"), options(dir)).invoke({});
    assert.equal(result.error?.errorType, "TypeError");
    assert.equal(result.error?.errorMessage, "bad input");
    assert.equal(result.logs[0], "about to fail");
  });

  it("treats a result JSON cannot carry as an error, as Lambda does", async () => {
    const dir = code("export const handler = async () => { const a = {}; a.self = a; return a; };");
    const result = await pool(fn("circular"), options(dir)).invoke({});
    assert.equal(result.error?.errorType, "TypeError");
  });

  it("survives a handler that exits the runtime: the request fails, the next one starts cold", async () => {
    const dir = code(
      "export const handler = async (event) => { if (event.exit) process.exit(3); return 'fine'; };",
    );
    const fnPool = pool(fn("exiter"), options(dir, 1));
    const crashed = await fnPool.invoke({ exit: true });
    assert.equal(crashed.error?.errorType, "Runtime.ExitError");
    const next = await fnPool.invoke({});
    assert.equal(next.payload, '"fine"');
    assert.equal(next.cold, true);
  });

  it("finishes a request in flight on the old code when new code replaces it, and serves the next on the new", async () => {
    const oldDir = code(
      "export const handler = async () => { await new Promise((r) => setTimeout(r, 200)); return 'old'; };",
    );
    const newDir = code("export const handler = async () => 'new';");
    const fnPool = pool(fn("versioned"), options(oldDir, 2));
    const inFlight = fnPool.invoke({});
    await new Promise((resolve) => setTimeout(resolve, 50));
    fnPool.replace(fn("versioned", { files: { "index.mjs": "1" } }), options(newDir, 2));
    const next = await fnPool.invoke({});
    assert.equal(next.payload, '"new"');
    assert.equal((await inFlight).payload, '"old"');
    await new Promise((resolve) => setTimeout(resolve, 50));
    assert.equal(fnPool.stats().environments, 1, "the retired environment ended after its request");
  });
});
