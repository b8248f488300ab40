import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { localModel } from "../../automation/local/model";
import { autoName, engineUrn } from "../../automation/plan/engine-names";
import { PlanError, planStack } from "../../automation/plan/plan";
import {
  MissingRegionStackFileError,
  readStackConfig,
  UnknownStackError,
} from "../../automation/plan/stack-config";
import type { PlanResult } from "../../automation/plan/types";
import { cli } from "../helpers/cli";

function countByType(plan: PlanResult): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const r of plan.resources) counts[r.type] = (counts[r.type] ?? 0) + 1;
  return counts;
}

/** Every string anywhere in a value. */
function strings(value: unknown): string[] {
  if (typeof value === "string") return [value];
  if (Array.isArray(value)) return value.flatMap(strings);
  if (value && typeof value === "object") return Object.values(value).flatMap(strings);
  return [];
}

describe("the program for the real stacks", () => {
  let dev: PlanResult;
  let prod: PlanResult;
  before(async () => {
    [dev, prod] = await Promise.all([planStack("dev"), planStack("prod")]);
  });

  it("builds dev with the expected resource types and counts", () => {
    const counts = countByType(dev);
    assert.equal(counts["pulumi:pulumi:Stack"], 1);
    // users: 5 routes; orders: 2 routes, a queue and a stream consumer, a schedule; the platform's health function.
    assert.equal(counts["aws:lambda/function:Function"], 11);
    assert.equal(counts["aws:lambda/alias:Alias"], 11);
    assert.equal(
      counts["aws:cloudwatch/logGroup:LogGroup"],
      13,
      "one per function plus the API's access and execution logs",
    );
    assert.equal(
      counts["aws:iam/role:Role"],
      13,
      "one per function, the schedule's and CodeDeploy's (prod manages the API Gateway logging role)",
    );
    assert.equal(counts["aws:codedeploy/deploymentGroup:DeploymentGroup"], 11);
    assert.equal(counts["pulumi-nodejs:dynamic/platform:TrafficShift"], 11);
    assert.equal(counts["aws:dynamodb/table:Table"], 3, "users, orders and the orders idempotency table");
    assert.equal(counts["aws:apigateway/method:Method"], 8);
    assert.equal(counts["aws:apigateway/integration:Integration"], 8);
    assert.equal(counts["aws:lambda/permission:Permission"], 8);
    assert.equal(
      counts["aws:sqs/queue:Queue"],
      4,
      "the fulfilment queue, its dead-letter queue, the orders stream's failure queue and the schedule's dead-letter queue",
    );
    assert.equal(
      counts["aws:lambda/eventSourceMapping:EventSourceMapping"],
      2,
      "the queue's and the stream's",
    );
    assert.equal(counts["aws:scheduler/schedule:Schedule"], 1);
    assert.equal(counts["aws:apigateway/stage:Stage"], 1);
    assert.equal(counts["aws:apigateway/account:Account"], undefined, "prod manages the account settings");
    assert.equal(
      counts["aws:kms/key:Key"],
      2,
      "the alert topic's and the orders secrets' (dev's tables: AWS-owned key)",
    );
    assert.equal(counts["aws:ssm/parameter:Parameter"], undefined, "secrets are written by an operator");
    assert.equal(counts["aws:lambda/provisionedConcurrencyConfig:ProvisionedConcurrencyConfig"], undefined);
  });

  it("builds prod with a customer-managed key and provisioned concurrency on the users functions", () => {
    const counts = countByType(prod);
    assert.equal(
      counts["aws:lambda/function:Function"],
      19,
      "eleven functions and a PreTraffic hook for each but the queue, stream and schedule consumers (no smoke request)",
    );
    assert.equal(
      counts["aws:kms/key:Key"],
      5,
      "the three tables', the alert topic's and the orders secrets'",
    );
    assert.equal(counts["aws:apigateway/account:Account"], 1, "prod manages the account settings");
    assert.equal(
      counts["aws:lambda/provisionedConcurrencyConfig:ProvisionedConcurrencyConfig"],
      7,
      "HTTP functions only",
    );
    const table = prod.resources.find((r) => r.type === "aws:dynamodb/table:Table")!;
    assert.equal(table.inputs.deletionProtectionEnabled, true);
  });

  it("wires every prod function's errors alarm to its deployment group", () => {
    const alarms = prod.resources.filter((r) => r.type === "aws:cloudwatch/metricAlarm:MetricAlarm");
    const groups = prod.resources.filter((r) => r.type === "aws:codedeploy/deploymentGroup:DeploymentGroup");
    assert.equal(groups.length, 11);
    for (const group of groups) {
      const [alarmName] = (group.inputs.alarmConfiguration as { alarms: string[] }).alarms;
      const alarm = alarms.find((a) => a.inputs.name === alarmName);
      assert.ok(alarm, `${group.name} rolls back on ${alarmName}, which the stack does not create`);
      assert.equal(alarm.inputs.metricName, "Errors");
      assert.notEqual(group.inputs.deploymentConfigName, "CodeDeployDefault.LambdaAllAtOnce");
    }
  });

  it("applies the stage's settings to every function", () => {
    for (const [plan, memory, timeout] of [
      [dev, 256, 10],
      [prod, 1024, 15],
    ] as const) {
      for (const fn of plan.resources.filter((r) => r.type === "aws:lambda/function:Function")) {
        const name = String(fn.inputs.name);
        // The queue consumer declares its own timeout (functions/orders/service.ts).
        if (name.endsWith("-health") || name.endsWith("-fulfil") || name.startsWith("CodeDeployHook_"))
          continue;
        assert.equal(fn.inputs.memorySize, memory, `${plan.stack} ${fn.name} memory`);
        assert.equal(fn.inputs.timeout, timeout, `${plan.stack} ${fn.name} timeout`);
      }
    }
  });

  it("consumes the orders table's stream on the acknowledge function's live alias, with an IteratorAge alarm", () => {
    const table = dev.resources.find((r) => r.name === "orders-table-table")!;
    const mapping = dev.resources.find((r) => r.name === "orders-acknowledge-stream-mapping")!;
    assert.equal(table.inputs.streamViewType, "NEW_IMAGE");
    assert.equal(mapping.inputs.eventSourceArn, table.outputs.streamArn);
    assert.equal(
      mapping.inputs.functionName,
      "arn:aws:lambda:us-east-1:123456789012:function:platform-dev-orders-acknowledge:live",
    );
    const alarm = dev.resources.find(
      (r) => r.type === "aws:cloudwatch/metricAlarm:MetricAlarm" && r.inputs.metricName === "IteratorAge",
    );
    assert.deepEqual(
      (alarm?.inputs.dimensions as Record<string, string>)?.FunctionName,
      "platform-dev-orders-acknowledge",
    );
  });

  it("gives the acknowledge function the signing key's parameter name and a grant on that parameter only", () => {
    const fn = dev.resources.find((r) => r.name === "orders-acknowledge-function")!;
    const variables = (fn.inputs.environment as { variables: Record<string, string> }).variables;
    assert.equal(variables.WEBHOOK_KEY_PARAMETER_NAME, "/orders/webhook-signing-key");
    const grant = dev.resources.find((r) => r.name === "orders-acknowledge-orders-secrets-webhook-key-read")!;
    const statements = JSON.parse(String(grant.inputs.policy)).Statement;
    assert.deepEqual(statements[0].Resource, [
      "arn:aws:ssm:us-east-1:123456789012:parameter/orders/webhook-signing-key",
    ]);
    assert.deepEqual(statements[1].Condition, {
      StringEquals: { "kms:ViaService": "ssm.us-east-1.amazonaws.com" },
    });
  });

  it("exports the API URL, table name and function names and ARNs", () => {
    assert.match(
      String(dev.outputs.apiUrl),
      /^https:\/\/[0-9a-f]{10}\.execute-api\.us-east-1\.amazonaws\.com\/dev$/,
    );
    assert.equal(dev.outputs.tableName, "platform-dev-users-table");
    const names = dev.outputs.functionNames as Record<string, string>;
    assert.deepEqual(Object.keys(names).sort(), [
      "create",
      "delete",
      "get",
      "health",
      "list",
      "orders-acknowledge",
      "orders-create",
      "orders-fulfil",
      "orders-get",
      "orders-reconcile",
      "update",
    ]);
    assert.equal(names.list, "platform-dev-users-list");
    const arns = dev.outputs.functionArns as Record<string, string>;
    assert.equal(arns.list, "arn:aws:lambda:us-east-1:123456789012:function:platform-dev-users-list");
  });

  it("leaves no interpolated input unresolved", () => {
    for (const r of [...dev.resources, ...prod.resources]) {
      // A dynamic resource's __provider is its serialized closure, code rather than an input.
      const { __provider: _closure, ...inputs } = r.inputs;
      for (const text of strings(inputs)) {
        assert.doesNotMatch(
          text,
          /undefined|\[object Object\]|04da6b54-80e4-46f7-96ec-b56ff0331ba9/,
          `${r.name}: ${text}`,
        );
      }
    }
  });

  it("parents top-level components to the stack, as the engine does", () => {
    const stack = dev.resources.find((r) => r.type === "pulumi:pulumi:Stack")!;
    const platform = dev.resources.find((r) => r.type === "platform:index:Platform")!;
    assert.equal(platform.parent, stack.urn);
  });

  it("reports the program's warnings, as a preview would: dev has no alarm subscribers", () => {
    assert.ok(
      dev.warnings?.some((warning) => /no alarm e-mail subscribers: set platform:alarmEmails/.test(warning)),
      `warnings: ${JSON.stringify(dev.warnings)}`,
    );
  });

  it("plans a region stack of prod in its own region with its own role names", async () => {
    const west = await planStack("prod-us-west-2");
    assert.equal(west.region, "us-west-2");
    assert.match(String(west.outputs.apiUrl), /\.execute-api\.us-west-2\.amazonaws\.com\/prod$/);
    const roles = (plan: PlanResult) =>
      plan.resources.filter((r) => r.type === "aws:iam/role:Role").map((r) => String(r.inputs.name));
    const shared = roles(west).filter((name) => roles(prod).includes(name));
    assert.deepEqual(shared, [], "IAM roles are account-global: region stacks must not collide");
  });
});

