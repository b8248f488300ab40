/**
 * Happy-path arguments: resources as the platform's components create them, which every policy
 * accepts. Tests change one property per failure case.
 */
import * as aws from "@pulumi/aws";
import type { Unwrap } from "@pulumi/pulumi";
import { type TestResource, UNKNOWN } from "./util";

type ArgsOf<T> = Unwrap<NonNullable<T>>;

const ACCOUNT = "123456789012";
const REGION = "us-east-1";
export const FUNCTION_NAME = "app-prod-users-list";
export const FUNCTION_ARN = `arn:aws:lambda:${REGION}:${ACCOUNT}:function:${FUNCTION_NAME}`;
export const ROLE_NAME = "app-prod-users-list-role-us-east-1";
export const ROLE_ARN = `arn:aws:iam::${ACCOUNT}:role/${ROLE_NAME}`;
export const TABLE_ARN = `arn:aws:dynamodb:${REGION}:${ACCOUNT}:table/app-prod-users`;
export const TOPIC_ARN = `arn:aws:sns:${REGION}:${ACCOUNT}:app-prod-alerts`;
const invokeArn = (target: string) =>
  `arn:aws:apigateway:${REGION}:lambda:path/2015-03-31/functions/${target}/invocations`;

/** A policy document as the components write them: exact actions on exact ARNs, X-Ray on "*". */
export function policyDocument(statements?: Record<string, unknown>[]): string {
  return JSON.stringify({
    Version: "2012-10-17",
    Statement: statements ?? [
      {
        Sid: "TableAccess",
        Effect: "Allow",
        Action: ["dynamodb:GetItem", "dynamodb:Query"],
        Resource: [TABLE_ARN],
      },
      {
        Sid: "XRayTracing",
        Effect: "Allow",
        Action: ["xray:PutTraceSegments", "xray:PutTelemetryRecords"],
        Resource: ["*"],
      },
    ],
  });
}

export function roleArgs(): ArgsOf<aws.iam.RoleArgs> {
  return {
    name: ROLE_NAME,
    assumeRolePolicy: JSON.stringify({
      Version: "2012-10-17",
      Statement: [
        { Effect: "Allow", Principal: { Service: "lambda.amazonaws.com" }, Action: "sts:AssumeRole" },
      ],
    }),
  };
}

export function rolePolicyArgs(): ArgsOf<aws.iam.RolePolicyArgs> {
  return { name: "base", role: ROLE_NAME, policy: policyDocument() };
}

export function rolePolicyAttachmentArgs(): ArgsOf<aws.iam.RolePolicyAttachmentArgs> {
  return {
    role: ROLE_NAME,
    policyArn: "arn:aws:iam::aws:policy/CloudWatchLambdaInsightsExecutionRolePolicy",
  };
}

export function functionArgs(): ArgsOf<aws.lambda.FunctionArgs> {
  return {
    name: FUNCTION_NAME,
    role: ROLE_ARN,
    runtime: "nodejs22.x",
    architectures: ["arm64"],
    handler: "index.handler",
    memorySize: 256,
    timeout: 10,
    publish: true,
    tracingConfig: { mode: "Active" },
    loggingConfig: { logFormat: "JSON", logGroup: `/aws/lambda/${FUNCTION_NAME}` },
    environment: { variables: { NODE_OPTIONS: "--enable-source-maps", TABLE_NAME: "app-prod-users" } },
  };
}

export function permissionArgs(): ArgsOf<aws.lambda.PermissionArgs> {
  return {
    action: "lambda:InvokeFunction",
    function: FUNCTION_NAME,
    qualifier: "live",
    principal: "apigateway.amazonaws.com",
    sourceArn: `arn:aws:execute-api:${REGION}:${ACCOUNT}:a1b2c3d4e5/*/GET/users`,
  };
}

export function stageArgs(): ArgsOf<aws.apigateway.StageArgs> {
  return {
    restApi: "a1b2c3d4e5",
    deployment: "d1e2f3",
    stageName: "prod",
    xrayTracingEnabled: true,
    accessLogSettings: {
      destinationArn: `arn:aws:logs:${REGION}:${ACCOUNT}:log-group:/aws/apigateway/app-prod-api/prod/access`,
      format: '{"requestId":"$context.requestId"}',
    },
  };
}

export function tableArgs(): ArgsOf<aws.dynamodb.TableArgs> {
  return {
    name: "app-prod-users",
    billingMode: "PAY_PER_REQUEST",
    hashKey: "userId",
    attributes: [{ name: "userId", type: "S" }],
    pointInTimeRecovery: { enabled: true },
    serverSideEncryption: {
      enabled: true,
      kmsKeyArn: `arn:aws:kms:${REGION}:${ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab`,
    },
    deletionProtectionEnabled: true,
  };
}

