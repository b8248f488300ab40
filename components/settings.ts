import * as pulumi from "@pulumi/pulumi";
import { Cron } from "croner";
import { z } from "zod";
import { applicationBoundaryName } from "./delivery-pipeline-permissions";
import { LAMBDA_INSIGHTS_VERSION, lambdaInsightsLayerArn, lambdaInsightsRegions } from "./lambda-insights";

/** The config namespace of every platform setting (`platform:<key>` in the stack files). */
export const CONFIG_NAMESPACE = "platform";

/** AWS commercial regions a stage may deploy to. */
export const AWS_REGIONS = [
  "us-east-1",
  "us-east-2",
  "us-west-1",
  "us-west-2",
  "af-south-1",
  "ap-east-1",
  "ap-east-2",
  "ap-south-1",
  "ap-south-2",
  "ap-southeast-1",
  "ap-southeast-2",
  "ap-southeast-3",
  "ap-southeast-4",
  "ap-southeast-5",
  "ap-southeast-7",
  "ap-northeast-1",
  "ap-northeast-2",
  "ap-northeast-3",
  "ca-central-1",
  "ca-west-1",
  "eu-central-1",
  "eu-central-2",
  "eu-west-1",
  "eu-west-2",
  "eu-west-3",
  "eu-south-1",
  "eu-south-2",
  "eu-north-1",
  "il-central-1",
  "me-central-1",
  "me-south-1",
  "mx-central-1",
  "sa-east-1",
] as const;
export type AwsRegion = (typeof AWS_REGIONS)[number];

/** Retention periods CloudWatch Logs accepts (`retentionInDays`). */
export const LOG_RETENTION_DAYS = [
  1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653,
] as const;

/** CodeDeploy's predefined Lambda deployment configurations, by the names SAM uses. */
export const DEPLOYMENT_TYPES = [
  "AllAtOnce",
  "Canary10Percent5Minutes",
  "Canary10Percent10Minutes",
  "Canary10Percent15Minutes",
  "Canary10Percent30Minutes",
  "Linear10PercentEvery1Minute",
  "Linear10PercentEvery2Minutes",
  "Linear10PercentEvery3Minutes",
  "Linear10PercentEvery10Minutes",
] as const;
export type DeploymentType = (typeof DEPLOYMENT_TYPES)[number];

/**
 * Lambda Node.js runtimes a stage may use: the ones AWS still supports. nodejs20.x is left out
 * (Node.js 20 is past its end of life, and Lambda deprecates the runtime with it).
 */
export const LAMBDA_RUNTIMES = ["nodejs22.x", "nodejs24.x"] as const;
export type LambdaRuntime = (typeof LAMBDA_RUNTIMES)[number];
export const ARCHITECTURES = ["arm64", "x86_64"] as const;
export const TABLE_ENCRYPTIONS = ["aws-owned", "customer-managed"] as const;
export const API_AUTH_TYPES = ["iam", "apiKey"] as const;

/** API Gateway's hard limit on an integration's duration. */
export const API_GATEWAY_MAX_TIMEOUT_SECONDS = 29;

type FieldKind = "string" | "integer" | "boolean" | "array";

interface Field {
  kind: FieldKind;
  /** What the value must be, as said in error messages ("an integer from 128 to 10240"). */
  allowed: string;
  schema: z.ZodType;
  /** The default, also declared in Pulumi.yaml (a test keeps the two equal). */
  default?: unknown;
}

/** True for a cron expression croner accepts (5 or 6 fields: optional seconds first). */
export function isCronExpression(expression: string): boolean {
  const fields = expression.trim().split(/\s+/);
  if (fields.length < 5 || fields.length > 6) return false;
  try {
    new Cron(expression, { paused: true }).stop();
    return true;
  } catch {
    return false;
  }
}

/** An IAM policy name (IAM's character set, at most 128). */
const POLICY_NAME = /^[\w+=,.@-]{1,128}$/;

const oneOf = (values: readonly (string | number)[]) => `one of ${values.join(", ")}`;
const intRange = (min: number, max: number) => z.number().int().min(min).max(max);

/**
 * Every `platform:*` key: its kind, its schema, what an error says is allowed, and its default.
 * Pulumi.yaml declares the same keys with the same defaults.
 */
