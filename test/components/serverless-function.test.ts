import * as assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { bundleHandler } from "../../components/bundle";
import { LAMBDA_INSIGHTS_LAYERS } from "../../components/lambda-insights";
import { ServerlessFunction, type ServerlessFunctionArgs } from "../../components/serverless-function";
import type { LambdaRuntime } from "../../components/settings";
import { policyStatements, record, testNaming } from "../helpers/pulumi";

const ENTRY = "functions/health/index.ts";

function args(overrides: Partial<ServerlessFunctionArgs> = {}): ServerlessFunctionArgs {
  return {
    naming: testNaming(),
    entry: ENTRY,
    memoryMb: 256,
    timeoutSeconds: 10,
    logRetentionDays: 7,
    ...overrides,
  };
}

const T = {
  role: "aws:iam/role:Role",
  rolePolicy: "aws:iam/rolePolicy:RolePolicy",
  logGroup: "aws:cloudwatch/logGroup:LogGroup",
  fn: "aws:lambda/function:Function",
  alias: "aws:lambda/alias:Alias",
  concurrency: "aws:lambda/provisionedConcurrencyConfig:ProvisionedConcurrencyConfig",
  eventInvoke: "aws:lambda/functionEventInvokeConfig:FunctionEventInvokeConfig",
  queue: "aws:sqs/queue:Queue",
};

