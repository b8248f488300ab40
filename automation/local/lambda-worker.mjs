// One Lambda execution environment of the local cloud: a worker thread with its own process.env
// (the function's environment), that imports the function's bundle once (the cold start) and then
// runs one invocation at a time. Plain JavaScript so that a worker starts without a TypeScript
// loader, as fast as Lambda's runtime would load the same bundle.
import { randomUUID } from "node:crypto";
import * as path from "node:path";
import { pathToFileURL } from "node:url";
import { format } from "node:util";
import { parentPort, workerData } from "node:worker_threads";

/** @type {{ dir: string, handler: string, functionName: string, memoryMb: number, timeoutMs: number, region: string, accountId: string }} */
const config = workerData;

/** Log lines of the invocation in progress (Lambda attributes a container's output to its request). */
let lines = [];
const capture = (chunk, encoding, callback) => {
  const text =
    typeof chunk === "string"
      ? chunk
      : Buffer.from(chunk).toString(typeof encoding === "string" ? encoding : "utf8");
  for (const line of text.split("\n")) if (line.length > 0) lines.push(line);
  const done = typeof encoding === "function" ? encoding : callback;
  if (typeof done === "function") done();
  return true;
};
process.stdout.write = capture;
if (config.sourceMaps) process.setSourceMapsEnabled(true);
process.stderr.write = capture;

const [moduleName, exportName] = splitHandler(config.handler);
let handlerFunction;
let initDurationMs;
/** Set when the first request still owes its init (a provisioned environment has none). */
let initOwed = !config.provisioned;

function splitHandler(handler) {
  const dot = handler.lastIndexOf(".");
  if (dot <= 0) throw new Error(`handler ${handler} is not <module>.<export>`);
  return [handler.slice(0, dot), handler.slice(dot + 1)];
}

async function load() {
  const started = performance.now();
  const candidates = [".mjs", ".js", ".cjs"].map((ext) => path.join(config.dir, `${moduleName}${ext}`));
  const fs = await import("node:fs");
  const file = candidates.find((candidate) => fs.existsSync(candidate));
  if (!file)
    throw new Error(
      `Runtime.ImportModuleError: Cannot find module '${moduleName}' in the function's archive`,
    );
  const loaded = await import(pathToFileURL(file).href);
  const fn = loaded[exportName] ?? loaded.default?.[exportName];
  if (typeof fn !== "function")
    throw new Error(`Runtime.HandlerNotFound: ${config.handler} is undefined or not exported`);
  handlerFunction = fn;
  initDurationMs = performance.now() - started;
}

function context(requestId, deadline, qualifier) {
  const unsupported = () => {
    throw new Error("the legacy callback API is not supported by the local cloud");
  };
  return {
    callbackWaitsForEmptyEventLoop: true,
    functionName: config.functionName,
    functionVersion: "$LATEST",
    // The ARN the caller invoked: with the alias (`:live`) when it named one, as on Lambda.
    invokedFunctionArn: `arn:aws:lambda:${config.region}:${config.accountId}:function:${config.functionName}${qualifier ? `:${qualifier}` : ""}`,
    memoryLimitInMB: String(config.memoryMb),
    awsRequestId: requestId,
    logGroupName: `/aws/lambda/${config.functionName}`,
    logStreamName: `local/[$LATEST]${randomUUID().replaceAll("-", "")}`,
    getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
    done: unsupported,
    fail: unsupported,
    succeed: unsupported,
  };
}

function errorPayload(error) {
  if (error instanceof Error) {
    return { errorType: error.name, errorMessage: error.message, trace: (error.stack ?? "").split("\n") };
  }
  return { errorType: "Error", errorMessage: format("%s", error), trace: [] };
}

// Lambda initializes an environment (imports the handler module) as it creates it, before the first
// request arrives; the first request reports that init as its cold start.
const loading = load().catch((error) => error);

parentPort.on("message", async (message) => {
  lines = [];
  const { id, event, requestId, qualifier } = message;
  const deadline = Date.now() + config.timeoutMs;
  const started = performance.now();
  let cold = false;
  let reply;
  try {
    const failed = await loading;
    if (failed instanceof Error) throw failed;
    if (initOwed) {
      cold = true;
      initOwed = false;
    }
    process.env._X_AMZN_TRACE_ID = `Root=1-${Math.floor(Date.now() / 1000).toString(16)}-${randomUUID().replaceAll("-", "").slice(0, 24)}`;
    const result = await handlerFunction(event, context(requestId, deadline, qualifier));
    // Lambda returns the handler's result as JSON: what cannot be serialized is an error there too.
    reply = { id, ok: true, payload: JSON.stringify(result === undefined ? null : result) };
  } catch (error) {
    const payload = errorPayload(error);
    lines.push(JSON.stringify({ level: "ERROR", message: `Invoke Error ${JSON.stringify(payload)}` }));
    reply = { id, ok: false, error: payload };
  }
  reply.durationMs = performance.now() - started;
  reply.cold = cold;
  reply.initDurationMs = cold ? initDurationMs : undefined;
  reply.logs = lines;
  lines = [];
  parentPort.postMessage(reply);
});