export function deploymentGroupArgs(): ArgsOf<aws.codedeploy.DeploymentGroupArgs> {
  return {
    appName: "app-prod-users-deploy",
    deploymentGroupName: FUNCTION_NAME,
    serviceRoleArn: `arn:aws:iam::${ACCOUNT}:role/app-prod-users-deploy-role-us-east-1`,
    deploymentConfigName: "CodeDeployDefault.LambdaCanary10Percent5Minutes",
    deploymentStyle: { deploymentOption: "WITH_TRAFFIC_CONTROL", deploymentType: "BLUE_GREEN" },
    autoRollbackConfiguration: {
      enabled: true,
      events: ["DEPLOYMENT_FAILURE", "DEPLOYMENT_STOP_ON_ALARM", "DEPLOYMENT_STOP_ON_REQUEST"],
    },
    alarmConfiguration: { enabled: true, alarms: [`${FUNCTION_NAME}-errors`] },
  };
}

export function metricAlarmArgs(): ArgsOf<aws.cloudwatch.MetricAlarmArgs> {
  return {
    name: `${FUNCTION_NAME}-errors`,
    namespace: "AWS/Lambda",
    metricName: "Errors",
    dimensions: { FunctionName: FUNCTION_NAME, Resource: `${FUNCTION_NAME}:live` },
    statistic: "Sum",
    period: 60,
    evaluationPeriods: 1,
    threshold: 1,
    comparisonOperator: "GreaterThanOrEqualToThreshold",
    alarmActions: [TOPIC_ARN],
  };
}

/**
 * A stack as the platform builds it, reduced to one function behind one API: role and inline
 * policy, log group, function, alias, REST API with /users (IAM) and /health (public) GET methods
 * and their integrations, permission, stage and throttling method settings, errors alarm and
 * deployment group. Props are outputs: inputs plus what AWS computes (ARNs, ids).
 */
export function happyStack(): TestResource[] {
  const logGroupName = `/aws/lambda/${FUNCTION_NAME}`;
  return [
    { type: aws.iam.Role, name: "fn-role", props: { ...roleArgs(), arn: ROLE_ARN, id: ROLE_NAME } },
    {
      type: aws.iam.RolePolicy,
      name: "fn-base",
      props: rolePolicyArgs(),
      propertyDependencies: { role: ["fn-role"] },
    },
    { type: aws.cloudwatch.LogGroup, name: "fn-logs", props: { name: logGroupName, retentionInDays: 14 } },
    {
      type: aws.lambda.Function,
      name: "fn",
      props: { ...functionArgs(), arn: FUNCTION_ARN, invokeArn: invokeArn(FUNCTION_ARN) },
      propertyDependencies: { role: ["fn-role"] },
    },
    {
      type: aws.lambda.Alias,
      name: "fn-alias",
      props: {
        name: "live",
        functionName: FUNCTION_NAME,
        arn: `${FUNCTION_ARN}:live`,
        invokeArn: invokeArn(`${FUNCTION_ARN}:live`),
      },
      propertyDependencies: { functionName: ["fn"] },
    },
    {
      type: aws.apigateway.RestApi,
      name: "api",
      props: { name: "app-prod-api", id: "a1b2c3d4e5", rootResourceId: "r00t" },
    },
    {
      type: aws.apigateway.Resource,
      name: "api-users",
      props: { restApi: "a1b2c3d4e5", parentId: "r00t", pathPart: "users", id: "res001" },
      propertyDependencies: { restApi: ["api"], parentId: ["api"] },
    },
    {
      type: aws.apigateway.Resource,
      name: "api-users-id",
      props: { restApi: "a1b2c3d4e5", parentId: "res001", pathPart: "{userId}", id: "res002" },
      propertyDependencies: { restApi: ["api"], parentId: ["api-users"] },
    },
    {
      type: aws.apigateway.Resource,
      name: "api-health",
      props: { restApi: "a1b2c3d4e5", parentId: "r00t", pathPart: "health", id: "res003" },
      propertyDependencies: { restApi: ["api"], parentId: ["api"] },
    },
    ...(
      [
        ["get-user", "res002", "api-users-id", "AWS_IAM"],
        ["get-health", "res003", "api-health", "NONE"],
      ] as const
    ).flatMap(([name, resourceId, resource, authorization]): TestResource[] => [
      {
        type: aws.apigateway.Method,
        name: `${name}-method`,
        props: { restApi: "a1b2c3d4e5", resourceId, httpMethod: "GET", authorization, apiKeyRequired: false },
        propertyDependencies: { restApi: ["api"], resourceId: [resource] },
      },
      {
        type: aws.apigateway.Integration,
        name: `${name}-integration`,
        props: {
          restApi: "a1b2c3d4e5",
          resourceId,
          httpMethod: "GET",
          type: "AWS_PROXY",
          integrationHttpMethod: "POST",
          uri: invokeArn(`${FUNCTION_ARN}:live`),
        },
        propertyDependencies: { restApi: ["api"], resourceId: [resource], uri: ["fn-alias"] },
      },
    ]),
    {
      type: aws.lambda.Permission,
      name: "fn-invoke",
      props: { ...permissionArgs() },
      propertyDependencies: { function: ["fn"], sourceArn: ["api"] },
    },
    {
      type: aws.apigateway.Stage,
      name: "api-stage",
      props: { ...stageArgs() },
      propertyDependencies: { restApi: ["api"] },
    },
    {
      type: aws.apigateway.MethodSettings,
      name: "api-settings",
      props: {
        restApi: "a1b2c3d4e5",
        stageName: "prod",
        methodPath: "*/*",
        settings: { metricsEnabled: true, throttlingRateLimit: 100, throttlingBurstLimit: 200 },
      },
      propertyDependencies: { restApi: ["api"], stageName: ["api-stage"] },
    },
    { type: aws.cloudwatch.MetricAlarm, name: "fn-errors", props: { ...metricAlarmArgs() } },
    { type: aws.codedeploy.DeploymentGroup, name: "fn-group", props: { ...deploymentGroupArgs() } },
  ];
}