export const SETTINGS_FIELDS = {
  app: {
    kind: "string",
    allowed: "1 to 20 lowercase letters, digits or hyphens, starting with a letter",
    schema: z.string().regex(/^[a-z][a-z0-9-]{0,19}$/),
    default: "platform",
  },
  stage: {
    kind: "string",
    allowed: "1 to 10 lowercase letters or digits, starting with a letter",
    schema: z.string().regex(/^[a-z][a-z0-9]{0,9}$/),
  },
  regions: {
    kind: "array",
    allowed: `a non-empty list without repeats of ${oneOf(AWS_REGIONS)}`,
    schema: z
      .array(z.enum(AWS_REGIONS))
      .min(1)
      .refine((list) => new Set(list).size === list.length),
  },
  architecture: {
    kind: "string",
    allowed: oneOf(ARCHITECTURES),
    schema: z.enum(ARCHITECTURES),
    default: "arm64",
  },
  runtime: {
    kind: "string",
    allowed: `${oneOf(LAMBDA_RUNTIMES)} (nodejs20.x and older are past end of life)`,
    schema: z.enum(LAMBDA_RUNTIMES),
    default: "nodejs22.x",
  },
  memoryMb: {
    kind: "integer",
    allowed: "an integer from 128 to 10240",
    schema: intRange(128, 10240),
    default: 256,
  },
  timeoutSeconds: {
    kind: "integer",
    allowed: `an integer from 1 to ${API_GATEWAY_MAX_TIMEOUT_SECONDS} (API Gateway ends an integration after ${API_GATEWAY_MAX_TIMEOUT_SECONDS} s)`,
    schema: intRange(1, API_GATEWAY_MAX_TIMEOUT_SECONDS),
    default: 10,
  },
  logRetentionDays: {
    kind: "integer",
    allowed: oneOf(LOG_RETENTION_DAYS),
    schema: z.number().refine((days) => (LOG_RETENTION_DAYS as readonly number[]).includes(days)),
    default: 14,
  },
  provisionedConcurrency: {
    kind: "integer",
    allowed: "an integer from 0 to 1000",
    schema: intRange(0, 1000),
    default: 0,
  },
  deletionProtection: {
    kind: "boolean",
    allowed: "true or false",
    schema: z.boolean(),
    default: false,
  },
  tableEncryption: {
    kind: "string",
    allowed: oneOf(TABLE_ENCRYPTIONS),
    schema: z.enum(TABLE_ENCRYPTIONS),
    default: "aws-owned",
  },
  throttleRateLimit: {
    kind: "integer",
    allowed: "an integer from 1 to 100000 (requests per second)",
    schema: intRange(1, 100000),
    default: 100,
  },
  throttleBurstLimit: {
    kind: "integer",
    allowed: "an integer from 1 to 100000 (requests)",
    schema: intRange(1, 100000),
    default: 200,
  },
  apiAuth: {
    kind: "string",
    allowed: oneOf(API_AUTH_TYPES),
    schema: z.enum(API_AUTH_TYPES),
    default: "iam",
  },
  deploymentType: {
    kind: "string",
    allowed: oneOf(DEPLOYMENT_TYPES),
    schema: z.enum(DEPLOYMENT_TYPES),
    default: "AllAtOnce",
  },
  manageAccountSettings: {
    kind: "boolean",
    allowed: "true or false",
    schema: z.boolean(),
    default: false,
  },
  rolloutParallelism: {
    kind: "integer",
    allowed: "an integer from 1 to 32",
    schema: intRange(1, 32),
    default: 4,
  },
  driftSchedule: {
    kind: "string",
    allowed:
      'a cron expression of 5 or 6 fields (e.g. "0 */6 * * *": every 6 hours, UTC) when the service checks the stage for drift, or "" for never',
    schema: z.string().refine((value) => value.trim() === "" || isCronExpression(value)),
    default: "",
  },
  monthlyRequests: {
    kind: "integer",
    allowed: "an integer from 0 to 100000000000 (API requests per month, for cost estimates)",
    schema: intRange(0, 100_000_000_000),
    default: 1000000,
  },
  averageDurationMs: {
    kind: "integer",
    allowed: "an integer from 1 to 900000 (average function duration in ms, for cost estimates)",
    schema: intRange(1, 900_000),
    default: 100,
  },
  alarmEmails: {
    kind: "array",
    allowed: "a list of email addresses (each must confirm the SNS subscription)",
    schema: z.array(z.email()),
    default: [],
  },
  lambdaInsights: {
    kind: "boolean",
    allowed: `true or false (true adds the Lambda Insights extension ${LAMBDA_INSIGHTS_VERSION}, the layer of each region and architecture)`,
    schema: z.boolean(),
    default: false,
  },
  manageBudget: {
    kind: "boolean",
    allowed: "true or false (the budget is account-wide: exactly one stack per account may set it)",
    schema: z.boolean(),
    default: false,
  },
  budgetMonthlyUsd: {
    kind: "integer",
    allowed: "an integer from 1 to 1000000 (US dollars per month)",
    schema: intRange(1, 1_000_000),
    default: 100,
  },
  budgetThresholdPercent: {
    kind: "integer",
    allowed: "an integer from 1 to 1000 (percent of the monthly budget that triggers an alert)",
    schema: intRange(1, 1000),
    default: 80,
  },
  roleBoundary: {
    kind: "string",
    allowed: `"" (no boundary), a customer-managed policy name of this account (the pipeline stack's is ${applicationBoundaryName("<app>")}) or a policy ARN (arn:aws:iam::123456789012:policy/name)`,
    schema: z
      .string()
      .refine(
        (value) =>
          value === "" ||
          POLICY_NAME.test(value) ||
          /^arn:aws[a-z-]*:iam::(\d{12}|aws):policy\/([\w+=,.@-]+\/)*[\w+=,.@-]{1,128}$/.test(value),
      ),
    default: "",
  },
} satisfies Record<string, Field>;