describe("ServerlessFunction", () => {
  it("names the function app-stage-name and its role with the region", async () => {
    const naming = testNaming("dev");
    const { get } = await record(() => new ServerlessFunction("fn-names", args({ naming })));
    assert.equal(get(T.fn, "fn-names-function").inputs.name, `${naming.app}-dev-fn-names`);
    assert.equal(get(T.role, "fn-names-role").inputs.name, `${naming.app}-dev-fn-names-role-us-east-1`);
  });

  it("parents every child to the component", async () => {
    const { resources } = await record(() => new ServerlessFunction("fn-parent", args()));
    const component = resources.find((r) => r.type === ServerlessFunction.type)!;
    for (const child of resources.filter((r) => r !== component && r.custom)) {
      assert.equal(child.parent, component.urn, `${child.name} is not parented to the component`);
      assert.ok(child.name.startsWith("fn-parent-"), `${child.name} does not start with the component name`);
    }
  });

  it("gives the role a trust policy for lambda.amazonaws.com only", async () => {
    const { get } = await record(() => new ServerlessFunction("fn-trust", args()));
    assert.deepEqual(JSON.parse(get(T.role, "fn-trust-role").inputs.assumeRolePolicy as string), {
      Version: "2012-10-17",
      Statement: [
        { Effect: "Allow", Principal: { Service: "lambda.amazonaws.com" }, Action: "sts:AssumeRole" },
      ],
    });
  });

  it("grants exactly log writes to its own group and X-Ray, Resource * only for X-Ray", async () => {
    const { get } = await record(() => new ServerlessFunction("fn-base", args()));
    const logGroupArn = get(T.logGroup, "fn-base-logs").outputs.arn;
    assert.deepEqual(policyStatements(get(T.rolePolicy, "fn-base-base")), [
      {
        Effect: "Allow",
        Sid: "WriteOwnLogs",
        Action: ["logs:CreateLogStream", "logs:PutLogEvents"],
        Resource: [`${logGroupArn}:*`],
      },
      {
        Effect: "Allow",
        Sid: "XRayTracing",
        Action: ["xray:PutTraceSegments", "xray:PutTelemetryRecords"],
        Resource: ["*"],
      },
    ]);
  });

  it("creates its log group /aws/lambda/<name> with retention before the function", async () => {
    const { get } = await record(() => new ServerlessFunction("fn-logs", args({ logRetentionDays: 30 })));
    const fn = get(T.fn, "fn-logs-function");
    const logGroup = get(T.logGroup, "fn-logs-logs");
    assert.equal(logGroup.inputs.name, `/aws/lambda/${fn.inputs.name}`);
    assert.equal(logGroup.inputs.retentionInDays, 30);
    assert.ok(fn.dependencies.includes(logGroup.urn), "the function does not depend on its log group");
    assert.deepEqual(fn.inputs.loggingConfig, { logFormat: "JSON", logGroup: logGroup.inputs.name });
  });

  it("defaults to arm64, X-Ray Active, published versions and the bundled ESM handler", async () => {
    const { get } = await record(() => new ServerlessFunction("fn-defaults", args()));
    const fn = get(T.fn, "fn-defaults-function").inputs;
    assert.deepEqual(fn.architectures, ["arm64"]);
    assert.deepEqual(fn.tracingConfig, { mode: "Active" });
    assert.equal(fn.publish, true);
    assert.equal(fn.handler, "index.handler");
    assert.equal(fn.runtime, "nodejs22.x");
    assert.equal(fn.memorySize, 256);
    assert.equal(fn.timeout, 10);
  });

  it("puts every module of the bundle and its source map in the archive, byte for byte", async () => {
    const { get } = await record(() => new ServerlessFunction("fn-archive", args()));
    const code = get(T.fn, "fn-archive-function").inputs.code as {
      $archive: Record<string, { sha256: string }>;
    };
    const bundle = bundleHandler(ENTRY);
    assert.deepEqual(Object.keys(code.$archive).sort(), Object.keys(bundle.files).sort());
    assert.ok("index.mjs" in code.$archive && "index.mjs.map" in code.$archive);
    for (const [name, text] of Object.entries(bundle.files)) {
      assert.equal(code.$archive[name].sha256, createHash("sha256").update(text).digest("hex"), name);
    }
  });

  it("passes environment variables through and leaves source maps off the cold start", async () => {
    const { get } = await record(
      () => new ServerlessFunction("fn-env", args({ environment: { TABLE_NAME: "users" } })),
    );
    const variables = (
      get(T.fn, "fn-env-function").inputs.environment as { variables: Record<string, string> }
    ).variables;
    assert.equal(variables.TABLE_NAME, "users");
    assert.equal(variables.NODE_OPTIONS, undefined, "--enable-source-maps parses every map at cold start");
  });

  it("enables source maps when the environment asks for them", async () => {
    const { get } = await record(
      () =>
        new ServerlessFunction("fn-maps", args({ environment: { NODE_OPTIONS: "--enable-source-maps" } })),
    );
    const variables = (
      get(T.fn, "fn-maps-function").inputs.environment as { variables: Record<string, string> }
    ).variables;
    assert.equal(variables.NODE_OPTIONS, "--enable-source-maps");
  });

  it("points the live alias at the published version", async () => {
    const { get } = await record(() => new ServerlessFunction("fn-alias", args()));
    const alias = get(T.alias, "fn-alias-alias");
    assert.equal(alias.inputs.name, "live");
    assert.equal(alias.inputs.functionVersion, get(T.fn, "fn-alias-function").outputs.version);
    assert.deepEqual(alias.ignoreChanges, []);
  });

  it("lets CodeDeploy own the alias's version and routing when traffic is shifted", async () => {
    const { get } = await record(
      () => new ServerlessFunction("fn-shift", args({ trafficShiftedByCodeDeploy: true })),
    );
    assert.deepEqual(get(T.alias, "fn-shift-alias").ignoreChanges.sort(), [
      "functionVersion",
      "routingConfig",
    ]);
  });

  it("adds provisioned concurrency on the live alias when asked", async () => {
    const { get } = await record(() => new ServerlessFunction("fn-pc", args({ provisionedConcurrency: 3 })));
    const config = get(T.concurrency, "fn-pc-concurrency").inputs;
    assert.equal(config.qualifier, "live");
    assert.equal(config.provisionedConcurrentExecutions, 3);
  });

  it("adds no provisioned concurrency by default", async () => {
    const { ofType } = await record(() => new ServerlessFunction("fn-nopc", args()));
    assert.deepEqual(ofType(T.concurrency), []);
  });

  it("sends failed async events to its own encrypted dead-letter queue", async () => {
    const { get } = await record(
      () =>
        new ServerlessFunction(
          "fn-dlq",
          args({ asyncFailure: { deadLetterQueue: true, maximumRetryAttempts: 1 } }),
        ),
    );
    const queue = get(T.queue, "fn-dlq-dlq");
    assert.equal(queue.inputs.sqsManagedSseEnabled, true);
    assert.deepEqual(get(T.fn, "fn-dlq-function").inputs.deadLetterConfig, { targetArn: queue.outputs.arn });
    assert.deepEqual(policyStatements(get(T.rolePolicy, "fn-dlq-dlq")), [
      {
        Effect: "Allow",
        Sid: "SendToDeadLetterQueue",
        Action: ["sqs:SendMessage"],
        Resource: [queue.outputs.arn],
      },
    ]);
    const invokeConfig = get(T.eventInvoke, "fn-dlq-async").inputs;
    assert.equal(invokeConfig.qualifier, "live");
    assert.equal(invokeConfig.maximumRetryAttempts, 1);
  });

  it("sends failed async events to an on-failure destination with only the action it needs", async () => {
    const topic = "arn:aws:sns:us-east-1:123456789012:failures";
    const { get } = await record(
      () => new ServerlessFunction("fn-dest", args({ asyncFailure: { onFailureDestinationArn: topic } })),
    );
    assert.deepEqual(get(T.eventInvoke, "fn-dest-async").inputs.destinationConfig, {
      onFailure: { destination: topic },
    });
    assert.deepEqual(policyStatements(get(T.rolePolicy, "fn-dest-on-failure"))[0].Action, ["sns:Publish"]);
  });

  it("rejects out-of-range memory, naming the field", () => {
    assert.throws(
      () => new ServerlessFunction("fn-bad-memory", args({ memoryMb: 64 })),
      /ServerlessFunction fn-bad-memory: memoryMb must be an integer from 128 to 10240 \(got 64\)/,
    );
  });

  it("rejects a log retention CloudWatch does not accept", () => {
    assert.throws(
      () => new ServerlessFunction("fn-bad-retention", args({ logRetentionDays: 10 })),
      /logRetentionDays must be one of 1, 3, 5, 7, 14/,
    );
  });

  it("rejects async failure handling with both a queue and a destination", () => {
    assert.throws(
      () =>
        new ServerlessFunction(
          "fn-bad-async",
          args({
            asyncFailure: { deadLetterQueue: true, onFailureDestinationArn: "arn:aws:sqs:us-east-1:1:q" },
          }),
        ),
      /asyncFailure must set exactly one of deadLetterQueue and onFailureDestinationArn/,
    );
  });

  it("rejects a grant name used twice", async () => {
    const { component } = await record(() => new ServerlessFunction("fn-dup-grant", args()));
    assert.throws(() => component.addPolicy("base", []), /already has a grant named "base"/);
  });

  it("adds the Lambda Insights layer and its managed policy when given", async () => {
    const layer = LAMBDA_INSIGHTS_LAYERS.arm64["us-east-1"];
    const { get } = await record(
      () => new ServerlessFunction("fn-insights", args({ lambdaInsightsLayerArn: layer })),
    );
    assert.deepEqual(get(T.fn, "fn-insights-function").inputs.layers, [layer]);
    assert.equal(
      get("aws:iam/rolePolicyAttachment:RolePolicyAttachment", "fn-insights-insights-policy").inputs
        .policyArn,
      "arn:aws:iam::aws:policy/CloudWatchLambdaInsightsExecutionRolePolicy",
    );
  });

  it("rejects a Lambda Insights layer of another region, naming the field", () => {
    assert.throws(
      () =>
        new ServerlessFunction(
          "fn-insights-region",
          args({ lambdaInsightsLayerArn: LAMBDA_INSIGHTS_LAYERS.arm64["eu-west-1"] }),
        ),
      /lambdaInsightsLayerArn must be the Lambda Insights extension layer of us-east-1 for arm64/,
    );
  });

  it("rejects a Lambda Insights layer of the other architecture", () => {
    assert.throws(
      () =>
        new ServerlessFunction(
          "fn-insights-arch",
          args({ lambdaInsightsLayerArn: LAMBDA_INSIGHTS_LAYERS.x86_64["us-east-1"] }),
        ),
      /lambdaInsightsLayerArn must be the Lambda Insights extension layer of us-east-1 for arm64/,
    );
  });

  it("rejects nodejs20.x, naming the field and the allowed runtimes", () => {
    assert.throws(
      () => new ServerlessFunction("fn-node20", args({ runtime: "nodejs20.x" as LambdaRuntime })),
      /runtime must be one of nodejs22\.x, nodejs24\.x \(got "nodejs20\.x"\)/,
    );
  });
});
