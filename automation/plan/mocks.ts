import { createHash } from "node:crypto";
import * as pulumi from "@pulumi/pulumi";
import type { RegisterResourceRequest, RegisterResourceResponse } from "@pulumi/pulumi/proto/resource_pb";
import { MockMonitor } from "@pulumi/pulumi/runtime/mocks";
import { describeAssets } from "./assets";

export type { AssetDescription } from "./assets";

import { applyAutoName, engineUrn } from "./engine-names";

/** The account id every planned ARN carries: a placeholder, since no AWS account is asked. */
export const PLACEHOLDER_ACCOUNT_ID = "123456789012";

/** One resource registration, as the engine would receive it. */
export interface RecordedResource {
  urn: string;
  type: string;
  name: string;
  custom: boolean;
  parent?: string;
  provider?: string;
  dependencies: string[];
  propertyDependencies: Record<string, string[]>;
  /** Properties the engine ignores on updates (`ignoreChanges`). */
  ignoreChanges: string[];
  inputs: Record<string, unknown>;
  /** Inputs plus what the mocks computed (ids, ARNs, URLs). */
  outputs: Record<string, unknown>;
  id?: string;
}

const hex = (text: string, length: number) =>
  createHash("sha256").update(text).digest("hex").slice(0, length);
/** API Gateway ids look like `a1b2c3d4e5`. */
const apiId = (text: string) => hex(text, 10);
const uuid = (text: string) => {
  const h = hex(text, 32);
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20, 32)}`;
};

type State = Record<string, unknown>;

/**
 * Realistic outputs for the resources the platform creates, so that every input that interpolates
 * another resource's output is concrete in a plan (policies and cost estimates read them).
 */
export function mockResourceState(
  type: string,
  name: string,
  inputs: State,
  region: string,
  accountId: string,
): { id: string; state: State } {
  // The monitor has put the engine's auto-name in `name` when the program gave none. With a
  // prefix, the provider appends a 26-character unique id, as Terraform's PrefixedUniqueId does.
  const prefix = typeof inputs.namePrefix === "string" ? inputs.namePrefix : undefined;
  const physical =
    (inputs.name as string | undefined) ?? (prefix !== undefined ? `${prefix}${hex(name, 26)}` : name);
  const arnPrefix = (service: string) => `arn:aws:${service}:${region}:${accountId}`;
  switch (type) {
    case "aws:iam/role:Role":
      return {
        id: physical,
        state: {
          name: physical,
          arn: `arn:aws:iam::${accountId}:role/${physical}`,
          uniqueId: `AROA${hex(physical, 17).toUpperCase()}`,
        },
      };
    case "aws:iam/policy:Policy":
      return {
        id: `arn:aws:iam::${accountId}:policy/${physical}`,
        state: { name: physical, arn: `arn:aws:iam::${accountId}:policy/${physical}` },
      };
    case "aws:iam/rolePolicy:RolePolicy":
      return { id: `${inputs.role}:${physical}`, state: { name: physical } };
    case "aws:cloudwatch/logGroup:LogGroup":
      return { id: physical, state: { name: physical, arn: `${arnPrefix("logs")}:log-group:${physical}` } };
    case "aws:lambda/function:Function": {
      const arn = `${arnPrefix("lambda")}:function:${physical}`;
      const invoke = (target: string) =>
        `arn:aws:apigateway:${region}:lambda:path/2015-03-31/functions/${target}/invocations`;
      return {
        id: physical,
        state: {
          name: physical,
          arn,
          invokeArn: invoke(arn),
          version: "1",
          qualifiedArn: `${arn}:1`,
          qualifiedInvokeArn: invoke(`${arn}:1`),
          lastModified: "2026-01-01T00:00:00.000+0000",
          sourceCodeHash: hex(JSON.stringify(inputs.code ?? ""), 44),
        },
      };
    }
    case "aws:lambda/alias:Alias": {
      const arn = `${inputs.functionName}:${physical}`.startsWith("arn:")
        ? `${inputs.functionName}:${physical}`
        : `${arnPrefix("lambda")}:function:${inputs.functionName}:${physical}`;
      return {
        id: arn,
        state: {
          arn,
          invokeArn: `arn:aws:apigateway:${region}:lambda:path/2015-03-31/functions/${arn}/invocations`,
        },
      };
    }
    case "aws:dynamodb/table:Table": {
      const arn = `${arnPrefix("dynamodb")}:table/${physical}`;
      return {
        id: physical,
        state: {
          name: physical,
          arn,
          ...(inputs.streamEnabled
            ? { streamArn: `${arn}/stream/2026-01-01T00:00:00.000`, streamLabel: "2026-01-01T00:00:00.000" }
            : {}),
        },
      };
    }
    case "aws:kms/key:Key": {
      const keyId = uuid(name);
      return { id: keyId, state: { keyId, arn: `${arnPrefix("kms")}:key/${keyId}` } };
    }
    case "aws:kms/alias:Alias":
      return {
        id: physical,
        state: { arn: `${arnPrefix("kms")}:${physical}`, targetKeyArn: inputs.targetKeyId },
      };
    case "aws:sqs/queue:Queue":
      return {
        id: `https://sqs.${region}.amazonaws.com/${accountId}/${physical}`,
        state: {
          name: physical,
          arn: `${arnPrefix("sqs")}:${physical}`,
          url: `https://sqs.${region}.amazonaws.com/${accountId}/${physical}`,
        },
      };
    case "aws:sns/topic:Topic":
      return {
        id: `${arnPrefix("sns")}:${physical}`,
        state: { name: physical, arn: `${arnPrefix("sns")}:${physical}` },
      };
    case "aws:apigateway/restApi:RestApi": {
      const id = apiId(`${region}/${physical}`);
      return {
        id,
        state: {
          arn: `arn:aws:apigateway:${region}::/restapis/${id}`,
          executionArn: `${arnPrefix("execute-api")}:${id}`,
          rootResourceId: hex(`${id}/`, 10),
          createdDate: "2026-01-01T00:00:00Z",
        },
      };
    }
    case "aws:apigateway/resource:Resource":
      return {
        id: hex(`${inputs.restApi}/${inputs.parentId}/${inputs.pathPart}`, 6),
        state: { path: `/${inputs.pathPart}` },
      };
    case "aws:apigateway/deployment:Deployment":
      return {
        id: hex(`${inputs.restApi}/${JSON.stringify(inputs.triggers ?? {})}`, 6),
        state: { createdDate: "2026-01-01T00:00:00Z" },
      };
    case "aws:apigateway/stage:Stage": {
      const restApi = String(inputs.restApi);
      return {
        id: `ags-${restApi}-${inputs.stageName}`,
        state: {
          arn: `arn:aws:apigateway:${region}::/restapis/${restApi}/stages/${inputs.stageName}`,
          executionArn: `${arnPrefix("execute-api")}:${restApi}/${inputs.stageName}`,
          invokeUrl: `https://${restApi}.execute-api.${region}.amazonaws.com/${inputs.stageName}`,
        },
      };
    }
    case "aws:apigateway/apiKey:ApiKey":
      return {
        id: hex(physical, 10),
        state: { arn: `arn:aws:apigateway:${region}::/apikeys/${hex(physical, 10)}`, value: "[secret]" },
      };
    case "aws:apigateway/usagePlan:UsagePlan":
      return {
        id: hex(physical, 6),
        state: { arn: `arn:aws:apigateway:${region}::/usageplans/${hex(physical, 6)}` },
      };
    case "aws:codedeploy/application:Application":
      return {
        id: physical,
        state: {
          name: physical,
          arn: `${arnPrefix("codedeploy")}:application:${physical}`,
          applicationId: uuid(physical),
        },
      };
    case "aws:codedeploy/deploymentGroup:DeploymentGroup": {
      const group = String(inputs.deploymentGroupName ?? physical);
      return {
        id: `${inputs.appName}:${group}`,
        state: {
          arn: `${arnPrefix("codedeploy")}:deploymentgroup:${inputs.appName}/${group}`,
          deploymentGroupId: uuid(group),
        },
      };
    }
    case "aws:codedeploy/deploymentConfig:DeploymentConfig":
      return {
        id: String(inputs.deploymentConfigName ?? physical),
        state: {
          deploymentConfigId: uuid(physical),
          arn: `${arnPrefix("codedeploy")}:deploymentconfig:${inputs.deploymentConfigName ?? physical}`,
        },
      };
    case "aws:cloudwatch/metricAlarm:MetricAlarm":
      return { id: physical, state: { arn: `${arnPrefix("cloudwatch")}:alarm:${physical}` } };
    case "aws:cloudwatch/dashboard:Dashboard":
      return {
        id: String(inputs.dashboardName ?? physical),
        state: {
          dashboardArn: `arn:aws:cloudwatch::${accountId}:dashboard/${inputs.dashboardName ?? physical}`,
        },
      };
    default: {
      const service = type.split(":")[1]?.split("/")[0] ?? "unknown";
      return { id: `${physical}-id`, state: { arn: `${arnPrefix(service)}:${physical}` } };
    }
  }
}

