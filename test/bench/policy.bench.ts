import { performance } from "node:perf_hooks";
import type { RecordedResource } from "../../automation/plan/mocks";
import type { PlanResult } from "../../automation/plan/types";
import { evaluatePlan } from "../../automation/policy/evaluate";

/**
 * Offline policy evaluation over synthetic stacks of 1,000, 10,000 and 50,000 resources shaped like
 * the platform's (per function: role, two inline policies, log group, function, alias, permission,
 * API resource, method, integration, errors alarm, deployment group; per 25 functions: a REST API,
 * stage and method settings), every policy of the pack with prod's config, stack policies included.
 * The time per resource must stay flat: the 50,000 run may take at most 60x the 1,000 run.
 */

const SIZES = [1_000, 10_000, 50_000];
const MAX_RATIO = 60;
/** Rounds over all sizes, one run of each per round; a size's figure is its median run. */
const ROUNDS = 9;
const ACCOUNT = "123456789012";
const REGION = "us-east-1";
const STACK = "bench";
const STACK_URN = `urn:pulumi:${STACK}::platform::pulumi:pulumi:Stack::platform-${STACK}`;

/** A synthetic plan of about `size` resources (whole functions, then whole APIs). */
export function syntheticPlan(size: number): PlanResult {
  const resources: RecordedResource[] = [
    {
      urn: STACK_URN,
      type: "pulumi:pulumi:Stack",
      name: `platform-${STACK}`,
      custom: false,
      dependencies: [],
      propertyDependencies: {},
      ignoreChanges: [],
      inputs: {},
      outputs: {},
    },
  ];
  const add = (
    type: string,
    name: string,
    inputs: Record<string, unknown>,
    outputs: Record<string, unknown> = {},
    propertyDependencies: Record<string, string[]> = {},
    custom = true,
  ): string => {
    const urn = `urn:pulumi:${STACK}::platform::${type}::${name}`;
    resources.push({
      urn,
      type,
      name,
      custom,
      parent: STACK_URN,
      dependencies: [...new Set(Object.values(propertyDependencies).flat())],
      propertyDependencies,
      ignoreChanges: [],
      inputs,
      outputs: { ...inputs, ...outputs },
      id: custom ? `${name}-id` : undefined,
    });
    return urn;
  };

  let api: { urn: string; id: string; root: string } | undefined;
  for (let i = 0; resources.length < size; i++) {
    if (i % 25 === 0) {
      const id = `api${i.toString(16).padStart(7, "0")}`;
      const urn = add(
        "aws:apigateway/restApi:RestApi",
        `api-${i}`,
        { name: `app-bench-api-${i}` },
        { id, rootResourceId: `${id}-root` },
      );
      const stage = add(
        "aws:apigateway/stage:Stage",
        `api-${i}-stage`,
        {
          restApi: id,
          stageName: "prod",
          xrayTracingEnabled: true,
          accessLogSettings: {
            destinationArn: `arn:aws:logs:${REGION}:${ACCOUNT}:log-group:/aws/apigateway/${id}`,
            format: "$context.requestId",
          },
        },
        {},
        { restApi: [urn] },
      );
      add(
        "aws:apigateway/methodSettings:MethodSettings",
        `api-${i}-settings`,
        {
          restApi: id,
          stageName: "prod",
          methodPath: "*/*",
          settings: { throttlingRateLimit: 100, throttlingBurstLimit: 200 },
        },
        {},
        { restApi: [urn], stageName: [stage] },
      );
      api = { urn, id, root: `${id}-root` };
    }
    const name = `app-bench-fn-${i}`;
    const arn = `arn:aws:lambda:${REGION}:${ACCOUNT}:function:${name}`;
    const roleName = `${name}-role`;
    const roleArn = `arn:aws:iam::${ACCOUNT}:role/${roleName}`;
    const role = add(
      "aws:iam/role:Role",
      `fn-${i}-role`,
      {
        name: roleName,
        assumeRolePolicy: JSON.stringify({
          Version: "2012-10-17",
          Statement: [
            { Effect: "Allow", Principal: { Service: "lambda.amazonaws.com" }, Action: "sts:AssumeRole" },
          ],
        }),
      },
      { arn: roleArn, id: roleName },
    );
    const logs = add("aws:cloudwatch/logGroup:LogGroup", `fn-${i}-logs`, {
      name: `/aws/lambda/${name}`,
      retentionInDays: 30,
    });
    for (const [grant, statements] of [
      [
        "base",
        [
          {
            Sid: "Logs",
            Effect: "Allow",
            Action: ["logs:CreateLogStream", "logs:PutLogEvents"],
            Resource: [`arn:aws:logs:${REGION}:${ACCOUNT}:log-group:/aws/lambda/${name}:*`],
          },
          {
            Sid: "XRay",
            Effect: "Allow",
            Action: ["xray:PutTraceSegments", "xray:PutTelemetryRecords"],
            Resource: ["*"],
          },
        ],
      ],
      [
        "table",
        [
          {
            Sid: "Table",
            Effect: "Allow",
            Action: ["dynamodb:GetItem", "dynamodb:Query"],
            Resource: [`arn:aws:dynamodb:${REGION}:${ACCOUNT}:table/t${i}`],
          },
        ],
      ],
    ] as const) {
      add(
        "aws:iam/rolePolicy:RolePolicy",
        `fn-${i}-${grant}`,
        {
          name: grant,
          role: roleName,
          policy: JSON.stringify({ Version: "2012-10-17", Statement: statements }),
        },
        {},
        { role: [role] },
      );
    }
    const fn = add(
      "aws:lambda/function:Function",
      `fn-${i}`,
      {
        name,
        role: roleArn,
        runtime: "nodejs22.x",
        architectures: ["arm64"],
        handler: "index.handler",
        memorySize: 256,
        timeout: 10,
        tracingConfig: { mode: "Active" },
        loggingConfig: { logFormat: "JSON", logGroup: `/aws/lambda/${name}` },
        environment: { variables: { NODE_OPTIONS: "--enable-source-maps", TABLE_NAME: `t${i}` } },
        code: { $archive: { "index.mjs": { bytes: 2048, sha256: "0".repeat(64) } } },
      },
      { arn },
      { role: [role] },
    );
    resources[resources.length - 1].dependencies.push(logs);
    const alias = add(
      "aws:lambda/alias:Alias",
      `fn-${i}-alias`,
      { name: "live", functionName: name },
      { arn: `${arn}:live` },
      { functionName: [fn] },
    );
    const current = api!;
    const resource = add(
      "aws:apigateway/resource:Resource",
      `fn-${i}-path`,
      { restApi: current.id, parentId: current.root, pathPart: `r${i}` },
      { id: `res${i}` },
      { restApi: [current.urn], parentId: [current.urn] },
    );
    add(
      "aws:apigateway/method:Method",
      `fn-${i}-method`,
      {
        restApi: current.id,
        resourceId: `res${i}`,
        httpMethod: "GET",
        authorization: "AWS_IAM",
        apiKeyRequired: false,
      },
      {},
      { restApi: [current.urn], resourceId: [resource] },
    );
    add(
      "aws:apigateway/integration:Integration",
      `fn-${i}-integration`,
      {
        restApi: current.id,
        resourceId: `res${i}`,
        httpMethod: "GET",
        type: "AWS_PROXY",
        integrationHttpMethod: "POST",
        uri: `arn:aws:apigateway:${REGION}:lambda:path/2015-03-31/functions/${arn}:live/invocations`,
      },
      {},
      { restApi: [current.urn], resourceId: [resource], uri: [alias] },
    );
    add(
      "aws:lambda/permission:Permission",
      `fn-${i}-invoke`,
      {
        action: "lambda:InvokeFunction",
        function: name,
        qualifier: "live",
        principal: "apigateway.amazonaws.com",
        sourceArn: `arn:aws:execute-api:${REGION}:${ACCOUNT}:${current.id}/*/GET/r${i}`,
      },
      {},
      { function: [fn], sourceArn: [current.urn] },
    );
    add("aws:cloudwatch/metricAlarm:MetricAlarm", `fn-${i}-errors`, {
      name: `${name}-errors`,
      namespace: "AWS/Lambda",
      metricName: "Errors",
      dimensions: { FunctionName: name, Resource: `${name}:live` },
      statistic: "Sum",
      period: 60,
      evaluationPeriods: 1,
      threshold: 1,
      comparisonOperator: "GreaterThanOrEqualToThreshold",
      alarmActions: [`arn:aws:sns:${REGION}:${ACCOUNT}:alerts`],
    });
    add("aws:codedeploy/deploymentGroup:DeploymentGroup", `fn-${i}-group`, {
      appName: "app-bench",
      deploymentGroupName: name,
      serviceRoleArn: `arn:aws:iam::${ACCOUNT}:role/codedeploy`,
      deploymentConfigName: "CodeDeployDefault.LambdaCanary10Percent5Minutes",
      deploymentStyle: { deploymentOption: "WITH_TRAFFIC_CONTROL", deploymentType: "BLUE_GREEN" },
      autoRollbackConfiguration: {
        enabled: true,
        events: ["DEPLOYMENT_FAILURE", "DEPLOYMENT_STOP_ON_ALARM"],
      },
      alarmConfiguration: { enabled: true, alarms: [`${name}-errors`] },
    });
  }
  return {
    project: "platform",
    stack: STACK,
    stage: "prod",
    region: REGION,
    accountId: ACCOUNT,
    resources,
    outputs: {},
  };
}