/** Real engine output (test/fixtures/engine/engine-output.json) and a program shaped like it. */
const ENGINE_FIXTURE = path.resolve(__dirname, "..", "fixtures", "engine");
const engineOutput = JSON.parse(fs.readFileSync(path.join(ENGINE_FIXTURE, "engine-output.json"), "utf8")) as {
  stack: string;
  project: string;
  urns: string[];
  autoNames: { logicalName: string; physicalName: string }[];
};

describe("the offline plan names resources as the engine does", () => {
  let example: PlanResult;
  let dev: PlanResult;
  before(async () => {
    [example, dev] = await Promise.all([
      planStack(engineOutput.stack, { projectDir: ENGINE_FIXTURE }),
      planStack("dev"),
    ]);
  });
  const find = (plan: PlanResult, type: string, name: string) =>
    plan.resources.find((r) => r.type === type && r.name === name) ?? assert.fail(`no ${type} ${name}`);

  it("gives the URNs real engine output gives the same resource tree", () => {
    const planned = example.resources.map((r) => r.urn);
    for (const urn of engineOutput.urns)
      assert.ok(planned.includes(urn), `${urn} not in ${planned.join("\n")}`);
  });

  it("carries every ancestor's type in a URN and leaves the root stack's out", () => {
    const fn = find(dev, "aws:lambda/function:Function", "users-list-function");
    assert.equal(
      fn.urn,
      "urn:pulumi:dev::platform::platform:index:Platform$platform:lambda:ServerlessFunction$aws:lambda/function:Function::users-list-function",
    );
    for (const r of dev.resources) assert.doesNotMatch(r.urn, /pulumi:pulumi:Stack\$/, r.urn);
  });

  it("builds each URN from its parent's URN, as engineUrn does", () => {
    const byUrn = new Map(dev.resources.map((r) => [r.urn, r]));
    for (const r of dev.resources) {
      assert.equal(r.urn, engineUrn(dev.stack, dev.project, r.parent, r.type, r.name));
      if (r.parent) assert.ok(byUrn.has(r.parent), `${r.urn}: parent ${r.parent} not registered`);
    }
  });

  it("auto-names a resource without a physical name: logical name, '-', 7 hex characters", () => {
    const role = find(example, "aws:iam/role:Role", "cluster-eksRole-role");
    assert.match(String(role.inputs.name), /^cluster-eksRole-role-[0-9a-f]{7}$/);
    assert.equal(role.outputs.name, role.inputs.name);
    assert.equal(role.outputs.arn, `arn:aws:iam::123456789012:role/${role.inputs.name}`);
    // The same shape as the auto-names in real engine output.
    for (const { logicalName, physicalName } of engineOutput.autoNames) {
      assert.match(physicalName, new RegExp(`^${logicalName}-[0-9a-f]{7}$`));
    }
  });

  it("derives an auto-name from the stack and the URN only", () => {
    const role = find(example, "aws:iam/role:Role", "cluster-eksRole-role");
    assert.equal(role.inputs.name, autoName(example.stack, role.urn, role.name));
    assert.equal(autoName("dev", role.urn, role.name), autoName("dev", role.urn, role.name));
    assert.notEqual(autoName("dev", role.urn, role.name), autoName("prod", role.urn, role.name));
    const other = find(example, "aws:iam/role:Role", "cluster-instanceRole-role");
    assert.notEqual(other.inputs.name, role.inputs.name);
  });

  it("keeps an explicit physical name", () => {
    const fn = find(dev, "aws:lambda/function:Function", "users-list-function");
    assert.equal(fn.inputs.name, "platform-dev-users-list");
  });

  it("serves an auto-named function in the local cloud under its auto-name", () => {
    const fn = find(example, "aws:lambda/function:Function", "hello");
    assert.match(String(fn.inputs.name), /^hello-[0-9a-f]{7}$/);
    const served = localModel(example).functions.find((f) => f.logicalName === "hello");
    assert.equal(served?.name, fn.inputs.name);
    assert.equal(fn.outputs.arn, `arn:aws:lambda:us-west-2:123456789012:function:${fn.inputs.name}`);
  });
});

