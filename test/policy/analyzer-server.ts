/**
 * The pack served by @pulumi/policy's own analyzer server (`new PolicyPack` in policy/index.ts, in a
 * child process whose working directory is policy/, as `pulumi preview --policy-pack policy` runs
 * it), and a gRPC client that sends it what the engine sends: Configure with the reconciled config,
 * Analyze per resource (inputs) and AnalyzeStack (outputs). Tests compare its diagnostics with the
 * offline evaluator's.
 */
import { type ChildProcess, spawn } from "node:child_process";
import type { PolicyProviderResource } from "@pulumi/policy";
import type { RecordedResource } from "../../automation/plan/mocks";
import type { PlanResult } from "../../automation/plan/types";
import { ProviderLookup } from "../../automation/policy/args";
import { POLICY_DIR, type ResolvedPolicyConfig } from "../../automation/policy/config";
import type { Violation } from "../../automation/policy/evaluate";

// The gRPC stack @pulumi/pulumi ships (the one the policy server itself uses).
const grpc = require("@grpc/grpc-js") as {
  credentials: { createInsecure(): unknown };
};
const rpc = require("@pulumi/pulumi/proto/analyzer_grpc_pb") as {
  AnalyzerClient: new (address: string, credentials: unknown) => AnalyzerClient;
};
const pb = require("@pulumi/pulumi/proto/analyzer_pb") as Record<string, new () => Message> & {
  EnforcementLevel: Record<string, number>;
};
const { Struct } = require("google-protobuf/google/protobuf/struct_pb") as {
  Struct: { fromJavaScript(value: Record<string, unknown>): unknown };
};

type Message = Record<string, (...args: never[]) => unknown>;
type Callback = (error: Error | null, response: Message) => void;
interface AnalyzerClient {
  configure(request: unknown, callback: Callback): void;
  analyze(request: unknown, callback: Callback): void;
  analyzeStack(request: unknown, callback: Callback): void;
  close(): void;
}

const LEVELS: Record<number, "advisory" | "mandatory" | "remediate" | "disabled"> = {};
for (const name of ["ADVISORY", "MANDATORY", "REMEDIATE", "DISABLED"]) {
  LEVELS[pb.EnforcementLevel[name]] = name.toLowerCase() as "advisory";
}

function call(client: AnalyzerClient, method: "configure" | "analyze" | "analyzeStack", request: unknown) {
  return new Promise<Message>((resolve, reject) =>
    client[method](request, (error, response) => (error ? reject(error) : resolve(response))),
  );
}

function message(type: string, fields: Record<string, unknown>): Message {
  const result = new pb[type]();
  for (const [setter, value] of Object.entries(fields)) {
    if (value !== undefined) (result[setter] as (v: unknown) => void)(value);
  }
  return result;
}

function options(resource: RecordedResource): Message {
  return message("AnalyzerResourceOptions", {
    setProtect: false,
    setIgnorechangesList: resource.ignoreChanges,
    setAliasesList: [],
    setAdditionalsecretoutputsList: [],
    setParent: resource.parent,
  });
}

function provider(value: PolicyProviderResource | undefined): Message | undefined {
  if (!value) return undefined;
  return message("AnalyzerProviderResource", {
    setType: value.type,
    setUrn: value.urn,
    setName: value.name,
    setProperties: Struct.fromJavaScript({ ...value.props }),
  });
}

export interface PackServer {
  /** Diagnostics for the whole plan, as violations (the engine's attribution of URNs). */
  analyzePlan(plan: PlanResult, config: Map<string, ResolvedPolicyConfig>): Promise<Violation[]>;
  stop(): void;
}

