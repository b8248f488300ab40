/**
 * What AWS calls each resource type of a planned stack makes: the IAM authorizations (an action on a
 * resource ARN, with the request context keys the evaluator models) that its create call and the
 * provider's read right after are checked against. ARN formats, actions and condition keys follow the
 * Service Authorization Reference ("Actions, resources, and condition keys for AWS services");
 * iam:PassRole carries the service the role is passed to. The rollout's traffic shift and health gate
 * add their SDK calls. MANAGED_POLICIES holds the AWS-managed policies the platform attaches, as the
 * platform's roles use them (AWS Managed Policy Reference).
 */

import type { RecordedResource } from "../../automation/plan/mocks";
import type { PlanResult } from "../../automation/plan/types";
import { asArray, lambdaFunctionName } from "../../policy/util";
import { allow, type Call, type Statement } from "../helpers/iam-evaluate";

export interface Where {
  partition: string;
  region: string;
  account: string;
  plan: PlanResult;
}

/** An input of the planned resource, else what the mocks computed (ARNs, ids). */
export const text = (resource: RecordedResource, key: string): string => {
  const value = resource.inputs[key] ?? resource.outputs[key];
  if (typeof value !== "string" || value === "") {
    throw new Error(`${resource.name} (${resource.type}) has no ${key} in the plan`);
  }
  return value;
};
const optional = (resource: RecordedResource, key: string) =>
  typeof resource.inputs[key] === "string" ? (resource.inputs[key] as string) : undefined;

const arn = (w: Where, service: string, resource: string, region = w.region) =>
  `arn:${w.partition}:${service}:${region}:${w.account}:${resource}`;
const on = (resource: string, ...actions: string[]): Call[] =>
  actions.map((action) => ({ action, resource }));
export const passRole = (roleArn: string, service: string): Call => ({
  action: "iam:PassRole",
  resource: roleArn,
  context: { "iam:PassedToService": service },
});

/** A role's ARN; `path` is IAM's (`/` or `/a/b/`). */
const roleArn = (w: Where, name: string, path = "/") =>
  `arn:${w.partition}:iam::${w.account}:role${path}${name}`;
/** A function reference (name, ARN or qualified ARN) as the function's ARN, qualified if asked. */
const functionArn = (w: Where, reference: string, qualifier?: string) =>
  arn(w, "lambda", `function:${lambdaFunctionName(reference)}${qualifier ? `:${qualifier}` : ""}`);
const restApis = (w: Where, path: string) => `arn:${w.partition}:apigateway:${w.region}::/restapis${path}`;
const deploymentGroupArn = (w: Where, app: string, group: string, region = w.region) =>
  arn(w, "codedeploy", `deploymentgroup:${app}/${group}`, region);

/**
 * The planned boundary of the role named `name` as the request's iam:PermissionsBoundary: the one a
 * CreateRole or PutRolePermissionsBoundary sets, the role's own for PutRolePolicy and
 * AttachRolePolicy. Absent when the role has none.
 */
function boundaryContext(w: Where, name: string): Call["context"] {
  const role = w.plan.resources.find(
    (r) => r.type === "aws:iam/role:Role" && (r.inputs.name ?? r.outputs.name) === name,
  );
  if (!role) throw new Error(`no role ${name} in the plan`);
  const boundary = role.inputs.permissionsBoundary;
  return typeof boundary === "string" ? { "iam:PermissionsBoundary": boundary } : {};
}
const withContext = (calls: Call[], context: Call["context"]): Call[] =>
  calls.map((call) => ({ ...call, context: { ...call.context, ...context } }));

/**
 * What DynamoDB does with the caller's identity on a customer-managed table key (AWS KMS developer
 * guide, "How Amazon DynamoDB uses AWS KMS": kms:Encrypt, kms:Decrypt, kms:ReEncrypt*,
 * kms:GenerateDataKey*, kms:DescribeKey, kms:CreateGrant), each through DynamoDB.
 */
const tableKeyCalls = (w: Where, keyArn: string): Call[] =>
  [
    "kms:DescribeKey",
    "kms:CreateGrant",
    "kms:Encrypt",
    "kms:Decrypt",
    "kms:ReEncryptFrom",
    "kms:ReEncryptTo",
    "kms:GenerateDataKey",
    "kms:GenerateDataKeyWithoutPlaintext",
  ].map((action) => ({
    action,
    resource: keyArn,
    context: { "kms:ViaService": `dynamodb.${w.region}.amazonaws.com` },
  }));

/**
 * Resource type -> the calls creating it is authorized against (Service Authorization Reference ARN
 * formats; iam:PassRole with the service the role is passed to). A type missing here fails the test.
 */