describe("planStack errors", () => {
  it("rejects an unknown stack, listing the known ones", async () => {
    await assert.rejects(planStack("staging"), (error: unknown) => {
      assert.ok(error instanceof UnknownStackError);
      assert.match(error.message, /Unknown stack "staging": no Pulumi.staging.yaml. Stacks: dev, prod/);
      return true;
    });
  });

  it("fails with the settings message for a bad config value", async () => {
    await assert.rejects(
      planStack("dev", { configOverrides: { "platform:memoryMb": "-1" } }),
      (error: unknown) => {
        assert.ok(error instanceof PlanError);
        assert.match(error.message, /platform:memoryMb must be an integer from 128 to 10240 \(got "-1"\)/);
        return true;
      },
    );
  });
});

describe("readStackConfig", () => {
  let dir: string;
  before(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "stack-config-"));
    fs.writeFileSync(
      path.join(dir, "Pulumi.yaml"),
      "name: platform\nruntime: nodejs\nconfig:\n  platform:memoryMb:\n    type: integer\n    default: 256\n",
    );
    fs.writeFileSync(
      path.join(dir, "Pulumi.qa.yaml"),
      "config:\n  aws:region: eu-west-1\n  platform:token:\n    secure: v1:abc==\n  platform:regions:\n    - eu-west-1\n",
    );
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  it("shows secure values as [secret] and marks them secret", () => {
    const config = readStackConfig(dir, "qa");
    assert.equal(config.config["platform:token"], "[secret]");
    assert.deepEqual(config.secretKeys, ["platform:token"]);
  });

  it("applies the project's declared defaults and passes arrays as JSON", () => {
    const config = readStackConfig(dir, "qa");
    assert.equal(config.config["platform:memoryMb"], "256");
    assert.equal(config.config["platform:regions"], '["eu-west-1"]');
  });

  it("reads a region stack's own file, as `pulumi up -s <stage>-<region>` does", () => {
    fs.writeFileSync(
      path.join(dir, "Pulumi.qa-us-east-2.yaml"),
      "config:\n  aws:region: us-east-2\n  platform:memoryMb: 512\n",
    );
    try {
      const config = readStackConfig(dir, "qa-us-east-2");
      assert.equal(config.stage, "qa");
      assert.equal(config.region, "us-east-2");
      assert.equal(config.config["platform:memoryMb"], "512");
    } finally {
      fs.rmSync(path.join(dir, "Pulumi.qa-us-east-2.yaml"));
    }
  });

  it("refuses a region stack without its own file, naming `platform stacks sync`", () => {
    assert.throws(
      () => readStackConfig(dir, "qa-us-west-2"),
      (error: Error) =>
        error instanceof MissingRegionStackFileError &&
        /Pulumi\.qa-us-west-2\.yaml.*platform stacks sync/.test(error.message),
    );
  });
});