export type SettingsKey = keyof typeof SETTINGS_FIELDS;

/** The stage settings of one stack, typed and validated. */
export interface Settings {
  app: string;
  stage: string;
  /** The region this stack deploys to (`aws:region`). */
  region: AwsRegion;
  /** All regions of the stage, the primary first. */
  regions: AwsRegion[];
  primaryRegion: AwsRegion;
  lambda: {
    architecture: (typeof ARCHITECTURES)[number];
    runtime: LambdaRuntime;
    memoryMb: number;
    timeoutSeconds: number;
    provisionedConcurrency: number;
  };
  logRetentionDays: number;
  table: {
    deletionProtection: boolean;
    encryption: (typeof TABLE_ENCRYPTIONS)[number];
  };
  api: {
    auth: (typeof API_AUTH_TYPES)[number];
    throttle: { rateLimit: number; burstLimit: number };
  };
  deployment: { type: DeploymentType };
  manageAccountSettings: boolean;
  rollout: {
    parallelism: number;
    /** When the service checks the stage for drift (cron, UTC); undefined: never. */
    driftSchedule?: string;
  };
  monitoring: {
    alarmEmails: string[];
    /** The Lambda Insights layer of this stack's region and architecture, when platform:lambdaInsights is on. */
    lambdaInsightsLayerArn?: string;
    /** The account's monthly budget, when this stack manages it. */
    budget?: { monthlyLimitUsd: number; thresholdPercent: number };
  };
  /** Traffic assumptions of the stage, for cost estimates. */
  traffic: { monthlyRequests: number; averageDurationMs: number };
  /**
   * The permissions boundary every IAM role of the stack carries (`platform:roleBoundary`): a policy
   * ARN, or a policy name of the deploying account. Undefined (the default): no boundary, so a
   * developer's own stack deploys without the pipeline stack; the stages the pipeline rolls out set
   * the pipeline's `<app>-application-boundary`, since its deploy role creates no role without it.
   */
  roleBoundary?: string;
}

/** Thrown when stack config is invalid; `problems` has one line per bad key. */
export class SettingsError extends Error {
  constructor(
    readonly stack: string,
    readonly problems: string[],
  ) {
    super(`Invalid config for stack "${stack}":\n${problems.map((p) => `  - ${p}`).join("\n")}`);
    this.name = "SettingsError";
  }
}

/** Raw config as Pulumi hands it to a program: strings, with arrays as JSON text. */
export type RawConfig = Partial<Record<SettingsKey, unknown>>;

function coerce(kind: FieldKind, value: unknown): unknown {
  if (typeof value !== "string") return value;
  const text = value.trim();
  switch (kind) {
    case "integer":
      return /^-?\d+(\.\d+)?$/.test(text) ? Number(text) : value;
    case "boolean":
      return text === "true" ? true : text === "false" ? false : value;
    case "array":
      try {
        return JSON.parse(text);
      } catch {
        return value;
      }
    default:
      return value;
  }
}

const show = (value: unknown) => (value === undefined ? "nothing" : JSON.stringify(value));

/**
 * Parses raw config values into Settings. Every bad key is reported at once, each naming the key,
 * what is allowed and what was given.
 */
