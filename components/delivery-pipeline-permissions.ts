import * as pulumi from "@pulumi/pulumi";

/** An IAM policy statement as the pipeline's documents hold it. */
export interface Statement {
  Sid: string;
  Effect: "Allow" | "Deny";
  Action: string[];
  Resource: pulumi.Input<string> | pulumi.Input<string>[];
  Condition?: Record<string, Record<string, unknown>>;
}

/** Where the deploy role may act: the application's resources, found by their name prefix. */
export interface DeployScope {
  partition: pulumi.Input<string>;
  accountId: pulumi.Input<string>;
  /** Every physical name of the application starts with `<app>-` (components/naming.ts). */
  app: string;
}

/**
 * Actions the deploy role needs on `Resource: "*"`: they act on no resource ARN (or create the
 * resource whose ARN is not known yet). policy/config.pipeline.json names exactly these for
 * `iam-no-wildcard-resources`.
 */
export const DEPLOY_STAR_ACTIONS = [
  "sts:GetCallerIdentity",
  "kms:CreateKey",
  "kms:ListAliases",
  "logs:PutQueryDefinition",
  "logs:DescribeQueryDefinitions",
  "logs:DeleteQueryDefinition",
  "cloudwatch:GetMetricData",
  // The rollout's health gate asks for metric and composite alarms: CloudWatch returns composite
  // alarms only to callers allowed cloudwatch:DescribeAlarms on "*" (DescribeAlarms API reference).
  "cloudwatch:DescribeAlarms",
];

/**
 * The services the deploy role may pass the application's roles to: Lambda (execution roles),
 * API Gateway (its CloudWatch role), CodeDeploy (deployment groups) and EventBridge Scheduler
 * (schedules' roles, ServiceSchedule).
 */
export const PASS_ROLE_SERVICES = [
  "lambda.amazonaws.com",
  "apigateway.amazonaws.com",
  "codedeploy.amazonaws.com",
  "scheduler.amazonaws.com",
];

/**
 * The deploy role's statements: what `platform rollout <stage>` (the Pulumi engine running the
 * program, the traffic shift, the health gates) does to the application's resources.
 *
 * This is the one deliberate exception to least privilege: a deployment creates, changes and
 * deletes every kind of resource the program declares, so the role gets whole services (`lambda:*`,
 * `dynamodb:*`, ...), but only on resources whose names start with the application's prefix, IAM
 * only on the application's roles and policies, KMS key administration on keys (whose ARNs carry
 * no name) and key use through DynamoDB only. The permissions boundary (deployBoundaryStatements)
 * caps it further. test/components/deploy-role.test.ts checks it against every call the rollout of
 * the real stacks makes.
 */