describe("platform plan (CLI)", () => {
  it("prints the resource tree and outputs of a stack", async () => {
    const run = await cli("plan", "dev");
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stdout, /^Plan of stack dev \(stage dev, region us-east-1\): \d+ resources/);
    assert.match(run.stdout, /[├└]─ platform:lambda:ServerlessFunction {2}users-list/);
    assert.match(run.stdout, /Outputs:\n(.|\n)*apiUrl: https:\/\//);
  });

  it("prints {stack, resources, outputs} with --json", async () => {
    const run = await cli("plan", "dev", "--json");
    assert.equal(run.code, 0, run.stderr);
    const plan = JSON.parse(run.stdout);
    assert.equal(plan.stack, "dev");
    assert.deepEqual(Object.keys(plan.resources[0]).sort(), ["inputs", "name", "parent", "type", "urn"]);
    assert.ok(plan.outputs.apiUrl);
    const fn = plan.resources.find((r: { name: string }) => r.name === "users-list-function");
    assert.equal(
      fn.urn,
      "urn:pulumi:dev::platform::platform:index:Platform$platform:lambda:ServerlessFunction$aws:lambda/function:Function::users-list-function",
    );
  });

  it("exits 2 for an unknown stack", async () => {
    const run = await cli("plan", "staging");
    assert.equal(run.code, 2);
    assert.match(run.stderr, /Unknown stack "staging"/);
    assert.equal(run.stdout, "");
  });

  it("exits 1 naming the key for an invalid config value", async () => {
    const run = await cli("plan", "dev", "--config", "platform:deploymentType=Sometimes");
    assert.equal(run.code, 1);
    assert.match(run.stderr, /platform:deploymentType must be one of AllAtOnce, /);
  });

  it("exits 2 without a stack", async () => {
    const run = await cli("plan");
    assert.equal(run.code, 2);
    assert.match(run.stderr, /missing required argument 'stack'/);
  });
});