export function parseSettings(raw: RawConfig, context: { stack: string; region?: string }): Settings {
  const problems: string[] = [];
  const values: Record<string, unknown> = {};
  for (const [key, field] of Object.entries(SETTINGS_FIELDS) as [SettingsKey, Field][]) {
    const given = raw[key];
    const value = coerce(field.kind, given === undefined || given === "" ? field.default : given);
    if (value === undefined) {
      problems.push(`${CONFIG_NAMESPACE}:${key} is required: ${field.allowed}`);
      continue;
    }
    const result = field.schema.safeParse(value);
    if (result.success) values[key] = result.data;
    else problems.push(`${CONFIG_NAMESPACE}:${key} must be ${field.allowed} (got ${show(given)})`);
  }

  const regions = values.regions as AwsRegion[] | undefined;
  const region = (context.region ?? regions?.[0]) as AwsRegion | undefined;
  if (context.region !== undefined && !(AWS_REGIONS as readonly string[]).includes(context.region)) {
    problems.push(`aws:region must be ${oneOf(AWS_REGIONS)} (got ${show(context.region)})`);
  } else if (regions && region && !regions.includes(region)) {
    problems.push(
      `aws:region must be one of the stage's platform:regions ${regions.join(", ")} (got ${show(region)})`,
    );
  }
  if (
    typeof values.throttleBurstLimit === "number" &&
    typeof values.throttleRateLimit === "number" &&
    values.throttleBurstLimit < values.throttleRateLimit
  ) {
    problems.push(
      `${CONFIG_NAMESPACE}:throttleBurstLimit must be at least platform:throttleRateLimit (${values.throttleRateLimit}), got ${values.throttleBurstLimit}`,
    );
  }
  if (values.lambdaInsights === true && regions && typeof values.architecture === "string") {
    const architecture = values.architecture as (typeof ARCHITECTURES)[number];
    const missing = regions.filter((name) => lambdaInsightsLayerArn(name, architecture) === undefined);
    if (missing.length > 0) {
      problems.push(
        `${CONFIG_NAMESPACE}:lambdaInsights is true, but Lambda Insights ${LAMBDA_INSIGHTS_VERSION} has no ${architecture} layer in ${missing.join(", ")}: set it to false, or change platform:architecture or platform:regions (${architecture} layers exist in ${lambdaInsightsRegions(architecture).join(", ")})`,
      );
    }
  }
  if (problems.length > 0 || !regions || !region) throw new SettingsError(context.stack, problems);

  const v = values as {
    [K in SettingsKey]: z.infer<(typeof SETTINGS_FIELDS)[K]["schema"]>;
  };
  return {
    app: v.app,
    stage: v.stage,
    region,
    regions,
    primaryRegion: regions[0],
    lambda: {
      architecture: v.architecture,
      runtime: v.runtime,
      memoryMb: v.memoryMb,
      timeoutSeconds: v.timeoutSeconds,
      provisionedConcurrency: v.provisionedConcurrency,
    },
    logRetentionDays: v.logRetentionDays as number,
    table: { deletionProtection: v.deletionProtection, encryption: v.tableEncryption },
    api: {
      auth: v.apiAuth,
      throttle: { rateLimit: v.throttleRateLimit, burstLimit: v.throttleBurstLimit },
    },
    deployment: { type: v.deploymentType },
    manageAccountSettings: v.manageAccountSettings,
    rollout: {
      parallelism: v.rolloutParallelism,
      driftSchedule: v.driftSchedule.trim() === "" ? undefined : v.driftSchedule.trim(),
    },
    monitoring: {
      alarmEmails: v.alarmEmails,
      lambdaInsightsLayerArn: v.lambdaInsights ? lambdaInsightsLayerArn(region, v.architecture) : undefined,
      // Account-wide: the stage's primary region stack creates it, never its other region stacks.
      budget:
        v.manageBudget && region === regions[0]
          ? { monthlyLimitUsd: v.budgetMonthlyUsd, thresholdPercent: v.budgetThresholdPercent }
          : undefined,
    },
    traffic: { monthlyRequests: v.monthlyRequests, averageDurationMs: v.averageDurationMs },
    roleBoundary: v.roleBoundary === "" ? undefined : v.roleBoundary,
  };
}

/** Reads the current stack's `platform:*` config and `aws:region` and parses them once. */
export function loadSettings(): Settings {
  const config = new pulumi.Config(CONFIG_NAMESPACE);
  const raw: RawConfig = {};
  for (const key of Object.keys(SETTINGS_FIELDS) as SettingsKey[]) raw[key] = config.get(key);
  const region = new pulumi.Config("aws").get("region") ?? process.env.AWS_REGION;
  return parseSettings(raw, { stack: pulumi.getStack(), region });
}