export const CALLS: Record<string, (r: RecordedResource, w: Where) => Call[]> = {
  "aws:iam/role:Role": (r, w) => {
    const role = roleArn(w, text(r, "name"), optional(r, "path"));
    return withContext(
      [
        ...on(role, "iam:CreateRole", "iam:GetRole"),
        // A role created with a boundary also needs iam:PutRolePermissionsBoundary.
        ...(r.inputs.permissionsBoundary ? on(role, "iam:PutRolePermissionsBoundary") : []),
      ],
      boundaryContext(w, text(r, "name")),
    );
  },
  "aws:iam/rolePolicy:RolePolicy": (r, w) =>
    withContext(
      on(roleArn(w, text(r, "role")), "iam:PutRolePolicy", "iam:GetRolePolicy"),
      boundaryContext(w, text(r, "role")),
    ),
  "aws:iam/rolePolicyAttachment:RolePolicyAttachment": (r, w) =>
    withContext(
      on(roleArn(w, text(r, "role")), "iam:AttachRolePolicy", "iam:ListAttachedRolePolicies"),
      boundaryContext(w, text(r, "role")),
    ),
  "aws:iam/policy:Policy": (r, w) =>
    on(`arn:${w.partition}:iam::${w.account}:policy/${text(r, "name")}`, "iam:CreatePolicy", "iam:GetPolicy"),
  "aws:apigateway/account:Account": (r, w) => [
    ...on(`arn:${w.partition}:apigateway:${w.region}::/account`, "apigateway:PATCH", "apigateway:GET"),
    passRole(text(r, "cloudwatchRoleArn"), "apigateway.amazonaws.com"),
  ],
  "aws:kms/key:Key": (r, w) => {
    const key = arn(w, "kms", `key/${text(r, "keyId")}`);
    return [
      ...on("*", "kms:CreateKey"),
      ...on(key, "kms:DescribeKey", "kms:GetKeyPolicy", "kms:GetKeyRotationStatus"),
      ...(r.inputs.enableKeyRotation ? on(key, "kms:EnableKeyRotation") : []),
    ];
  },
  // CreateAlias is authorized on both the alias and the key it points at.
  "aws:kms/alias:Alias": (r, w) => [
    ...on(arn(w, "kms", text(r, "name")), "kms:CreateAlias"),
    ...on(arn(w, "kms", `key/${text(r, "targetKeyId")}`), "kms:CreateAlias"),
    ...on("*", "kms:ListAliases"),
  ],
  "aws:dynamodb/table:Table": (r, w) => {
    const table = arn(w, "dynamodb", `table/${text(r, "name")}`);
    const pitr = (r.inputs.pointInTimeRecovery as { enabled?: boolean } | undefined)?.enabled;
    const keyArn = (r.inputs.serverSideEncryption as { kmsKeyArn?: string } | undefined)?.kmsKeyArn;
    return [
      ...on(table, "dynamodb:CreateTable", "dynamodb:DescribeTable"),
      ...(pitr ? on(table, "dynamodb:UpdateContinuousBackups", "dynamodb:DescribeContinuousBackups") : []),
      ...(r.inputs.ttl ? on(table, "dynamodb:UpdateTimeToLive", "dynamodb:DescribeTimeToLive") : []),
      ...(keyArn ? tableKeyCalls(w, keyArn) : []),
    ];
  },
  "aws:cloudwatch/logGroup:LogGroup": (r, w) => {
    const group = arn(w, "logs", `log-group:${text(r, "name")}`);
    return [
      ...on(group, "logs:CreateLogGroup"),
      ...(r.inputs.retentionInDays ? on(group, "logs:PutRetentionPolicy") : []),
    ];
  },
  "aws:lambda/function:Function": (r, w) => [
    ...on(functionArn(w, text(r, "name")), "lambda:CreateFunction", "lambda:GetFunction"),
    ...(r.inputs.publish ? on(functionArn(w, text(r, "name")), "lambda:PublishVersion") : []),
    passRole(text(r, "role"), "lambda.amazonaws.com"),
    ...asArray(r.inputs.layers as string[] | undefined).flatMap((layer) =>
      on(layer, "lambda:GetLayerVersion"),
    ),
  ],
  "aws:lambda/alias:Alias": (r, w) =>
    on(functionArn(w, text(r, "functionName")), "lambda:CreateAlias", "lambda:GetAlias"),
  "aws:lambda/provisionedConcurrencyConfig:ProvisionedConcurrencyConfig": (r, w) =>
    on(
      functionArn(w, text(r, "functionName"), text(r, "qualifier")),
      "lambda:PutProvisionedConcurrencyConfig",
      "lambda:GetProvisionedConcurrencyConfig",
    ),
  "aws:lambda/eventSourceMapping:EventSourceMapping": (r, w) =>
    on(
      arn(w, "lambda", `event-source-mapping:${r.id ?? text(r, "uuid")}`),
      "lambda:CreateEventSourceMapping",
      "lambda:GetEventSourceMapping",
    ),
  "aws:lambda/functionEventInvokeConfig:FunctionEventInvokeConfig": (r, w) =>
    on(
      functionArn(w, text(r, "functionName"), optional(r, "qualifier")),
      "lambda:PutFunctionEventInvokeConfig",
      "lambda:GetFunctionEventInvokeConfig",
    ),
  "aws:lambda/permission:Permission": (r, w) =>
    on(
      functionArn(w, text(r, "function"), optional(r, "qualifier")),
      "lambda:AddPermission",
      "lambda:GetPolicy",
    ),
  "aws:scheduler/scheduleGroup:ScheduleGroup": (r, w) =>
    on(
      arn(w, "scheduler", `schedule-group/${text(r, "name")}`),
      "scheduler:CreateScheduleGroup",
      "scheduler:GetScheduleGroup",
    ),
  "aws:scheduler/schedule:Schedule": (r, w) => [
    ...on(
      arn(w, "scheduler", `schedule/${optional(r, "groupName") ?? "default"}/${text(r, "name")}`),
      "scheduler:CreateSchedule",
      "scheduler:GetSchedule",
    ),
    passRole((r.inputs.target as { roleArn: string }).roleArn, "scheduler.amazonaws.com"),
  ],
  "aws:apigateway/restApi:RestApi": (r, w) => [
    ...on(restApis(w, ""), "apigateway:POST"),
    ...on(restApis(w, `/${r.id}`), "apigateway:GET"),
  ],
  "aws:apigateway/resource:Resource": (r, w) =>
    on(restApis(w, `/${text(r, "restApi")}/resources/${text(r, "parentId")}`), "apigateway:POST"),
  "aws:apigateway/method:Method": (r, w) =>
    on(
      restApis(
        w,
        `/${text(r, "restApi")}/resources/${text(r, "resourceId")}/methods/${text(r, "httpMethod")}`,
      ),
      "apigateway:PUT",
    ),
  "aws:apigateway/integration:Integration": (r, w) =>
    on(
      restApis(
        w,
        `/${text(r, "restApi")}/resources/${text(r, "resourceId")}/methods/${text(r, "httpMethod")}/integration`,
      ),
      "apigateway:PUT",
    ),
  "aws:apigateway/deployment:Deployment": (r, w) =>
    on(restApis(w, `/${text(r, "restApi")}/deployments`), "apigateway:POST"),
  "aws:apigateway/stage:Stage": (r, w) => on(restApis(w, `/${text(r, "restApi")}/stages`), "apigateway:POST"),
  "aws:apigateway/methodSettings:MethodSettings": (r, w) =>
    on(restApis(w, `/${text(r, "restApi")}/stages/${text(r, "stageName")}`), "apigateway:PATCH"),
  "aws:sns/topic:Topic": (r, w) =>
    on(arn(w, "sns", text(r, "name")), "sns:CreateTopic", "sns:GetTopicAttributes"),
  "aws:sns/topicPolicy:TopicPolicy": (r) => on(text(r, "arn"), "sns:SetTopicAttributes"),
  "aws:sqs/queue:Queue": (r, w) =>
    on(arn(w, "sqs", text(r, "name")), "sqs:CreateQueue", "sqs:GetQueueAttributes"),
  "aws:cloudwatch/metricAlarm:MetricAlarm": (r, w) =>
    on(
      arn(w, "cloudwatch", `alarm:${text(r, "name")}`),
      "cloudwatch:PutMetricAlarm",
      "cloudwatch:DescribeAlarms",
    ),
  // Dashboards are global: their ARN has no region.
  "aws:cloudwatch/dashboard:Dashboard": (r, w) =>
    on(arn(w, "cloudwatch", `dashboard/${text(r, "dashboardName")}`, ""), "cloudwatch:PutDashboard"),
  "aws:cloudwatch/queryDefinition:QueryDefinition": () =>
    on("*", "logs:PutQueryDefinition", "logs:DescribeQueryDefinitions"),
  // Budgets are global; CreateBudget and its notifications are authorized as budgets:ModifyBudget.
  "aws:budgets/budget:Budget": (r, w) =>
    on(arn(w, "budgets", `budget/${text(r, "name")}`, ""), "budgets:ModifyBudget", "budgets:ViewBudget"),
  "aws:codedeploy/application:Application": (r, w) =>
    on(
      arn(w, "codedeploy", `application:${text(r, "name")}`),
      "codedeploy:CreateApplication",
      "codedeploy:GetApplication",
    ),
  "aws:codedeploy/deploymentGroup:DeploymentGroup": (r, w) => [
    ...on(
      deploymentGroupArn(w, text(r, "appName"), text(r, "deploymentGroupName")),
      "codedeploy:CreateDeploymentGroup",
      "codedeploy:GetDeploymentGroup",
    ),
    passRole(text(r, "serviceRoleArn"), "codedeploy.amazonaws.com"),
  ],
  // The rollout's traffic shift (components/traffic-shift-provider.ts): its SDK calls in the shift's region.
  "pulumi-nodejs:dynamic/platform:TrafficShift": (r, w) => {
    const region = text(r, "region");
    const application = text(r, "applicationName");
    const groupName = text(r, "deploymentGroupName");
    const group = w.plan.resources.find(
      (g) =>
        g.type === "aws:codedeploy/deploymentGroup:DeploymentGroup" &&
        g.inputs.appName === application &&
        g.inputs.deploymentGroupName === groupName,
    );
    if (!group) throw new Error(`${r.name}: no deployment group ${application}/${groupName} in the plan`);
    return [
      ...on(arn(w, "lambda", `function:${text(r, "functionName")}`, region), "lambda:GetAlias"),
      ...on(
        deploymentGroupArn(w, application, groupName, region),
        "codedeploy:CreateDeployment",
        "codedeploy:GetDeployment",
        "codedeploy:StopDeployment",
        "codedeploy:ListDeploymentTargets",
        "codedeploy:GetDeploymentTarget",
      ),
      ...on(
        arn(w, "codedeploy", `deploymentconfig:${text(group, "deploymentConfigName")}`, region),
        "codedeploy:GetDeploymentConfig",
      ),
    ];
  },
};

