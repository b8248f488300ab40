import * as pulumi from "@pulumi/pulumi";
import { z } from "zod";
import type { DeliveryPipelineArgs } from "../components/delivery-pipeline";
import { LOG_RETENTION_DAYS } from "../components/settings";

/** The pipeline project's config namespace (its project name). */
export const PIPELINE_NAMESPACE = "pipeline";

const optionalArn = (service: string) =>
  z.union([z.literal(""), z.string().regex(new RegExp(`^arn:aws[a-z-]*:${service}:`))]).default("");

/** Each `pipeline:*` key, with what it accepts (the message of a bad value names both). */
const SCHEMA = {
  app: [
    z
      .string()
      .regex(/^[a-z][a-z0-9-]{0,19}$/)
      .default("platform"),
    "lowercase letters, digits, hyphens",
  ],
  repository: [z.string().regex(/^[A-Za-z0-9_.-]+\/[A-Za-z0-9_.-]+$/), "a GitHub repository, owner/name"],
  branch: [z.string().min(1).default("main"), "a branch name"],
  connectionArn: [optionalArn("codeconnections|codestar-connections"), "empty or a CodeStar connection ARN"],
  stages: [
    z
      .array(z.string().regex(/^[a-z][a-z0-9-]{0,19}$/))
      .min(1)
      .default(["dev", "prod"]),
    "a list of stage names, e.g. [dev, prod]",
  ],
  backendUrl: [z.string().default(""), "empty or a Pulumi backend URL (s3://bucket, ...)"],
  accessTokenSecretArn: [optionalArn("secretsmanager"), "empty or a Secrets Manager secret ARN"],
  passphraseSecretArn: [optionalArn("secretsmanager"), "empty or a Secrets Manager secret ARN"],
  stateBucketArn: [optionalArn("s3"), "empty or an S3 bucket ARN"],
  logRetentionDays: [
    z
      .number()
      .refine((days) => (LOG_RETENTION_DAYS as readonly number[]).includes(days))
      .default(30),
    `one of ${LOG_RETENTION_DAYS.join(", ")}`,
  ],
} as const;

type Key = keyof typeof SCHEMA;
export type PipelineSettings = { [K in Key]: z.output<(typeof SCHEMA)[K][0]> } & { region: string };

/** Config values are strings; arrays and numbers travel as JSON text. */
function coerce(value: unknown): unknown {
  if (typeof value !== "string") return value;
  const text = value.trim();
  if (/^[[{]/.test(text) || /^-?\d+(\.\d+)?$/.test(text)) {
    try {
      return JSON.parse(text);
    } catch {
      return value;
    }
  }
  return value;
}

/**
 * Parses the pipeline stack's config; every bad value is named with its key and what it accepts.
 * A Pulumi backend is required: the deploy builds need `backendUrl` or an access token.
 */
export function parsePipelineSettings(
  raw: Partial<Record<Key, unknown>>,
  context: { stack: string; region?: string },
): PipelineSettings {
  const problems: string[] = [];
  const parsed: Record<string, unknown> = {};
  for (const [key, [schema, allowed]] of Object.entries(SCHEMA) as [Key, (typeof SCHEMA)[Key]][]) {
    const value = raw[key] === undefined ? undefined : coerce(raw[key]);
    const result = (schema as z.ZodType).safeParse(value);
    if (result.success) parsed[key] = result.data;
    else
      problems.push(
        `${PIPELINE_NAMESPACE}:${key} must be ${allowed} (got ${value === undefined ? "nothing" : JSON.stringify(value)})`,
      );
  }
  if (problems.length === 0 && parsed.backendUrl === "" && parsed.accessTokenSecretArn === "") {
    problems.push(
      `${PIPELINE_NAMESPACE}:backendUrl or ${PIPELINE_NAMESPACE}:accessTokenSecretArn must be set: the deploy builds need the Pulumi backend the stacks live in`,
    );
  }
  if (!context.region) problems.push("aws:region must be set");
  if (problems.length > 0) {
    throw new Error(
      `Invalid config for stack "${context.stack}":\n${problems.map((p) => `  - ${p}`).join("\n")}`,
    );
  }
  return { ...(parsed as Omit<PipelineSettings, "region">), region: context.region! };
}

/** The settings of the running stack (`pipeline:*` and `aws:region`). */
export function loadPipelineSettings(): PipelineSettings {
  const config = new pulumi.Config(PIPELINE_NAMESPACE);
  const raw: Partial<Record<Key, unknown>> = {};
  for (const key of Object.keys(SCHEMA) as Key[]) raw[key] = config.get(key);
  const region = new pulumi.Config("aws").get("region") ?? process.env.AWS_REGION;
  return parsePipelineSettings(raw, { stack: pulumi.getStack(), region });
}

/** The component's args from the settings. */
export function pipelineArgs(settings: PipelineSettings): DeliveryPipelineArgs {
  const secrets: Record<string, string> = {};
  if (settings.accessTokenSecretArn) secrets.PULUMI_ACCESS_TOKEN = settings.accessTokenSecretArn;
  if (settings.passphraseSecretArn) secrets.PULUMI_CONFIG_PASSPHRASE = settings.passphraseSecretArn;
  return {
    naming: { app: settings.app, stage: pulumi.getStack(), region: settings.region },
    repository: settings.repository,
    branch: settings.branch,
    connectionArn: settings.connectionArn || undefined,
    stages: settings.stages,
    deployEnvironment: settings.backendUrl ? { PULUMI_BACKEND_URL: settings.backendUrl } : {},
    deploySecrets: secrets,
    stateBucketArn: settings.stateBucketArn || undefined,
    logRetentionDays: settings.logRetentionDays,
  };
}
