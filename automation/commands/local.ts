import * as fs from "node:fs";
import { apiGatewayEvent } from "../../functions/shared/api-gateway-event";
import type * as Cloud from "../local/cloud";
import type * as DevServerModule from "../local/dev-server";
import type * as Gateway from "../local/gateway";
import { localModel } from "../local/model";
import { PlanError, planStack } from "../plan/plan";
import { CliExit, EXIT, type RegisterCommand } from "./io";

const planFailed = (error: unknown): never => {
  if (error instanceof PlanError) throw new CliExit(EXIT.failed, `error: ${error.message}`);
  throw error;
};

function parsePort(text: string): number {
  const port = Number(text);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new CliExit(
      EXIT.usage,
      `error: --port must be an integer from 0 to 65535 (got ${JSON.stringify(text)})`,
    );
  }
  return port;
}

function collectParameter(pair: string, previous: Record<string, string>): Record<string, string> {
  const equals = pair.indexOf("=");
  if (equals <= 0)
    throw new CliExit(EXIT.usage, `error: --parameter takes name=value (got ${JSON.stringify(pair)})`);
  return { ...previous, [pair.slice(0, equals)]: pair.slice(equals + 1) };
}

function parseAuth(text: string): boolean {
  if (text !== "on" && text !== "off")
    throw new CliExit(EXIT.usage, `error: --auth must be on or off (got ${JSON.stringify(text)})`);
  return text === "on";
}

/** Resolves when the signal aborts (Ctrl-C), or never without one. */
const untilAborted = (signal?: AbortSignal) =>
  new Promise<void>((resolve) => {
    if (signal?.aborted) resolve();
    signal?.addEventListener("abort", () => resolve(), { once: true });
  });

/** `platform dev [stack] [--port] [--auth on|off] [--in-memory] [--no-schedules]`: the stack's local cloud, served until Ctrl-C. */
export const registerDev: RegisterCommand = (program, io) => {
  program
    .command("dev")
    .description(
      "Serve a stack's API locally from its plan (API Gateway, Lambda in worker threads, DynamoDB on dynalite, SQS, schedules)",
    )
    .argument("[stack]", "stack name", "dev")
    .option("--port <n>", "port of the API on 127.0.0.1", parsePort, 3000)
    .option("--auth <on|off>", "check IAM signatures and API keys as the routes declare", parseAuth, true)
    .option("--in-memory", "keep table data in memory (else under .data/local/<stack>)")
    .option(
      "--no-schedules",
      "do not fire the stack's EventBridge Scheduler schedules (they are listed, not run)",
    )
    .option(
      "--parameter <name=value...>",
      "an SSM parameter the functions may read (what `aws ssm put-parameter` would hold), repeatable",
      collectParameter,
      {},
    )
    .action(
      async (
        stack: string,
        options: {
          port: number;
          auth: boolean;
          inMemory?: boolean;
          schedules: boolean;
          parameter: Record<string, string>;
        },
      ) => {
        // The local cloud (dynalite, worker threads) is required when it is run, not at CLI start.
        const { DevServer } = require("../local/dev-server") as typeof DevServerModule;
        const server = await DevServer.start({
          stack,
          port: options.port,
          auth: options.auth,
          inMemory: options.inMemory,
          schedules: options.schedules,
          parameters: options.parameter,
          print: (line) => io.stdout(`${line}\n`),
        }).catch(planFailed);
        io.stdout("Ctrl-C stops it.\n");
        await untilAborted(io.signal);
        await server.close();
      },
    );
};

/** All of a stream: standard input may be a non-blocking pipe, which a synchronous read fails on (EAGAIN). */
async function readAll(stream: NodeJS.ReadableStream): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk));
  return Buffer.concat(chunks).toString("utf8");
}

/** The event of `platform invoke`: `{}`, a file, or standard input (`-`, or the io's own stdin in tests). */
export async function readEvent(
  source: string | undefined,
  stdin: NodeJS.ReadableStream = process.stdin,
): Promise<unknown> {
  if (source === undefined) return {};
  let text: string;
  try {
    text = source === "-" ? await readAll(stdin) : fs.readFileSync(source, "utf8");
  } catch (error) {
    throw new CliExit(
      EXIT.usage,
      `error: cannot read the event from ${source === "-" ? "standard input" : source}: ${(error as Error).message}`,
    );
  }
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new CliExit(
      EXIT.usage,
      `error: the event in ${source === "-" ? "standard input" : source} is not JSON: ${(error as Error).message}`,
    );
  }
}