/** Starts policy/index.ts under tsx with policy/ as working directory and connects to it. */
export async function startPackServer(): Promise<PackServer> {
  const child: ChildProcess = spawn(process.execPath, ["--import", "tsx", "-e", "require('./index.ts')"], {
    cwd: POLICY_DIR,
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stderr = "";
  child.stderr?.on("data", (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  const port = await new Promise<number>((resolve, reject) => {
    let stdout = "";
    child.stdout?.on("data", (chunk: Buffer) => {
      stdout += chunk.toString();
      const match = /^(\d+)\s/.exec(stdout);
      if (match) resolve(Number(match[1]));
    });
    child.once("exit", (code) =>
      reject(new Error(`policy pack exited (${code}) before serving:\n${stderr}`)),
    );
  });
  const client = new rpc.AnalyzerClient(`127.0.0.1:${port}`, grpc.credentials.createInsecure());

  return {
    async analyzePlan(plan, config) {
      const configure = new pb.ConfigureAnalyzerRequest();
      const map = (configure.getPolicyconfigMap as () => { set(key: string, value: unknown): void })();
      for (const [name, resolved] of config) {
        map.set(
          name,
          message("PolicyConfig", {
            setEnforcementlevel: pb.EnforcementLevel[resolved.enforcementLevel.toUpperCase()],
            setProperties: Struct.fromJavaScript(resolved.properties),
          }),
        );
      }
      await call(client, "configure", configure);

      const providers = new ProviderLookup(plan);
      const violations: Violation[] = [];
      const collect = (response: Message, urnOf: (reported: string) => string) => {
        for (const diagnostic of response.getDiagnosticsList() as Message[]) {
          const urn = urnOf(diagnostic.getUrn() as string);
          const resource = plan.resources.find((r) => r.urn === urn);
          const level = LEVELS[diagnostic.getEnforcementlevel() as number];
          const description = diagnostic.getDescription() as string;
          const text = diagnostic.getMessage() as string;
          violations.push({
            policyName: diagnostic.getPolicyname() as string,
            enforcementLevel: level === "remediate" ? "mandatory" : (level as "advisory" | "mandatory"),
            // The server shows the description first; the offline report keeps the policy's message.
            message: text.startsWith(`${description}\n`) ? text.slice(description.length + 1) : text,
            urn,
            resourceType: resource?.type,
            resourceName: resource?.name,
          });
        }
      };
      for (const resource of plan.resources) {
        const request = message("AnalyzeRequest", {
          setType: resource.type,
          setUrn: resource.urn,
          setName: resource.name,
          setProperties: Struct.fromJavaScript(resource.inputs),
          setOptions: options(resource),
          setProvider: provider(providers.providerOf(resource)),
        });
        // The engine attributes a resource's diagnostics to that resource.
        collect(await call(client, "analyze", request), () => resource.urn);
      }
      const root = plan.resources.find((r) => r.type === "pulumi:pulumi:Stack" && !r.parent);
      const stackRequest = new pb.AnalyzeStackRequest();
      (stackRequest.setResourcesList as (resources: unknown[]) => void)(
        plan.resources.map((resource) => {
          const outputs =
            resource === root
              ? plan.outputs
              : resource.custom && resource.id !== undefined && resource.outputs.id === undefined
                ? { id: resource.id, ...resource.outputs }
                : resource.outputs;
          const stackResource = message("AnalyzerResource", {
            setType: resource.type,
            setUrn: resource.urn,
            setName: resource.name,
            setProperties: Struct.fromJavaScript(outputs),
            setOptions: options(resource),
            setProvider: provider(providers.providerOf(resource)),
            setParent: resource.parent,
            setDependenciesList: resource.dependencies,
          });
          const dependencies = (
            stackResource.getPropertydependenciesMap as () => { set(key: string, value: unknown): void }
          )();
          for (const [key, urns] of Object.entries(resource.propertyDependencies)) {
            dependencies.set(key, message("AnalyzerPropertyDependencies", { setUrnsList: urns }));
          }
          return stackResource;
        }),
      );
      const inStack = new Set(plan.resources.map((r) => r.urn));
      collect(await call(client, "analyzeStack", stackRequest), (reported) =>
        reported && inStack.has(reported) ? reported : (root?.urn ?? ""),
      );
      return violations;
    },
    stop() {
      client.close();
      child.kill();
    },
  };
}
