import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import { METRICS_NAMESPACE_ENV } from "../functions/shared/metrics";
import { bundleHandler, esbuildTarget } from "./bundle";
import { describeLambdaInsightsLayer } from "./lambda-insights";
import { type NamingContext, physicalName } from "./naming";
import { LAMBDA_RUNTIMES, type LambdaRuntime, LOG_RETENTION_DAYS } from "./settings";
import { applyTransform, type Transform } from "./transform";

/** An IAM policy statement as the platform writes them: exact actions, exact resources. */
export interface PolicyStatement {
  /** Optional statement id (letters and digits). */
  Sid?: string;
  Effect?: "Allow" | "Deny";
  Action: pulumi.Input<string>[];
  Resource: pulumi.Input<string>[];
  Condition?: Record<string, Record<string, pulumi.Input<string | string[]>>>;
}

/** Where events that failed every asynchronous retry go. */
export interface AsyncFailureHandling {
  /** Retries of a failed asynchronous invocation (0 to 2). @default 2 */
  maximumRetryAttempts?: number;
  /** Maximum age of an event before it is discarded, in seconds (60 to 21600). @default 21600 */
  maximumEventAgeSeconds?: number;
  /**
   * Create an SQS dead-letter queue (encrypted, 14-day retention) for failed events.
   * Exactly one of `deadLetterQueue` and `onFailureDestinationArn` must be set.
   */
  deadLetterQueue?: boolean;
  /** ARN of an SQS queue, SNS topic, Lambda function or EventBridge bus that receives failed events. */
  onFailureDestinationArn?: pulumi.Input<string>;
}

export interface ServerlessFunctionArgs {
  /** Where physical names come from (app, stage, region). */
  naming: NamingContext;
  /**
   * The handler module, relative to the project root; it must export `handler`.
   * @example "functions/users/list.ts"
   */
  entry: string;
  /** Memory in MB (128 to 10240). */
  memoryMb: number;
  /** Timeout in seconds (1 to 900; at most 29 behind API Gateway). */
  timeoutSeconds: number;
  /** CloudWatch Logs retention of the function's log group, in days. */
  logRetentionDays: number;
  /** Instruction set. @default "arm64" */
  architecture?: "arm64" | "x86_64";
  /** Lambda runtime. @default "nodejs22.x" */
  runtime?: LambdaRuntime;
  /**
   * Environment variables. Source maps ship in the archive but are not loaded at cold start; set
   * `NODE_OPTIONS: "--enable-source-maps"` for mapped stack traces, at the cold-start cost the README gives.
   * @default {}
   */
  environment?: Record<string, pulumi.Input<string>>;
  /** Provisioned concurrency on the `live` alias (0 = none). @default 0 */
  provisionedConcurrency?: number;
  /** Asynchronous invocation failure handling. @default undefined (Lambda's defaults, events dropped) */
  asyncFailure?: AsyncFailureHandling;
  /**
   * CodeDeploy shifts the `live` alias between versions: Pulumi creates the alias on the first
   * version and then ignores its `functionVersion` and `routingConfig`. @default false
   */
  trafficShiftedByCodeDeploy?: boolean;
  /**
   * The Lambda Insights extension layer of this region and architecture (see
   * `components/lambda-insights.ts`): adds the layer and the AWS managed policy it needs. A layer of
   * another region or architecture is rejected: Lambda would refuse it at deploy time.
   * @default undefined (no Lambda Insights)
   */
  lambdaInsightsLayerArn?: string;
  /** Override the physical function name (hook functions must be named `CodeDeployHook_*`). */
  functionName?: string;
  /** Change a child's args without forking the component. */
  transform?: {
    role?: Transform<aws.iam.RoleArgs>;
    logGroup?: Transform<aws.cloudwatch.LogGroupArgs>;
    function?: Transform<aws.lambda.FunctionArgs>;
    alias?: Transform<aws.lambda.AliasArgs>;
  };
}

/** The AWS managed policy the Lambda Insights extension needs to write its metrics. */
export const LAMBDA_INSIGHTS_POLICY_ARN =
  "arn:aws:iam::aws:policy/CloudWatchLambdaInsightsExecutionRolePolicy";

/** The alias callers invoke; CodeDeploy shifts it between versions. */
export const LIVE_ALIAS = "live";

