import * as assert from "node:assert/strict";
import type { RecordedResource } from "../../automation/plan/mocks";
import { planStack } from "../../automation/plan/plan";
import { projectDirOf } from "../../automation/plan/projects";
import type { PlanResult } from "../../automation/plan/types";
import { applicationBoundaryName } from "../../components/delivery-pipeline-permissions";
import { asArray, globToRegExp, lambdaFunctionName } from "../../policy/util";

// What `platform rollout <stage>` asks AWS for with the pipeline's deploy role, checked against that
// role as the pipeline stack plans it: its inline policies AND its permissions boundary. Each planned
// resource of the real dev and prod stacks maps to the IAM (action, resource ARN) pairs its create
// call (and the provider's read right after) is authorized against, per the Service Authorization
// Reference; the rollout's traffic shift and health gate add their SDK calls.

/** One authorization: an action on a resource ARN, with the request context keys this test models. */
interface Call {
  action: string;
  resource: string;
  context?: Partial<Record<ModelledKey, string>>;
}

/** The condition keys the evaluator knows; a statement testing any other key fails the test. */
const MODELLED_KEYS = [
  "iam:PassedToService",
  "kms:ViaService",
  "iam:PermissionsBoundary",
  "cloudwatch:namespace",
] as const;
type ModelledKey = (typeof MODELLED_KEYS)[number];

interface Where {
  partition: string;
  region: string;
  account: string;
  plan: PlanResult;
}