/** Realistic answers to the invokes the program (and @pulumi/aws) make. */
export function mockCall(token: string, inputs: State, region: string, accountId: string): State {
  switch (token) {
    case "aws:index/getRegion:getRegion":
      return {
        name: region,
        region,
        id: region,
        description: region,
        endpoint: `ec2.${region}.amazonaws.com`,
      };
    case "aws:index/getCallerIdentity:getCallerIdentity":
      return { accountId, arn: `arn:aws:iam::${accountId}:user/plan`, userId: "AIDAPLAN", id: accountId };
    case "aws:index/getPartition:getPartition":
      return { partition: "aws", dnsSuffix: "amazonaws.com", reverseDnsSuffix: "com.amazonaws", id: "aws" };
    case "aws:iam/getPolicyDocument:getPolicyDocument":
      return { json: JSON.stringify({ Version: "2012-10-17", Statement: inputs.statements ?? [] }) };
    default:
      return inputs;
  }
}

/**
 * A mock monitor that also records what the engine would see of each registration: parent,
 * provider, dependencies and property dependencies, which `MockResourceArgs` leaves out. URNs and
 * auto-names are the engine's: MockMonitor keeps only the immediate parent's type in a URN (and
 * prefixes top-level resources with the root stack's), and leaves unnamed resources named after
 * their logical name, so that offline names would line up where real ones do not.
 */