/**
 * A Lambda function bundled from `functions/` with its own role, log group, published versions and
 * a `live` alias.
 *
 * @example
 * const fn = new ServerlessFunction("users-list", {
 *   naming, entry: "functions/users/list.ts", memoryMb: 256, timeoutSeconds: 10, logRetentionDays: 7,
 * });
 * table.grantRead(fn);
 */
export class ServerlessFunction extends pulumi.ComponentResource {
  static readonly type = "platform:lambda:ServerlessFunction";

  readonly role: aws.iam.Role;
  readonly logGroup: aws.cloudwatch.LogGroup;
  readonly function: aws.lambda.Function;
  readonly alias: aws.lambda.Alias;
  readonly deadLetterQueue?: aws.sqs.Queue;
  /** The `live` alias's asynchronous invocation settings, when `asyncFailure` is set. */
  readonly eventInvokeConfig?: aws.lambda.FunctionEventInvokeConfig;
  /** Physical name of the function. */
  readonly functionName: string;
  readonly arn: pulumi.Output<string>;
  /** The version published by this update. */
  readonly version: pulumi.Output<string>;
  /** ARN of the `live` alias (what API Gateway and other callers invoke). */
  readonly aliasArn: pulumi.Output<string>;
  readonly aliasInvokeArn: pulumi.Output<string>;
  readonly timeoutSeconds: number;
  /** The logical name the function was declared with (`users-list`). */
  readonly logicalName: string;
  /**
   * The CloudWatch namespace of the function's own EMF metrics (`ServerErrors`): the app's name,
   * given to the function as `PLATFORM_METRICS_NAMESPACE`.
   */
  readonly metricsNamespace: string;
  private readonly grants = new Set<string>();