export function deployStatements(scope: DeployScope): Statement[] {
  const { partition: p, accountId: a, app } = scope;
  // partition and accountId are Outputs: a template literal would stringify them into
  // "Calling [toString] on an [Output<T>]..." instead of their values.
  const arn = (service: string, region: string, resource: string) =>
    pulumi.interpolate`arn:${p}:${service}:${region}:${a}:${resource}`;
  const apiGateway = (path: string) => pulumi.interpolate`arn:${p}:apigateway:*::${path}`;
  const iam = (resource: string) => pulumi.interpolate`arn:${p}:iam::${a}:${resource}`;
  // CanaryDeployment's hooks are named CodeDeployHook_<app>-... (the managed CodeDeploy role may
  // invoke only functions named so), and their log groups after them.
  const hooks = `CodeDeployHook_${app}-*`;
  return [
    {
      Sid: "ApplicationServices",
      Effect: "Allow",
      Action: [
        "lambda:*",
        "dynamodb:*",
        "sqs:*",
        "sns:*",
        "codedeploy:*",
        "cloudwatch:*",
        "logs:*",
        "budgets:*",
        "scheduler:*",
      ],
      Resource: [
        arn("lambda", "*", `function:${app}-*`),
        arn("lambda", "*", `function:${hooks}`),
        arn("lambda", "*", "event-source-mapping:*"),
        arn("dynamodb", "*", `table/${app}-*`),
        arn("sqs", "*", `${app}-*`),
        arn("sns", "*", `${app}-*`),
        arn("codedeploy", "*", `application:${app}-*`),
        arn("codedeploy", "*", `deploymentgroup:${app}-*`),
        arn("codedeploy", "*", "deploymentconfig:*"),
        arn("cloudwatch", "*", `alarm:${app}-*`),
        arn("cloudwatch", "", `dashboard/${app}-*`),
        arn("logs", "*", `log-group:/aws/lambda/${app}-*`),
        arn("logs", "*", `log-group:/aws/lambda/${hooks}`),
        arn("logs", "*", `log-group:/aws/apigateway/${app}-*`),
        arn("logs", "*", "log-group:API-Gateway-Execution-Logs_*"),
        arn("budgets", "", `budget/${app}-*`),
        // EventBridge Scheduler: a schedule's ARN is schedule/<group>/<name>, and ServiceSchedule
        // puts each schedule in a group of its own named with the prefix.
        arn("scheduler", "*", `schedule-group/${app}-*`),
        arn("scheduler", "*", `schedule/${app}-*/*`),
      ],
    },
    {
      Sid: "ApiGateway",
      Effect: "Allow",
      Action: [
        "apigateway:GET",
        "apigateway:POST",
        "apigateway:PUT",
        "apigateway:PATCH",
        "apigateway:DELETE",
      ],
      Resource: [
        apiGateway("/restapis"),
        apiGateway("/restapis/*"),
        apiGateway("/account"),
        apiGateway("/apikeys"),
        apiGateway("/apikeys/*"),
        apiGateway("/usageplans"),
        apiGateway("/usageplans/*"),
        apiGateway("/tags/*"),
      ],
    },
    {
      Sid: "ApplicationRoles",
      Effect: "Allow",
      Action: [
        "iam:CreateRole",
        "iam:PutRolePermissionsBoundary",
        "iam:DeleteRole",
        "iam:GetRole",
        "iam:UpdateRole",
        "iam:UpdateAssumeRolePolicy",
        "iam:TagRole",
        "iam:UntagRole",
        "iam:ListRoleTags",
        "iam:PutRolePolicy",
        "iam:GetRolePolicy",
        "iam:DeleteRolePolicy",
        "iam:ListRolePolicies",
        "iam:AttachRolePolicy",
        "iam:DetachRolePolicy",
        "iam:ListAttachedRolePolicies",
        "iam:ListInstanceProfilesForRole",
        "iam:PassRole",
        "iam:CreatePolicy",
        "iam:DeletePolicy",
        "iam:GetPolicy",
        "iam:GetPolicyVersion",
        "iam:ListPolicyVersions",
        "iam:CreatePolicyVersion",
        "iam:DeletePolicyVersion",
      ],
      Resource: [iam(`role/${app}-*`), iam(`policy/${app}-*`)],
    },
    {
      Sid: "KeyAdministration",
      Effect: "Allow",
      Action: [
        "kms:DescribeKey",
        "kms:GetKeyPolicy",
        "kms:PutKeyPolicy",
        "kms:GetKeyRotationStatus",
        "kms:EnableKeyRotation",
        "kms:ListResourceTags",
        "kms:TagResource",
        "kms:UntagResource",
        "kms:UpdateKeyDescription",
        "kms:ScheduleKeyDeletion",
        "kms:CreateAlias",
        "kms:DeleteAlias",
        "kms:UpdateAlias",
      ],
      Resource: [arn("kms", "*", "key/*"), arn("kms", "*", `alias/${app}-*`)],
    },
    {
      // DynamoDB uses the caller's identity on a customer-managed table key (at CreateTable and on
      // a key change): these operations, through DynamoDB only (AWS KMS developer guide, "How
      // Amazon DynamoDB uses AWS KMS"). kms:ReEncrypt* and kms:GenerateDataKey* there are exactly
      // the four actions listed.
      Sid: "TableKeysThroughDynamoDB",
      Effect: "Allow",
      Action: [
        "kms:CreateGrant",
        "kms:DescribeKey",
        "kms:Encrypt",
        "kms:Decrypt",
        "kms:ReEncryptFrom",
        "kms:ReEncryptTo",
        "kms:GenerateDataKey",
        "kms:GenerateDataKeyWithoutPlaintext",
      ],
      Resource: [arn("kms", "*", "key/*")],
      Condition: { StringLike: { "kms:ViaService": "dynamodb.*.amazonaws.com" } },
    },
    {
      // Lambda Insights layers are published by AWS accounts, and DescribeLogGroups lists them all.
      Sid: "ReadLayersAndLogGroups",
      Effect: "Allow",
      Action: ["lambda:GetLayerVersion", "logs:DescribeLogGroups"],
      Resource: [pulumi.interpolate`arn:${p}:lambda:*:*:layer:*`, arn("logs", "*", "log-group:*")],
    },
    { Sid: "NoResourceArn", Effect: "Allow", Action: DEPLOY_STAR_ACTIONS, Resource: "*" },
  ];
}