class RecordingMonitor extends MockMonitor {
  constructor(
    mocks: pulumi.runtime.Mocks,
    private readonly stack: { project: string; stack: string },
    private readonly onRegister: (resource: RecordedResource) => void,
    private readonly assetDir?: string,
  ) {
    super(mocks);
    // `newUrn` is private in MockMonitor's typings; its registerResource/readResource call it.
    (this as unknown as { newUrn: (parent: string, type: string, name: string) => string }).newUrn = (
      parent,
      type,
      name,
    ) => engineUrn(stack.stack, stack.project, parent || undefined, type, name);
  }

  override async registerResource(
    req: RegisterResourceRequest,
    callback: (err: unknown, response: unknown) => void,
  ): Promise<void> {
    applyAutoName(req, this.stack);
    const propertyDependencies: Record<string, string[]> = {};
    req.getPropertydependenciesMap().forEach((deps, key) => {
      propertyDependencies[key] = deps.getUrnsList();
    });
    const base = {
      type: req.getType(),
      name: req.getName(),
      custom: req.getCustom(),
      parent: req.getParent() || undefined,
      provider: req.getProvider() || undefined,
      dependencies: req.getDependenciesList(),
      ignoreChanges: req.getIgnorechangesList(),
      propertyDependencies,
    };
    let answer: { err: unknown; response: unknown } = { err: undefined, response: undefined };
    await super.registerResource(req, (err, response) => {
      answer = { err, response };
    });
    const { err, response } = answer;
    if (!err && response) {
      const res = response as RegisterResourceResponse;
      const urn = res.getUrn();
      const registered = this.resources.get(urn);
      const object = res.getObject();
      const request = req.getObject();
      const outputs = await describeAssets(
        object ? pulumi.runtime.deserializeProperties(object) : {},
        this.assetDir,
      );
      const inputs = await describeAssets(
        request ? pulumi.runtime.deserializeProperties(request) : {},
        this.assetDir,
      );
      this.onRegister({
        ...base,
        urn,
        id: registered?.id || undefined,
        inputs: inputs as State,
        outputs: outputs as State,
      });
    }
    // The SDK formats every response into a debug line it then drops; this one carries the handler
    // bundles (megabytes), so formatting it whole was a tenth of a re-plan (profiled).
    if (response) (response as { toString(): string }).toString = () => "RegisterResourceResponse";
    callback(err, response);
  }
}

export interface MockRuntimeOptions {
  project?: string;
  stack?: string;
  region?: string;
  accountId?: string;
  /** Run as a preview (`pulumi preview`) rather than an update. @default false */
  preview?: boolean;
  /** Keep the content of every text asset in this folder, named by its sha256. @default none */
  assetDir?: string;
}