/** Registrations that make no AWS call of their own (why, for each). */
export const NO_AWS_CALL: Record<string, string> = {
  // The provider's configure calls sts:GetCallerIdentity, which STACK_CALLS covers.
  "pulumi:providers:aws": "a provider instance",
};

/**
 * What every stack's rollout asks besides its resources: the aws provider and the program's
 * getCallerIdentity (sts:GetCallerIdentity), and the health gate (automation/rollout/health.ts),
 * whose DescribeAlarms includes composite alarms, which CloudWatch returns only to callers allowed
 * cloudwatch:DescribeAlarms on "*".
 */
export const STACK_CALLS: Call[] = [
  ...on("*", "sts:GetCallerIdentity"),
  ...on("*", "cloudwatch:DescribeAlarms"),
];

/**
 * The AWS-managed policies the platform attaches, as the platform's roles use them: AWS's document
 * (AWS Managed Policy Reference) with each "*" narrowed to what the service does with the role for
 * this application, and why. A managed policy missing here fails the test.
 */
export const MANAGED_POLICIES: Record<string, (w: Where, app: string) => Statement[]> = {
  // CodeDeploy's Lambda deployments: alarms (the rollback alarms, composite ones only on "*"),
  // the application's aliases, its hooks; no S3 (the traffic shift sends the AppSpec inline) and no
  // SNS (deployment groups have no triggers).
  "arn:aws:iam::aws:policy/service-role/AWSCodeDeployRoleForLambda": (w, app) => [
    allow(["cloudwatch:DescribeAlarms"], ["*"]),
    allow(
      ["lambda:UpdateAlias", "lambda:GetAlias", "lambda:GetProvisionedConcurrencyConfig"],
      [arn(w, "lambda", `function:${app}-*`)],
    ),
    allow(["lambda:InvokeFunction"], [arn(w, "lambda", `function:CodeDeployHook_${app}-*`)]),
  ],
  // API Gateway's account role writes the logs of every REST API of the account and region (any log
  // group); it never reads them (the policy's logs:GetLogEvents and logs:FilterLogEvents).
  "arn:aws:iam::aws:policy/service-role/AmazonAPIGatewayPushToCloudWatchLogs": (w) => [
    allow(
      [
        "logs:CreateLogGroup",
        "logs:CreateLogStream",
        "logs:DescribeLogGroups",
        "logs:DescribeLogStreams",
        "logs:PutLogEvents",
      ],
      [arn(w, "logs", "log-group:*")],
    ),
  ],
  // The Lambda Insights extension creates and writes /aws/lambda-insights only.
  "arn:aws:iam::aws:policy/CloudWatchLambdaInsightsExecutionRolePolicy": (w) => [
    allow(["logs:CreateLogGroup"], [arn(w, "logs", "log-group:/aws/lambda-insights")]),
    allow(
      ["logs:CreateLogStream", "logs:PutLogEvents"],
      [arn(w, "logs", "log-group:/aws/lambda-insights:*")],
    ),
  ],
};
