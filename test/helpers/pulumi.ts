import type { RecordedResource } from "../../automation/plan/mocks";
import { installMockRuntime, type MockRuntime, settled } from "../../automation/plan/mocks";
import type { NamingContext } from "../../components/naming";
import { ServerlessFunction, type ServerlessFunctionArgs } from "../../components/serverless-function";
import { parseSettings, type RawConfig, type Settings } from "../../components/settings";

let runtime: Promise<MockRuntime> | undefined;

/** The process-wide recording mock runtime (installed once: Pulumi's runtime is global). */
export function mockRuntime(): Promise<MockRuntime> {
  runtime ??= installMockRuntime({ project: "platform", stack: "test", region: "us-east-1" });
  return runtime;
}

export interface Recorded<T> {
  component: T;
  resources: RecordedResource[];
  /** The one resource of this type whose logical name is `name`; fails if absent. */
  get(type: string, name: string): RecordedResource;
  /** Every resource of this type. */
  ofType(type: string): RecordedResource[];
}

/**
 * Builds a component under the mock runtime and returns it with every resource registered while
 * building it (children included), once all registrations have been answered.
 */
export async function record<T>(build: () => T): Promise<Recorded<T>> {
  const rt = await mockRuntime();
  await settled();
  const start = rt.resources.length;
  const component = build();
  await settled();
  const resources = rt.resources.slice(start);
  return {
    component,
    resources,
    get(type, name) {
      const found = resources.find((r) => r.type === type && r.name === name);
      if (!found) {
        const names = resources.filter((r) => r.type === type).map((r) => r.name);
        throw new Error(`no ${type} named ${name}; have: ${names.join(", ") || "none"}`);
      }
      return found;
    },
    ofType(type) {
      return resources.filter((r) => r.type === type);
    },
  };
}

/** A unique naming context per test, so that logical names never clash across tests. */
let counter = 0;
export function testNaming(stage = "test"): NamingContext {
  counter += 1;
  return { app: `t${counter}`, stage, region: "us-east-1" };
}

/** The health handler as a small ServerlessFunction (128 MB, 10 s, one day of logs), with overrides. */
export function healthFunction(
  name: string,
  naming: NamingContext = testNaming(),
  overrides: Partial<ServerlessFunctionArgs> = {},
): ServerlessFunction {
  return new ServerlessFunction(name, {
    naming,
    entry: "functions/health/index.ts",
    memoryMb: 128,
    timeoutSeconds: 10,
    logRetentionDays: 1,
    ...overrides,
  });
}

/** Settings as the dev stack file gives them, with overrides. */
export function testSettings(overrides: RawConfig = {}, region = "us-east-1"): Settings {
  return parseSettings({ stage: "dev", regions: ["us-east-1"], ...overrides }, { stack: "test", region });
}

/** Parses a policy document input (a JSON string once outputs are resolved). */
export function policyStatements(resource: RecordedResource, field = "policy"): Record<string, unknown>[] {
  const raw = resource.inputs[field];
  const document = (typeof raw === "string" ? JSON.parse(raw) : raw) as {
    Statement: Record<string, unknown>[];
  };
  return document.Statement;
}