/**
 * The name of the application role boundary (applicationBoundaryStatements): the pipeline stack
 * creates it, and the application's stacks name it in `platform:roleBoundary` without a cross-stack
 * reference. One pipeline stack per application and account owns it.
 */
export const applicationBoundaryName = (app: string) => `${app}-application-boundary`;

/**
 * The permissions boundary of every role the application's stacks create: at most what the
 * platform's application roles need (test/components/deploy-role.test.ts checks every statement of
 * every planned role of dev and prod against it), on the application's resources where their ARNs
 * carry its prefix. The deploy role may create, change and pass roles only with this boundary
 * (deployBoundaryStatements), so a role it creates never holds more than this, whatever its inline
 * policy says. No IAM action: an application role cannot create or change roles in turn.
 *
 * Where names are not the application's: SSM parameters (services declare any path) and KMS keys
 * (ARNs carry ids) are allowed account-wide, keys through DynamoDB and SSM only; the API Gateway
 * logging role serves every REST API of the account and region, so it writes any log group.
 */
export function applicationBoundaryStatements(scope: DeployScope): Statement[] {
  const { partition: p, accountId: a, app } = scope;
  const arn = (service: string, resource: string) =>
    pulumi.interpolate`arn:${p}:${service}:*:${a}:${resource}`;
  const hooks = `CodeDeployHook_${app}-*`;
  return [
    {
      // Functions' own log groups (hooks are named CodeDeployHook_<app>-...), and the Lambda
      // Insights extension's /aws/lambda-insights (CloudWatchLambdaInsightsExecutionRolePolicy).
      Sid: "FunctionLogs",
      Effect: "Allow",
      Action: ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"],
      Resource: [
        arn("logs", `log-group:/aws/lambda/${app}-*`),
        arn("logs", `log-group:/aws/lambda/${hooks}`),
        arn("logs", "log-group:/aws/lambda-insights"),
        arn("logs", "log-group:/aws/lambda-insights:*"),
      ],
    },
    {
      // The API Gateway account role (AmazonAPIGatewayPushToCloudWatchLogs) writes the execution and
      // access logs of every REST API in the account and region; API Gateway never reads them.
      Sid: "ApiGatewayLogs",
      Effect: "Allow",
      Action: [
        "logs:CreateLogGroup",
        "logs:CreateLogStream",
        "logs:PutLogEvents",
        "logs:DescribeLogGroups",
        "logs:DescribeLogStreams",
      ],
      Resource: [arn("logs", "log-group:*")],
    },
    {
      Sid: "Tracing",
      Effect: "Allow",
      Action: ["xray:PutTraceSegments", "xray:PutTelemetryRecords"],
      Resource: "*",
    },
    {
      // Custom metrics only in the application's namespaces (`<app>`, `<app>/...`).
      Sid: "CustomMetrics",
      Effect: "Allow",
      Action: ["cloudwatch:PutMetricData"],
      Resource: "*",
      Condition: { StringLike: { "cloudwatch:namespace": [app, `${app}/*`] } },
    },
    {
      // Data-plane actions on the application's tables, their indexes and streams.
      Sid: "Tables",
      Effect: "Allow",
      Action: [
        "dynamodb:BatchGetItem",
        "dynamodb:BatchWriteItem",
        "dynamodb:ConditionCheckItem",
        "dynamodb:DeleteItem",
        "dynamodb:DescribeTable",
        "dynamodb:GetItem",
        "dynamodb:PutItem",
        "dynamodb:Query",
        "dynamodb:Scan",
        "dynamodb:UpdateItem",
        "dynamodb:DescribeStream",
        "dynamodb:GetRecords",
        "dynamodb:GetShardIterator",
        "dynamodb:ListStreams",
      ],
      Resource: [arn("dynamodb", `table/${app}-*`)],
    },
    {
      Sid: "QueuesAndTopics",
      Effect: "Allow",
      Action: [
        "sqs:SendMessage",
        "sqs:ReceiveMessage",
        "sqs:DeleteMessage",
        "sqs:GetQueueAttributes",
        "sns:Publish",
      ],
      Resource: [arn("sqs", `${app}-*`), arn("sns", `${app}-*`)],
    },
    {
      // Schedules, on-failure destinations and canary hooks invoke the application's functions
      // (any version or alias); CodeDeploy (AWSCodeDeployRoleForLambda) invokes the hooks and moves
      // the aliases.
      Sid: "Functions",
      Effect: "Allow",
      Action: [
        "lambda:InvokeFunction",
        "lambda:GetAlias",
        "lambda:UpdateAlias",
        "lambda:GetProvisionedConcurrencyConfig",
      ],
      Resource: [arn("lambda", `function:${app}-*`), arn("lambda", `function:${hooks}`)],
    },
    {
      // Canary hooks report their verdict and read their deployment; CodeDeploy reads the alarms
      // (composite ones only with "*", see DEPLOY_STAR_ACTIONS).
      Sid: "Deployments",
      Effect: "Allow",
      Action: [
        "codedeploy:PutLifecycleEventHookExecutionStatus",
        "codedeploy:GetDeployment",
        "codedeploy:GetApplicationRevision",
      ],
      Resource: [arn("codedeploy", `deploymentgroup:${app}-*`), arn("codedeploy", `application:${app}-*`)],
    },
    { Sid: "ReadAlarms", Effect: "Allow", Action: ["cloudwatch:DescribeAlarms"], Resource: "*" },
    {
      // ServiceSecrets: services name their SecureString parameters freely.
      Sid: "ReadParameters",
      Effect: "Allow",
      Action: ["ssm:GetParameter"],
      Resource: [arn("ssm", "parameter/*")],
    },
    {
      // Table keys used through DynamoDB, parameter keys through SSM; never a key directly.
      Sid: "KeysThroughDynamoDBAndSsm",
      Effect: "Allow",
      Action: ["kms:Decrypt", "kms:GenerateDataKey"],
      Resource: [arn("kms", "key/*")],
      Condition: { StringLike: { "kms:ViaService": ["dynamodb.*.amazonaws.com", "ssm.*.amazonaws.com"] } },
    },
  ];
}