  constructor(name: string, args: ServerlessFunctionArgs, opts?: pulumi.ComponentResourceOptions) {
    super(ServerlessFunction.type, name, {}, opts);
    validateFunctionArgs(name, args);
    this.logicalName = name;
    this.timeoutSeconds = args.timeoutSeconds;
    this.metricsNamespace = args.naming.app;
    const functionName = args.functionName ?? physicalName(args.naming, name);
    this.functionName = functionName;
    const logGroupName = `/aws/lambda/${functionName}`;

    const roleArgs = applyTransform(args.transform?.role, {
      name: physicalName(args.naming, `${name}-role`, { global: true }),
      description: `Execution role of ${functionName}`,
      assumeRolePolicy: JSON.stringify({
        Version: "2012-10-17",
        Statement: [
          { Effect: "Allow", Principal: { Service: "lambda.amazonaws.com" }, Action: "sts:AssumeRole" },
        ],
      }),
    } satisfies aws.iam.RoleArgs);
    this.role = new aws.iam.Role(`${name}-role`, roleArgs, { parent: this });

    this.logGroup = new aws.cloudwatch.LogGroup(
      `${name}-logs`,
      applyTransform(args.transform?.logGroup, {
        name: logGroupName,
        retentionInDays: args.logRetentionDays,
      } satisfies aws.cloudwatch.LogGroupArgs),
      { parent: this },
    );

    // Logs to its own group only, and X-Ray segments (which only accept Resource "*").
    const basePolicy = this.addPolicy("base", [
      {
        Sid: "WriteOwnLogs",
        Action: ["logs:CreateLogStream", "logs:PutLogEvents"],
        Resource: [pulumi.interpolate`${this.logGroup.arn}:*`],
      },
      {
        Sid: "XRayTracing",
        Action: ["xray:PutTraceSegments", "xray:PutTelemetryRecords"],
        Resource: ["*"],
      },
    ]);

    const rolePolicies: pulumi.Resource[] = [];
    if (args.lambdaInsightsLayerArn) {
      rolePolicies.push(
        new aws.iam.RolePolicyAttachment(
          `${name}-insights-policy`,
          { role: this.role.name, policyArn: LAMBDA_INSIGHTS_POLICY_ARN },
          { parent: this },
        ),
      );
    }
    if (args.asyncFailure?.deadLetterQueue) {
      this.deadLetterQueue = new aws.sqs.Queue(
        `${name}-dlq`,
        {
          name: physicalName(args.naming, `${name}-dlq`, { maxLength: 80 }),
          messageRetentionSeconds: 14 * 24 * 3600,
          sqsManagedSseEnabled: true,
        },
        { parent: this },
      );
      rolePolicies.push(
        this.addPolicy("dlq", [
          { Sid: "SendToDeadLetterQueue", Action: ["sqs:SendMessage"], Resource: [this.deadLetterQueue.arn] },
        ]),
      );
    } else if (args.asyncFailure?.onFailureDestinationArn) {
      const destination = args.asyncFailure.onFailureDestinationArn;
      rolePolicies.push(
        this.addPolicy("on-failure", [
          {
            Sid: "SendToOnFailureDestination",
            Action: [pulumi.output(destination).apply(destinationAction)],
            Resource: [destination],
          },
        ]),
      );
    }

    const bundle = bundleHandler(args.entry, { target: esbuildTarget(args.runtime ?? "nodejs22.x") });
    const functionArgs = applyTransform(args.transform?.function, {
      name: functionName,
      description: `${args.entry} (${args.naming.app}-${args.naming.stage})`,
      role: this.role.arn,
      runtime: args.runtime ?? "nodejs22.x",
      architectures: [args.architecture ?? "arm64"],
      handler: "index.handler",
      // The entry, its chunks and their source maps, flat: the chunks import each other by relative path.
      code: new pulumi.asset.AssetArchive(
        Object.fromEntries(
          Object.entries(bundle.files).map(([file, text]) => [file, new pulumi.asset.StringAsset(text)]),
        ),
      ),
      memorySize: args.memoryMb,
      timeout: args.timeoutSeconds,
      publish: true,
      tracingConfig: { mode: "Active" },
      layers: args.lambdaInsightsLayerArn ? [args.lambdaInsightsLayerArn] : undefined,
      loggingConfig: { logFormat: "JSON", logGroup: logGroupName },
      deadLetterConfig: this.deadLetterQueue ? { targetArn: this.deadLetterQueue.arn } : undefined,
      environment: {
        // No NODE_OPTIONS=--enable-source-maps: it makes Node read and parse every module's map at
        // cold start (about a third more import time, measured), so source maps are opt-in.
        variables: {
          POWERTOOLS_SERVICE_NAME: `${args.naming.app}-${name}`,
          ...args.environment,
          // After the caller's: the alarms on these metrics look in this namespace.
          [METRICS_NAMESPACE_ENV]: this.metricsNamespace,
        },
      },
    } satisfies aws.lambda.FunctionArgs);
    // The log group exists before the function, so Lambda never creates one without retention.
    this.function = new aws.lambda.Function(`${name}-function`, functionArgs, {
      parent: this,
      dependsOn: [this.logGroup, basePolicy, ...rolePolicies],
    });

    this.alias = new aws.lambda.Alias(
      `${name}-alias`,
      applyTransform(args.transform?.alias, {
        name: LIVE_ALIAS,
        description: "What callers invoke; CodeDeploy shifts it between versions",
        functionName: this.function.name,
        functionVersion: this.function.version,
      } satisfies aws.lambda.AliasArgs),
      {
        parent: this,
        ignoreChanges: args.trafficShiftedByCodeDeploy ? ["functionVersion", "routingConfig"] : undefined,
      },
    );

    if ((args.provisionedConcurrency ?? 0) > 0) {
      new aws.lambda.ProvisionedConcurrencyConfig(
        `${name}-concurrency`,
        {
          functionName: this.function.name,
          qualifier: this.alias.name,
          provisionedConcurrentExecutions: args.provisionedConcurrency ?? 0,
        },
        { parent: this },
      );
    }

    if (args.asyncFailure) {
      this.eventInvokeConfig = new aws.lambda.FunctionEventInvokeConfig(
        `${name}-async`,
        {
          functionName: this.function.name,
          qualifier: this.alias.name,
          maximumRetryAttempts: args.asyncFailure.maximumRetryAttempts ?? 2,
          maximumEventAgeInSeconds: args.asyncFailure.maximumEventAgeSeconds ?? 21600,
          destinationConfig: args.asyncFailure.onFailureDestinationArn
            ? { onFailure: { destination: args.asyncFailure.onFailureDestinationArn } }
            : undefined,
        },
        { parent: this },
      );
    }

    this.arn = this.function.arn;
    this.version = this.function.version;
    this.aliasArn = this.alias.arn;
    this.aliasInvokeArn = this.alias.invokeArn;
    this.registerOutputs({
      functionName: this.function.name,
      arn: this.arn,
      version: this.version,
      aliasArn: this.aliasArn,
      roleArn: this.role.arn,
    });
  }