/** The recording mock runtime: every registered resource, in registration order. */
export interface MockRuntime {
  resources: RecordedResource[];
  /**
   * When the program constructed each resource, by URN: the order `inConstructionOrder` sorts by.
   * Registrations complete in an order that depends on how long each one's inputs take to resolve
   * (a cached provider serialization, say); constructions happen in the program's own order.
   */
  constructed: Map<string, number>;
  region: string;
  accountId: string;
}

/**
 * Installs Pulumi's mock runtime with realistic outputs and records every registration.
 * The runtime is process-global: call once per process, before the program module loads.
 */
export async function installMockRuntime(options: MockRuntimeOptions = {}): Promise<MockRuntime> {
  const region = options.region ?? "us-east-1";
  const accountId = options.accountId ?? PLACEHOLDER_ACCOUNT_ID;
  const runtime: MockRuntime = { resources: [], constructed: new Map(), region, accountId };
  const mocks: pulumi.runtime.Mocks = {
    newResource: (args) => {
      if (!args.custom) return { id: undefined, state: args.inputs };
      const { id, state } = mockResourceState(args.type, args.name, args.inputs, runtime.region, accountId);
      return { id: args.id || id, state: { ...args.inputs, ...state } };
    },
    call: (args) => mockCall(args.token, args.inputs, runtime.region, accountId),
  };
  const project = options.project ?? "platform";
  const stack = options.stack ?? "test";
  recordConstructions((key) => {
    const urn = `urn:pulumi:${stack}::${project}::${key}`;
    if (!runtime.constructed.has(urn)) runtime.constructed.set(urn, runtime.constructed.size);
  });
  await pulumi.runtime.setMocks(mocks, project, stack, options.preview ?? false);
  pulumi.runtime.setMockOptions(
    new RecordingMonitor(
      mocks,
      { project, stack },
      (resource) => runtime.resources.push(resource),
      options.assetDir,
    ),
    project,
    stack,
    options.preview ?? false,
  );
  return runtime;
}

/** The root stack's type: the one type a URN's type chain leaves out. */
const ROOT_STACK_TYPE = "pulumi:pulumi:Stack";
/** Each constructed resource's qualified type (its URN's type chain). */
const qualifiedTypes = new WeakMap<object, string>();
let onConstruct: ((key: string) => void) | undefined;

/**
 * Calls `record` with `<type chain>::<name>` (a URN without its stack and project) for every
 * resource the program constructs from now on, as it constructs it. Every custom, component and
 * dynamic resource goes through the SDK's `registerResource` (and a read one `readResource`)
 * synchronously from its constructor, with its parent resolved.
 */
function recordConstructions(record: (key: string) => void): void {
  const sdk = require("@pulumi/pulumi/runtime/resource") as Record<string, unknown>;
  if (!onConstruct) {
    for (const name of ["registerResource", "readResource"]) {
      const original = sdk[name];
      if (typeof original !== "function") continue;
      sdk[name] = function (
        this: unknown,
        res: object,
        parent: object | undefined,
        type: string,
        resourceName: string,
        ...rest: unknown[]
      ) {
        const parentType = parent && qualifiedTypes.get(parent);
        const qualified = parentType && parentType !== ROOT_STACK_TYPE ? `${parentType}$${type}` : type;
        qualifiedTypes.set(res, qualified);
        if (type !== ROOT_STACK_TYPE) onConstruct?.(`${qualified}::${resourceName}`);
        return original.call(this, res, parent, type, resourceName, ...rest);
      };
    }
  }
  onConstruct = record;
}

/**
 * A runtime's resources in the order the program constructed them, the root stack first; any the
 * program did not construct (none, normally) after them, in registration order.
 */
export function inConstructionOrder(runtime: MockRuntime): RecordedResource[] {
  const rank = (resource: RecordedResource) =>
    resource.type === ROOT_STACK_TYPE
      ? -1
      : (runtime.constructed.get(resource.urn) ?? Number.MAX_SAFE_INTEGER);
  return [...runtime.resources].sort((a, b) => rank(a) - rank(b));
}

const runtimeSettings = require("@pulumi/pulumi/runtime/settings") as { waitForRPCs(): Promise<void> };

/** Resolves once every pending registration and invoke has been answered. */
export function settled(): Promise<void> {
  return runtimeSettings.waitForRPCs();
}