/** What the boundary always denies: the pipeline's own roles and key, and the boundaries. */
export interface BoundaryScope extends DeployScope {
  /** ARNs of the pipeline's own roles and artifact key (their names share the application's prefix). */
  pipelineArns: pulumi.Input<string>[];
  /** The boundary policy's own ARN (a role could otherwise rewrite its ceiling). */
  boundaryArn: pulumi.Input<string>;
  /** The application role boundary's ARN: every role the deploy role creates or changes carries it. */
  applicationBoundaryArn: pulumi.Input<string>;
}

/** Actions that give a role permissions or a boundary: allowed only on roles bounded by the application boundary. */
export const BOUNDED_ROLE_ACTIONS = [
  "iam:CreateRole",
  "iam:PutRolePermissionsBoundary",
  "iam:PutRolePolicy",
  "iam:AttachRolePolicy",
];

/**
 * The deploy role's permissions boundary: the same ceiling as its statements (a grant added to the
 * role later, by a transform or by hand, cannot reach beyond the application's resources) and
 * explicit denials of what would let a deployment escape it: changing the pipeline's roles, its
 * artifact key or either boundary policy, creating a role or granting one anything unless it
 * carries the application boundary (`iam:PermissionsBoundary`, AWS's pattern for delegated role
 * creation: else a new `<app>-x` role with `Action: "*"` passed to a function would make the
 * deployment account admin), removing a role's boundary, and passing roles to services the
 * application does not use.
 */