  /**
   * Grants the function's role exactly these statements, as an inline policy named
   * `<function>-<grant>`. Each grant name may be used once.
   */
  addPolicy(grant: string, statements: PolicyStatement[]): aws.iam.RolePolicy {
    if (this.grants.has(grant)) {
      throw new Error(`ServerlessFunction ${this.functionName} already has a grant named "${grant}"`);
    }
    this.grants.add(grant);
    return new aws.iam.RolePolicy(
      `${this.logicalName}-${grant}`,
      {
        // Inline policy names are scoped to the role, so the grant name is unique enough.
        name: grant,
        role: this.role.id,
        policy: pulumi.jsonStringify({
          Version: "2012-10-17",
          Statement: statements.map((s) => ({ Effect: "Allow", ...s })),
        }),
      },
      { parent: this },
    );
  }
}

/** The one action a failure destination needs, by the service in its ARN. */
function destinationAction(arn: string): string {
  const service = arn.split(":")[2];
  switch (service) {
    case "sqs":
      return "sqs:SendMessage";
    case "sns":
      return "sns:Publish";
    case "lambda":
      return "lambda:InvokeFunction";
    case "events":
      return "events:PutEvents";
    default:
      throw new Error(
        `Unsupported on-failure destination ${arn}: expected an SQS, SNS, Lambda or EventBridge ARN`,
      );
  }
}

function validateFunctionArgs(name: string, args: ServerlessFunctionArgs): void {
  const problems: string[] = [];
  const intIn = (field: string, value: number | undefined, min: number, max: number) => {
    if (value !== undefined && (!Number.isInteger(value) || value < min || value > max)) {
      problems.push(`${field} must be an integer from ${min} to ${max} (got ${value})`);
    }
  };
  intIn("memoryMb", args.memoryMb, 128, 10240);
  intIn("timeoutSeconds", args.timeoutSeconds, 1, 900);
  intIn("provisionedConcurrency", args.provisionedConcurrency, 0, 1000);
  intIn("asyncFailure.maximumRetryAttempts", args.asyncFailure?.maximumRetryAttempts, 0, 2);
  intIn("asyncFailure.maximumEventAgeSeconds", args.asyncFailure?.maximumEventAgeSeconds, 60, 21600);
  if (!(LOG_RETENTION_DAYS as readonly number[]).includes(args.logRetentionDays)) {
    problems.push(
      `logRetentionDays must be one of ${LOG_RETENTION_DAYS.join(", ")} (got ${args.logRetentionDays})`,
    );
  }
  if (
    args.asyncFailure &&
    !args.asyncFailure.deadLetterQueue === !args.asyncFailure.onFailureDestinationArn
  ) {
    problems.push("asyncFailure must set exactly one of deadLetterQueue and onFailureDestinationArn");
  }
  if (args.runtime !== undefined && !(LAMBDA_RUNTIMES as readonly string[]).includes(args.runtime)) {
    problems.push(
      `runtime must be one of ${LAMBDA_RUNTIMES.join(", ")} (got ${JSON.stringify(args.runtime)})`,
    );
  }
  if (args.lambdaInsightsLayerArn !== undefined) {
    const layer = describeLambdaInsightsLayer(args.lambdaInsightsLayerArn);
    const architecture = args.architecture ?? "arm64";
    if (!layer || layer.region !== args.naming.region || layer.architecture !== architecture) {
      problems.push(
        `lambdaInsightsLayerArn must be the Lambda Insights extension layer of ${args.naming.region} for ${architecture} (got ${JSON.stringify(args.lambdaInsightsLayerArn)})`,
      );
    }
  }
  if (!/^(functions\/).+\.(ts|js|mjs)$/.test(args.entry)) {
    problems.push(`entry must be a handler module under functions/ (got ${JSON.stringify(args.entry)})`);
  }
  if (problems.length > 0) {
    throw new Error(`ServerlessFunction ${name}: ${problems.join("; ")}`);
  }
}