/** Reads through more memory than the CPU caches hold, evicting whatever the previous run left there. */
function evictCaches(buffer: Float64Array): number {
  let sum = 0;
  for (let i = 0; i < buffer.length; i += 8) sum += buffer[i]++;
  return sum;
}

/** One evaluation, starting with cold caches as a run of `platform policy` starts. */
async function time(plan: PlanResult, eviction: Float64Array): Promise<{ ms: number; violations: number }> {
  evictCaches(eviction);
  const start = performance.now();
  const report = await evaluatePlan(plan);
  return { ms: performance.now() - start, violations: report.violations.length };
}

export async function run(): Promise<void> {
  // Every plan is built before any measurement and stays in memory, so that all sizes run with the
  // same heap: a small heap alone would fit the CPU caches and need no garbage collection, and the
  // comparison would measure that rather than the evaluator.
  const plans = SIZES.map(syntheticPlan);
  const eviction = new Float64Array(8 * 1024 * 1024); // 64 MB
  // Warm up (module loading, JIT) so that the first measured size is not charged for it.
  for (let i = 0; i < 3; i++) await time(plans[1], eviction);
  const times: number[][] = plans.map(() => []);
  let violations = 0;
  // Rounds of one run per size: a busy moment of the machine slows one round of every size rather
  // than one size of the comparison; each run starts with cold caches, so that the 1,000-resource
  // run is not the only one to find its data there. Each size's figure is its median run.
  for (let round = 0; round < ROUNDS; round++) {
    for (const [index, plan] of plans.entries()) {
      const measured = await time(plan, eviction);
      times[index].push(measured.ms);
      violations += measured.violations;
    }
  }
  if (violations !== 0)
    throw new Error(`the synthetic stacks should pass every policy (got ${violations} violations)`);
  const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];
  console.log("resources   median ms   best ms   µs/resource (median)");
  const figures = plans.map((plan, index) => ({ count: plan.resources.length, ms: median(times[index]) }));
  for (const [index, { count, ms }] of figures.entries()) {
    console.log(
      `${String(count).padStart(9)}   ${ms.toFixed(1).padStart(9)}   ${Math.min(...times[index])
        .toFixed(1)
        .padStart(7)}   ${((ms * 1000) / count).toFixed(2).padStart(20)}`,
    );
  }
  const first = figures[0];
  const last = figures[figures.length - 1];
  const ratio = last.ms / first.ms;
  console.log(
    `${last.count} / ${first.count} resources: ${ratio.toFixed(1)}x the time (at most ${MAX_RATIO}x; linear is ${(last.count / first.count).toFixed(1)}x)`,
  );
  if (ratio > MAX_RATIO) {
    throw new Error(
      `policy evaluation grows faster than linearly: ${ratio.toFixed(1)}x the time for 50x the resources`,
    );
  }
}

if (require.main === module) {
  run().catch((error) => {
    console.error(error instanceof Error ? error.message : error);
    process.exitCode = 1;
  });
}