/** An input of the planned resource, else what the mocks computed (ARNs, ids). */
const text = (resource: RecordedResource, key: string): string => {
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
const passRole = (roleArn: string, service: string): Call => ({
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
const CALLS: Record<string, (r: RecordedResource, w: Where) => Call[]> = {
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
const NO_AWS_CALL: Record<string, string> = {
  // The provider's configure calls sts:GetCallerIdentity, which STACK_CALLS covers.
  "pulumi:providers:aws": "a provider instance",
};

/**
 * What every stack's rollout asks besides its resources: the aws provider and the program's
 * getCallerIdentity (sts:GetCallerIdentity), and the health gate (automation/rollout/health.ts),
 * whose DescribeAlarms includes composite alarms, which CloudWatch returns only to callers allowed
 * cloudwatch:DescribeAlarms on "*".
 */
const STACK_CALLS: Call[] = [...on("*", "sts:GetCallerIdentity"), ...on("*", "cloudwatch:DescribeAlarms")];

// ---- The evaluator: Allow in the role's policies and in its boundary, no Deny in either. ----

interface Statement {
  sid?: string;
  effect: "Allow" | "Deny";
  actions: string[];
  notActions: string[];
  resources: string[];
  notResources: string[];
  condition: Record<string, Record<string, unknown>>;
}

function statementsOf(document: unknown): Statement[] {
  const parsed = (typeof document === "string" ? JSON.parse(document) : document) as { Statement?: unknown };
  return asArray(parsed.Statement as Record<string, unknown>[]).map((s) => ({
    sid: s.Sid as string | undefined,
    effect: s.Effect === "Deny" ? "Deny" : "Allow",
    actions: asArray(s.Action as string[]),
    notActions: asArray(s.NotAction as string[]),
    resources: asArray(s.Resource as string[]),
    notResources: asArray(s.NotResource as string[]),
    condition: (s.Condition ?? {}) as Record<string, Record<string, unknown>>,
  }));
}

/** Actions match case-insensitively (the pack's glob); ARNs case-sensitively. */
const actionMatches = (pattern: string, action: string) => globToRegExp(pattern).test(action);
const caseSensitive = (pattern: string) => new RegExp(globToRegExp(pattern).source);
/** Wildcards stay inside an ARN's first five segments; in the resource part they span colons. */
function arnMatches(pattern: string, value: string): boolean {
  if (pattern === "*") return true;
  const split = (s: string) => {
    const parts = s.split(":");
    return parts.length < 6 ? undefined : [...parts.slice(0, 5), parts.slice(5).join(":")];
  };
  const [p, v] = [split(pattern), split(value)];
  if (!p || !v) return caseSensitive(pattern).test(value);
  return p.every((segment, i) => caseSensitive(segment).test(v[i]));
}

const OPERATORS: Record<string, (values: string[], actual: string) => boolean> = {
  StringEquals: (values, actual) => values.includes(actual),
  StringNotEquals: (values, actual) => !values.includes(actual),
  StringLike: (values, actual) => values.some((v) => caseSensitive(v).test(actual)),
  StringNotLike: (values, actual) => !values.some((v) => caseSensitive(v).test(actual)),
};

function conditionHolds(statement: Statement, call: Call): boolean {
  return Object.entries(statement.condition).every(([operator, tests]) => {
    const base = operator.replace(/IfExists$/, "");
    const test = OPERATORS[base];
    if (!test) {
      throw new Error(
        `statement ${statement.sid ?? "(no Sid)"} uses condition operator ${operator}; this test models ${Object.keys(OPERATORS).join(", ")}`,
      );
    }
    return Object.entries(tests).every(([key, expected]) => {
      const modelled = MODELLED_KEYS.find((k) => k.toLowerCase() === key.toLowerCase());
      if (!modelled) {
        throw new Error(
          `statement ${statement.sid ?? "(no Sid)"} tests condition key ${key}; this test models ${MODELLED_KEYS.join(", ")}`,
        );
      }
      const actual = call.context?.[modelled];
      // A key absent from the request: negated operators and ...IfExists hold, the others do not.
      if (actual === undefined) return operator.endsWith("IfExists") || base.includes("Not");
      return test(asArray(expected as string[]).map(String), actual);
    });
  });
}

function applies(statement: Statement, call: Call): boolean {
  const action =
    statement.actions.length > 0
      ? statement.actions.some((a) => actionMatches(a, call.action))
      : !statement.notActions.some((a) => actionMatches(a, call.action));
  const resource =
    statement.resources.length > 0
      ? statement.resources.some((r) => arnMatches(r, call.resource))
      : !statement.notResources.some((r) => arnMatches(r, call.resource));
  return action && resource && conditionHolds(statement, call);
}

interface DeployRole {
  /** The role's inline policies, together. */
  identity: Statement[];
  boundary: Statement[];
  /** The application role boundary the pipeline stack plans (every application role must carry it). */
  applicationBoundary: { arn: string; statements: Statement[] };
}

/** Why `call` is denied, or undefined when the role may make it. */
function denial(role: DeployRole, call: Call): string | undefined {
  for (const [where, statements] of [
    ["policy", role.identity],
    ["boundary", role.boundary],
  ] as const) {
    const deny = statements.find((s) => s.effect === "Deny" && applies(s, call));
    if (deny) return `denied by statement ${deny.sid ?? "(no Sid)"} of the ${where}`;
  }
  if (!role.identity.some((s) => s.effect === "Allow" && applies(s, call))) {
    return "no statement of the role's policy allows it";
  }
  if (!role.boundary.some((s) => s.effect === "Allow" && applies(s, call))) {
    return "no statement of the boundary allows it";
  }
  return undefined;
}

/** The deploy role of the planned pipeline stack: its inline policies and its permissions boundary. */
function deployRoleOf(pipeline: PlanResult): DeployRole {
  const roles = pipeline.resources.filter(
    (r) => r.type === "aws:iam/role:Role" && r.name.endsWith("-deploy-role"),
  );
  assert.equal(roles.length, 1, "the pipeline stack has one deploy role");
  const [role] = roles;
  const attached = pipeline.resources.filter(
    (r) =>
      r.type === "aws:iam/rolePolicyAttachment:RolePolicyAttachment" && r.inputs.role === role.outputs.name,
  );
  assert.deepEqual(attached, [], "managed policies on the deploy role are not modelled");
  const identity = pipeline.resources
    .filter((r) => r.type === "aws:iam/rolePolicy:RolePolicy" && r.inputs.role === role.outputs.name)
    .flatMap((r) => statementsOf(r.inputs.policy));
  const boundary = pipeline.resources.find(
    (r) => r.type === "aws:iam/policy:Policy" && r.outputs.arn === role.inputs.permissionsBoundary,
  );
  assert.ok(boundary, "the deploy role has a permissions boundary in the plan");
  const application = pipeline.resources.find(
    (r) => r.type === "aws:iam/policy:Policy" && r.inputs.name === applicationBoundaryName("platform"),
  );
  assert.ok(application, "the pipeline stack plans the application role boundary");
  return {
    identity,
    boundary: statementsOf(boundary.inputs.policy),
    applicationBoundary: {
      arn: application.outputs.arn as string,
      statements: statementsOf(application.inputs.policy),
    },
  };
}

/** Resource types of `plan` that neither CALLS nor NO_AWS_CALL knows. */
function unknownTypes(plan: PlanResult): string[] {
  const types = plan.resources.filter((r) => r.custom).map((r) => r.type);
  return [...new Set(types)].filter((type) => !CALLS[type] && !NO_AWS_CALL[type]).sort();
}

/** Every call `plan`'s rollout makes that the role may not, as `<stack>: <resource> (<type>) ...` lines. */
function deniedCalls(plan: PlanResult, role: DeployRole): string[] {
  const where: Where = { partition: "aws", region: plan.region, account: plan.accountId, plan };
  const calls: { who: string; call: Call }[] = [
    ...STACK_CALLS.map((call) => ({ who: "the rollout (provider, health gate)", call })),
    ...plan.resources
      .filter((r) => r.custom && CALLS[r.type])
      .flatMap((r) => CALLS[r.type](r, where).map((call) => ({ who: `${r.name} (${r.type})`, call }))),
  ];
  return calls.flatMap(({ who, call }) => {
    const why = denial(role, call);
    if (!why) return [];
    const context = Object.entries(call.context ?? {})
      .map(([key, value]) => ` with ${key}=${value}`)
      .join("");
    return [`${plan.stack}: ${who} needs ${call.action} on ${call.resource}${context}: ${why}`];
  });
}

// ---- The application role boundary against what the application's roles hold. ----

/**
 * The AWS-managed policies the platform attaches, as the platform's roles use them: AWS's document
 * (AWS Managed Policy Reference) with each "*" narrowed to what the service does with the role for
 * this application, and why. A managed policy missing here fails the test.
 */
const MANAGED_POLICIES: Record<string, (w: Where, app: string) => Statement[]> = {
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

function allow(actions: string[], resources: string[]): Statement {
  return { effect: "Allow", actions, notActions: [], resources, notResources: [], condition: {} };
}

/**
 * The request context of a call a role statement authorizes: the values its condition requires
 * (StringEquals/StringLike on a modelled key), and kms:ViaService DynamoDB for a planned table's key
 * (functions use table keys only through DynamoDB).
 */
function grantContext(statement: Statement, resource: string, w: Where): Call["context"] {
  const context: Partial<Record<ModelledKey, string>> = {};
  for (const [operator, tests] of Object.entries(statement.condition)) {
    if (!["StringEquals", "StringLike"].includes(operator)) {
      throw new Error(`statement ${statement.sid ?? "(no Sid)"}: condition ${operator} is not modelled`);
    }
    for (const [key, value] of Object.entries(tests)) {
      const modelled = MODELLED_KEYS.find((k) => k.toLowerCase() === key.toLowerCase());
      if (!modelled)
        throw new Error(`statement ${statement.sid ?? "(no Sid)"}: condition key ${key} is not modelled`);
      context[modelled] = String(asArray(value as string[])[0]);
    }
  }
  const tableKey = w.plan.resources.some(
    (r) =>
      r.type === "aws:dynamodb/table:Table" &&
      (r.inputs.serverSideEncryption as { kmsKeyArn?: string } | undefined)?.kmsKeyArn === resource,
  );
  if (tableKey && !context["kms:ViaService"])
    context["kms:ViaService"] = `dynamodb.${w.region}.amazonaws.com`;
  return context;
}

/**
 * Every (action, resource) an application role of `plan` is granted that the application boundary
 * would cut, as `<stack>: role <name> (<policy>) <action> on <resource>: ...` lines. A statement's
 * resource patterns are taken as literal ARNs: a boundary pattern covers them only if it matches
 * every ARN they stand for. Roles without the application boundary are named too.
 */
function cutGrants(plan: PlanResult, applicationBoundary: DeployRole["applicationBoundary"]): string[] {
  const w: Where = { partition: "aws", region: plan.region, account: plan.accountId, plan };
  const boundary: DeployRole = {
    identity: [allow(["*"], ["*"])],
    boundary: applicationBoundary.statements,
    applicationBoundary,
  };
  return plan.resources
    .filter((r) => r.type === "aws:iam/role:Role")
    .flatMap((role) => {
      const name = text(role, "name");
      const unbounded =
        role.inputs.permissionsBoundary === applicationBoundary.arn
          ? []
          : [`${plan.stack}: role ${name} has boundary ${role.inputs.permissionsBoundary ?? "none"}`];
      const policies = plan.resources.flatMap((r): { label: string; statements: Statement[] }[] => {
        if (r.inputs.role !== name) return [];
        if (r.type === "aws:iam/rolePolicy:RolePolicy") {
          return [{ label: r.name, statements: statementsOf(r.inputs.policy) }];
        }
        if (r.type !== "aws:iam/rolePolicyAttachment:RolePolicyAttachment") return [];
        const managed = MANAGED_POLICIES[text(r, "policyArn")];
        if (!managed)
          throw new Error(`${r.name}: managed policy ${text(r, "policyArn")} is not in MANAGED_POLICIES`);
        return [{ label: text(r, "policyArn"), statements: managed(w, "platform") }];
      });
      const cut = policies.flatMap(({ label, statements }) =>
        statements
          .filter((statement) => statement.effect === "Allow")
          .flatMap((statement) => {
            if (statement.notActions.length > 0 || statement.notResources.length > 0) {
              throw new Error(`role ${name} (${label}): NotAction/NotResource is not modelled`);
            }
            return statement.actions.flatMap((action) =>
              statement.resources.flatMap((resource) => {
                const call = { action, resource, context: grantContext(statement, resource, w) };
                const why = denial(boundary, call);
                return why ? [`${plan.stack}: role ${name} (${label}) ${action} on ${resource}: ${why}`] : [];
              }),
            );
          }),
      );
      return [...unbounded, ...cut];
    });
}

describe("the deploy role against what the rollout of the real stacks asks AWS for", () => {
  let role: DeployRole;
  const plans: Record<string, PlanResult> = {};
  before(async function () {
    this.timeout(180_000); // three programs under the mock runtime, esbuild bundles included
    const [pipeline, dev, prod] = await Promise.all(
      ["pipeline", "dev", "prod"].map((stack) => planStack(stack, { projectDir: projectDirOf(stack) })),
    );
    role = deployRoleOf(pipeline);
    Object.assign(plans, { dev, prod });
  });

  it("plans the deploy role's policy, its boundary and the application boundary with well-formed ARNs only (no stringified Output)", () => {
    const resources = [...role.identity, ...role.boundary, ...role.applicationBoundary.statements].flatMap(
      (s) => [...s.resources, ...s.notResources],
    );
    const malformed = resources.filter(
      (r) => r !== "*" && !/^arn:aws:[a-z0-9-]+:[a-z0-9*-]*:(\d{12}|\*|aws)?:\S+$/.test(r),
    );
    assert.deepEqual(malformed, []);
  });

  for (const stack of ["dev", "prod"]) {
    it(`allows every call creating the ${stack} stack's resources, its traffic shifts and its health gate make`, () => {
      const denied = deniedCalls(plans[stack], role);
      assert.deepEqual(denied, [], `${denied.length} denied:\n${denied.join("\n")}`);
    });

    it(`allows creating and granting every role of the ${stack} stack only because it carries the application boundary`, () => {
      const plan = plans[stack];
      const where: Where = { partition: "aws", region: plan.region, account: plan.accountId, plan };
      const calls = plan.resources
        .filter((r) => ["aws:iam/role:Role", "aws:iam/rolePolicy:RolePolicy"].includes(r.type))
        .flatMap((r) => CALLS[r.type](r, where))
        .filter((call) => /^iam:(CreateRole|PutRolePermissionsBoundary|PutRolePolicy)$/.test(call.action));
      assert.ok(calls.length > 10, `${stack} plans roles and their policies`);
      const withBoundary = calls.filter(
        (call) =>
          call.context?.["iam:PermissionsBoundary"] === role.applicationBoundary.arn && !denial(role, call),
      );
      assert.equal(withBoundary.length, calls.length, "each is allowed with the application boundary");
      const without = calls.map((call) => denial(role, { ...call, context: {} }));
      assert.deepEqual(
        [...new Set(without)],
        ["denied by statement DenyRolesWithoutApplicationBoundary of the boundary"],
      );
    });

    it(`cuts no grant of any role of the ${stack} stack with the application boundary`, () => {
      const cut = cutGrants(plans[stack], role.applicationBoundary);
      assert.deepEqual(cut, [], `${cut.length} cut:\n${cut.join("\n")}`);
    });

    it(`knows the calls of every resource type the ${stack} stack plans`, () => {
      assert.deepEqual(
        unknownTypes(plans[stack]),
        [],
        "add the type to CALLS (or, if it calls no AWS API, to NO_AWS_CALL)",
      );
    });
  }

  it("names the stack, resource, action, ARN and the reason of a denied call", () => {
    const outsider: RecordedResource = {
      urn: "urn:pulumi:dev::platform::aws:lambda/function:Function::other-fn",
      type: "aws:lambda/function:Function",
      name: "other-fn",
      custom: true,
      dependencies: [],
      propertyDependencies: {},
      ignoreChanges: [],
      inputs: { name: "other-app-fn", role: "arn:aws:iam::123456789012:role/platform-dev-fn-role" },
      outputs: {},
    };
    const denied = deniedCalls({ ...plans.dev, resources: [outsider] }, role);
    assert.ok(
      denied.includes(
        "dev: other-fn (aws:lambda/function:Function) needs lambda:CreateFunction on arn:aws:lambda:us-east-1:123456789012:function:other-app-fn: no statement of the role's policy allows it",
      ),
      denied.join("\n"),
    );
  });

  it("fails on a resource type it does not know", () => {
    const instance = { ...plans.dev.resources.find((r) => r.custom)!, type: "aws:ec2/instance:Instance" };
    assert.deepEqual(unknownTypes({ ...plans.dev, resources: [instance] }), ["aws:ec2/instance:Instance"]);
  });

  it("denies passing an application role to a service the application does not use", () => {
    const call = passRole("arn:aws:iam::123456789012:role/platform-dev-fn-role", "ec2.amazonaws.com");
    assert.match(denial(role, call) ?? "", /DenyPassRoleToOtherServices of the boundary/);
  });

  it("denies using a table key other than through DynamoDB", () => {
    const key = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab";
    assert.equal(
      denial(role, { action: "kms:Decrypt", resource: key }),
      "no statement of the role's policy allows it",
    );
    const viaSsm = {
      action: "kms:Decrypt",
      resource: key,
      context: { "kms:ViaService": "ssm.us-east-1.amazonaws.com" },
    };
    assert.equal(denial(role, viaSsm), "no statement of the role's policy allows it");
  });

  it("names the role, action and resource the application boundary would cut", () => {
    const plan = plans.dev;
    const fn = plan.resources.find((r) => r.type === "aws:iam/role:Role")!;
    const policy: RecordedResource = {
      ...plan.resources.find((r) => r.type === "aws:iam/rolePolicy:RolePolicy")!,
      name: "extra-policy",
      inputs: {
        role: fn.inputs.name,
        policy: JSON.stringify({
          Statement: [{ Effect: "Allow", Action: "s3:GetObject", Resource: "arn:aws:s3:::other-bucket/*" }],
        }),
      },
    };
    assert.deepEqual(cutGrants({ ...plan, resources: [fn, policy] }, role.applicationBoundary), [
      `dev: role ${fn.inputs.name} (extra-policy) s3:GetObject on arn:aws:s3:::other-bucket/*: no statement of the boundary allows it`,
    ]);
  });

  it("names a role planned without the application boundary", () => {
    const fn = { ...plans.dev.resources.find((r) => r.type === "aws:iam/role:Role")! };
    fn.inputs = { ...fn.inputs, permissionsBoundary: undefined };
    assert.deepEqual(cutGrants({ ...plans.dev, resources: [fn] }, role.applicationBoundary), [
      `dev: role ${fn.inputs.name} has boundary none`,
    ]);
  });

  it("lets application roles put custom metrics only in the application's namespaces", () => {
    const application: DeployRole = {
      identity: [allow(["*"], ["*"])],
      boundary: role.applicationBoundary.statements,
      applicationBoundary: role.applicationBoundary,
    };
    const metrics = (namespace: string) =>
      denial(application, {
        action: "cloudwatch:PutMetricData",
        resource: "*",
        context: { "cloudwatch:namespace": namespace },
      });
    assert.equal(metrics("platform/orders"), undefined);
    assert.equal(metrics("AWS/Lambda"), "no statement of the boundary allows it");
  });

  describe("the escalation through a role of its own", () => {
    const evil = "arn:aws:iam::123456789012:role/platform-evil";
    const otherBoundary = "arn:aws:iam::123456789012:policy/platform-evil-boundary";
    const denied = /DenyRolesWithoutApplicationBoundary of the boundary/;

    it("denies creating an <app>- role without a boundary", () => {
      assert.match(denial(role, { action: "iam:CreateRole", resource: evil }) ?? "", denied);
    });

    it("denies creating an <app>- role with another boundary", () => {
      const call = {
        action: "iam:CreateRole",
        resource: evil,
        context: { "iam:PermissionsBoundary": otherBoundary },
      };
      assert.match(denial(role, call) ?? "", denied);
    });

    it("allows creating an <app>- role with the application boundary", () => {
      const call = {
        action: "iam:CreateRole",
        resource: evil,
        context: { "iam:PermissionsBoundary": role.applicationBoundary.arn },
      };
      assert.equal(denial(role, call), undefined);
    });

    it("denies replacing a role's boundary with another", () => {
      const call = {
        action: "iam:PutRolePermissionsBoundary",
        resource: evil,
        context: { "iam:PermissionsBoundary": otherBoundary },
      };
      assert.match(denial(role, call) ?? "", denied);
    });

    it("denies granting a role without the application boundary an inline or managed policy", () => {
      for (const action of ["iam:PutRolePolicy", "iam:AttachRolePolicy"]) {
        assert.match(denial(role, { action, resource: evil }) ?? "", denied, action);
      }
    });

    it("denies removing a role's boundary", () => {
      assert.match(
        denial(role, { action: "iam:DeleteRolePermissionsBoundary", resource: evil }) ?? "",
        /DenyBoundaryRemoval/,
      );
    });

    it("denies creating, changing or deleting the application boundary policy", () => {
      for (const action of [
        "iam:CreatePolicy",
        "iam:CreatePolicyVersion",
        "iam:SetDefaultPolicyVersion",
        "iam:DeletePolicyVersion",
        "iam:DeletePolicy",
      ]) {
        assert.match(
          denial(role, { action, resource: role.applicationBoundary.arn }) ?? "",
          /DenyPipelineResourcesAndBoundary/,
          action,
        );
      }
    });
  });

  it("denies the pipeline's own roles to the deployment", () => {
    const pipelineRole = "arn:aws:iam::123456789012:role/platform-pipeline-delivery-deploy-us-east-1";
    assert.match(
      denial(role, { action: "iam:PutRolePolicy", resource: pipelineRole }) ?? "",
      /DenyPipelineResourcesAndBoundary/,
    );
  });
});