export function deployBoundaryStatements(scope: BoundaryScope): Statement[] {
  return [
    ...deployStatements(scope),
    {
      Sid: "DenyPipelineResourcesAndBoundary",
      Effect: "Deny",
      Action: ["iam:*", "kms:*"],
      Resource: [...scope.pipelineArns, scope.boundaryArn, scope.applicationBoundaryArn],
    },
    {
      Sid: "DenyRolesWithoutApplicationBoundary",
      Effect: "Deny",
      Action: BOUNDED_ROLE_ACTIONS,
      Resource: "*",
      Condition: { StringNotEquals: { "iam:PermissionsBoundary": scope.applicationBoundaryArn } },
    },
    {
      Sid: "DenyBoundaryRemoval",
      Effect: "Deny",
      Action: ["iam:DeleteRolePermissionsBoundary"],
      Resource: "*",
    },
    {
      Sid: "DenyPassRoleToOtherServices",
      Effect: "Deny",
      Action: ["iam:PassRole"],
      Resource: "*",
      Condition: { StringNotEquals: { "iam:PassedToService": PASS_ROLE_SERVICES } },
    },
  ];
}

/** What the deploy builds read besides the application: their secrets and the Pulumi state bucket. */
export interface DeployAccessArgs {
  deploySecrets?: Record<string, pulumi.Input<string>>;
  stateBucketArn?: pulumi.Input<string>;
}

/** Secrets and the state bucket the deploy builds read. */
export function deployAccess(args: DeployAccessArgs): Statement[] {
  const secrets = Object.values(args.deploySecrets ?? {});
  return [
    ...(secrets.length > 0
      ? [
          {
            Sid: "DeploySecrets",
            Effect: "Allow" as const,
            Action: ["secretsmanager:GetSecretValue"],
            Resource: secrets,
          },
        ]
      : []),
    ...(args.stateBucketArn
      ? [
          {
            Sid: "StateBucket",
            Effect: "Allow" as const,
            Action: ["s3:ListBucket", "s3:GetBucketLocation"],
            Resource: args.stateBucketArn,
          },
          {
            Sid: "StateObjects",
            Effect: "Allow" as const,
            Action: ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"],
            Resource: pulumi.interpolate`${args.stateBucketArn}/*`,
          },
        ]
      : []),
  ];
}

export const document = (statements: Statement[]) =>
  pulumi.jsonStringify({ Version: "2012-10-17", Statement: statements });

/** A service may assume the role only for this account (confused deputy). */
export function trustPolicy(service: string, accountId: pulumi.Input<string>) {
  return pulumi.jsonStringify({
    Version: "2012-10-17",
    Statement: [
      {
        Effect: "Allow",
        Principal: { Service: service },
        Action: "sts:AssumeRole",
        Condition: { StringEquals: { "aws:SourceAccount": accountId } },
      },
    ],
  });
}