/** `platform invoke <function> [--event <file>|-] [--stack]`: one invocation, as `sam local invoke`. */
export const registerInvoke: RegisterCommand = (program, io) => {
  program
    .command("invoke")
    .description(
      "Invoke a function of a stack locally with an event (its key, e.g. get, or its name); prints the result",
    )
    .argument("<function>", "the function: its key in functionNames (get), logical or physical name")
    .option("--event <file>", "the event as JSON, from a file or - for standard input (default {})")
    .option("-s, --stack <stack>", "stack name", "dev")
    .option("--in-memory", "keep table data in memory (else under .data/local/<stack>)")
    .action(async (name: string, options: { event?: string; stack: string; inMemory?: boolean }) => {
      const event = await readEvent(options.event);
      // The local cloud (dynalite, worker threads) is required when it is run, not at CLI start.
      const { LocalCloud } = require("../local/cloud") as typeof Cloud;
      const { readableLogLine } = require("../local/dev-server") as typeof DevServerModule;
      // One invocation: the stack's schedules do not fire meanwhile.
      const cloud = await LocalCloud.start({
        stack: options.stack,
        inMemory: options.inMemory,
        schedules: false,
      }).catch(planFailed);
      try {
        let fn: ReturnType<Cloud.LocalCloud["resolveFunction"]>;
        try {
          fn = cloud.resolveFunction(name);
        } catch (error) {
          throw new CliExit(EXIT.usage, `error: ${(error as Error).message}`);
        }
        const result = await cloud.invoke(fn.name, event);
        for (const line of result.logs) io.stderr(`${readableLogLine(line)}\n`);
        const init = result.cold ? `, init ${Math.round(result.initDurationMs ?? 0)} ms` : "";
        io.stderr(`${fn.name}: ${Math.round(result.durationMs)} ms${init}\n`);
        if (result.error) {
          io.stdout(`${JSON.stringify(result.error, null, 2)}\n`);
          throw new CliExit(
            EXIT.failed,
            `error: ${fn.name} failed: ${result.error.errorType}: ${result.error.errorMessage}`,
          );
        }
        io.stdout(`${JSON.stringify(JSON.parse(result.payload ?? "null"), null, 2)}\n`);
      } finally {
        await cloud.close();
      }
    });
};

/** `platform event <METHOD> <path> [--body] [--header] [--stack]`: the proxy event this stack's API would send. */
export const registerEvent: RegisterCommand = (program, io) => {
  program
    .command("event")
    .description("Print the API Gateway proxy event this stack's API would send its function for a request")
    .argument("<method>", "HTTP method (GET, POST, ...)")
    .argument("<path>", "request path with optional query string, e.g. /users/42?fields=name")
    .option("--body <text>", "request body (e.g. JSON)")
    .option(
      "-H, --header <name:value...>",
      "request header, repeatable",
      (pair: string, previous: string[]) => [...previous, pair],
      [],
    )
    .option("-s, --stack <stack>", "stack name", "dev")
    .action(
      async (
        method: string,
        requestPath: string,
        options: { body?: string; header: string[]; stack: string },
      ) => {
        if (!requestPath.startsWith("/"))
          throw new CliExit(
            EXIT.usage,
            `error: the path must start with / (got ${JSON.stringify(requestPath)})`,
          );
        const headers: Record<string, string[]> = {};
        for (const pair of options.header) {
          const colon = pair.indexOf(":");
          if (colon <= 0)
            throw new CliExit(EXIT.usage, `error: --header takes name:value (got ${JSON.stringify(pair)})`);
          const headerName = pair.slice(0, colon).trim();
          headers[headerName] = [...(headers[headerName] ?? []), pair.slice(colon + 1).trim()];
        }
        if (
          options.body !== undefined &&
          !Object.keys(headers).some((h) => h.toLowerCase() === "content-type")
        ) {
          headers["Content-Type"] = ["application/json"];
        }
        const planned = planStack(options.stack).catch(planFailed);
        // Required while the plan host starts, not at CLI start.
        const { routeRequest } = require("../local/gateway") as typeof Gateway;
        const plan = await planned;
        const model = localModel(plan);
        const api = model.apis[0];
        if (!api) throw new CliExit(EXIT.failed, `error: stack ${options.stack} has no REST API`);
        const upper = method.toUpperCase();
        const routed = routeRequest(api.routes, upper, requestPath.split("?")[0]);
        if (!routed) {
          const routes = api.routes.map((r) => `${r.method} ${r.resource}`).join(", ");
          throw new CliExit(
            EXIT.failed,
            `error: ${upper} ${requestPath} matches no route of stack ${options.stack} (API Gateway answers 403 Missing Authentication Token); its routes: ${routes}`,
          );
        }
        const event = apiGatewayEvent({
          resource: routed.route.resource,
          httpMethod: upper,
          path: requestPath,
          headers,
          body: options.body ?? null,
          stage: api.stageName,
          apiId: api.restApiId,
          accountId: model.accountId,
          region: model.region,
        });
        io.stdout(`${JSON.stringify(event, null, 2)}\n`);
      },
    );
};