/** A copy of a test stack with one resource's props changed (`undefined` removes a property). */
export function changed(
  stack: TestResource[],
  name: string,
  change: Record<string, unknown> | ((props: Record<string, unknown>) => Record<string, unknown>),
): TestResource[] {
  if (!stack.some((resource) => resource.name === name))
    throw new Error(`no resource ${name} in the test stack`);
  return stack.map((resource) => {
    if (resource.name !== name) return resource;
    const props =
      typeof change === "function" ? change({ ...resource.props }) : { ...resource.props, ...change };
    for (const key of Object.keys(props)) if (props[key] === undefined) delete props[key];
    return { ...resource, props };
  });
}

/** A copy of a test stack without some resources. */
export function without(stack: TestResource[], ...names: string[]): TestResource[] {
  return stack.filter((resource) => !names.includes(resource.name));
}

/** A copy of a test stack with more resources. */
export function plus(stack: TestResource[], ...resources: TestResource[]): TestResource[] {
  return [...stack, ...resources];
}

/** A copy of a test stack with one resource's property dependencies changed (merged). */
export function linked(
  stack: TestResource[],
  name: string,
  dependencies: Record<string, string[]>,
): TestResource[] {
  if (!stack.some((resource) => resource.name === name))
    throw new Error(`no resource ${name} in the test stack`);
  return stack.map((resource) =>
    resource.name === name
      ? { ...resource, propertyDependencies: { ...resource.propertyDependencies, ...dependencies } }
      : resource,
  );
}

/** The provider's auto-name of the function of autoNamedStack(). */
export const AUTO_NAME = "fn-5c6b951";

/**
 * The happy stack during a preview, with its function auto-named: the function's name is known
 * (the provider's auto-name is among its inputs), but everything computed from its outputs is
 * not; only the graph (property dependencies) relates the log group, alarm, alias, permission and
 * deployment to the function. The deployment group is not named after the function: a shift
 * resource (what starts deployments) references both.
 */
export function autoNamedStack(): TestResource[] {
  let stack = changed(happyStack(), "fn", {
    name: AUTO_NAME,
    loggingConfig: { logFormat: "JSON" },
    arn: UNKNOWN,
    invokeArn: UNKNOWN,
  });
  stack = changed(stack, "fn-logs", { name: UNKNOWN });
  stack = linked(stack, "fn-logs", { name: ["fn"] });
  stack = changed(stack, "fn-alias", { functionName: UNKNOWN, arn: UNKNOWN, invokeArn: UNKNOWN });
  stack = changed(stack, "fn-invoke", { function: UNKNOWN });
  for (const integration of ["get-user-integration", "get-health-integration"]) {
    stack = changed(stack, integration, { uri: UNKNOWN });
  }
  stack = changed(stack, "fn-errors", { dimensions: { FunctionName: UNKNOWN, Resource: UNKNOWN } });
  stack = linked(stack, "fn-errors", { dimensions: ["fn", "fn-alias"] });
  stack = changed(stack, "fn-group", { deploymentGroupName: "users-list" });
  return plus(stack, {
    type: "pulumi-nodejs:dynamic:Resource",
    name: "fn-shift",
    props: { deploymentGroupName: "users-list", functionName: UNKNOWN, aliasName: "live" },
    propertyDependencies: { deploymentGroupName: ["fn-group"], functionName: ["fn"] },
  });
}

/** A DynamoDB table without deletion protection: advisory in dev, mandatory in prod. */
export function unprotectedTable(): TestResource {
  return {
    type: "aws:dynamodb/table:Table",
    name: "users-table",
    props: {
      name: "users",
      pointInTimeRecovery: { enabled: true },
      serverSideEncryption: { enabled: true, kmsKeyArn: "arn:aws:kms:us-east-1:123456789012:key/k" },
      deletionProtectionEnabled: false,
    },
  };
}
