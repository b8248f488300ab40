import * as fs from "node:fs";
import * as path from "node:path";
import type { EnforcementLevel, Policy } from "@pulumi/policy";

/** Where the pack and its per-stage config files live. */
export const POLICY_DIR = path.resolve(__dirname, "..", "..", "policy");

/** `policy/config.<stage>.json`. */
export function policyConfigPath(stage: string, policyDir = POLICY_DIR): string {
  return path.join(policyDir, `config.${stage}.json`);
}

const LEVELS: readonly string[] = ["advisory", "mandatory", "remediate", "disabled"];

/** A bad policy pack config: `pulumi preview` refuses it too. */
export class PolicyConfigError extends Error {
  constructor(
    readonly source: string,
    readonly problems: string[],
  ) {
    super(`Invalid policy pack config ${source}:\n${problems.map((p) => `  - ${p}`).join("\n")}`);
    this.name = "PolicyConfigError";
  }
}

/** One policy's entry of a config file, as the engine parses it. */
export interface GivenPolicyConfig {
  enforcementLevel?: EnforcementLevel;
  properties?: Record<string, unknown>;
}

/** The config a policy runs with, after defaults and the config file. */
export interface ResolvedPolicyConfig {
  enforcementLevel: EnforcementLevel;
  properties: Record<string, unknown>;
}

/**
 * Parses a policy pack config (`--policy-pack-config` file) the way the engine does: each key is a
 * policy name (or `all`) and its value either an enforcement level or an object with an optional
 * `enforcementLevel` and the policy's config properties.
 */
export function parsePolicyConfig(raw: unknown, source: string): Map<string, GivenPolicyConfig> {
  if (raw === null || typeof raw !== "object" || Array.isArray(raw)) {
    throw new PolicyConfigError(source, ["the config must be a JSON object keyed by policy name"]);
  }
  const problems: string[] = [];
  const given = new Map<string, GivenPolicyConfig>();
  for (const [name, value] of Object.entries(raw)) {
    if (typeof value === "string") {
      if (LEVELS.includes(value)) given.set(name, { enforcementLevel: value as EnforcementLevel });
      else problems.push(`${name}: "${value}" is not an enforcement level (${LEVELS.join(", ")})`);
    } else if (value !== null && typeof value === "object" && !Array.isArray(value)) {
      const { enforcementLevel, ...properties } = value as Record<string, unknown>;
      if (
        enforcementLevel !== undefined &&
        (typeof enforcementLevel !== "string" || !LEVELS.includes(enforcementLevel))
      ) {
        problems.push(
          `${name}: enforcementLevel ${JSON.stringify(enforcementLevel)} is not one of ${LEVELS.join(", ")}`,
        );
        continue;
      }
      given.set(name, {
        enforcementLevel: enforcementLevel as EnforcementLevel | undefined,
        properties: Object.keys(properties).length > 0 ? properties : undefined,
      });
    } else {
      problems.push(`${name}: must be an enforcement level or an object`);
    }
  }
  if (problems.length > 0) throw new PolicyConfigError(source, problems);
  return given;
}

/** Reads `policy/config.<stage>.json`; undefined when the stage has none. */
export function readPolicyConfigFile(file: string): unknown {
  if (!fs.existsSync(file)) return undefined;
  try {
    return JSON.parse(fs.readFileSync(file, "utf8"));
  } catch (error) {
    throw new PolicyConfigError(file, [(error as Error).message]);
  }
}

const clone = <T>(value: T): T => (value === undefined ? value : (JSON.parse(JSON.stringify(value)) as T));

/**
 * The config every policy runs with, reconciled as the engine does before it configures a pack:
 * each policy starts at its own level (or the pack's) with the defaults of its config schema; an
 * `all` level applies to every policy; then each policy's entry sets its level and overrides
 * properties one by one. The result is validated against each policy's schema.
 */
export function reconcilePolicyConfig(
  policies: readonly Policy[],
  packLevel: EnforcementLevel,
  given: Map<string, GivenPolicyConfig>,
  source: string,
  options: { rejectUnknownPolicies?: boolean } = {},
): Map<string, ResolvedPolicyConfig> {
  const result = new Map<string, ResolvedPolicyConfig>();
  for (const policy of policies) {
    const properties: Record<string, unknown> = {};
    for (const [key, schema] of Object.entries(policy.configSchema?.properties ?? {})) {
      if ("default" in schema) properties[key] = clone(schema.default);
    }
    result.set(policy.name, { enforcementLevel: policy.enforcementLevel || packLevel, properties });
  }
  const problems: string[] = [];
  const all = given.get("all");
  if (all?.enforcementLevel) {
    for (const config of result.values()) config.enforcementLevel = all.enforcementLevel;
  }
  for (const [name, entry] of given) {
    if (name === "all") continue;
    const config = result.get(name);
    if (!config) {
      // The engine ignores such an entry; for the whole pack it is almost always a typo, so say so.
      if (options.rejectUnknownPolicies) problems.push(`${name}: no such policy in the pack`);
      continue;
    }
    if (entry.enforcementLevel) config.enforcementLevel = entry.enforcementLevel;
    Object.assign(config.properties, clone(entry.properties ?? {}));
  }
  for (const policy of policies) {
    if (!policy.configSchema) continue;
    const properties = result.get(policy.name)!.properties;
    for (const key of policy.configSchema.required ?? []) {
      if (properties[key] === undefined) problems.push(`${policy.name}: ${key} is required`);
    }
    for (const [key, value] of Object.entries(properties)) {
      const schema = policy.configSchema.properties[key];
      if (schema) problems.push(...validateValue(value, schema as JsonSchema, `${policy.name}: ${key}`));
    }
  }
  if (problems.length > 0) throw new PolicyConfigError(source, problems);
  return result;
}

/** The part of JSON Schema that policy config schemas use. */
interface JsonSchema {
  type?: string | string[];
  enum?: unknown[];
  items?: JsonSchema;
  properties?: Record<string, JsonSchema>;
  required?: string[];
  minimum?: number;
  maximum?: number;
  minItems?: number;
  maxItems?: number;
  minLength?: number;
}

function typeOfValue(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "array";
  if (typeof value === "number") return Number.isInteger(value) ? "integer" : "number";
  return typeof value;
}

function validateValue(value: unknown, schema: JsonSchema, where: string): string[] {
  const actual = typeOfValue(value);
  if (schema.type !== undefined) {
    const types = Array.isArray(schema.type) ? schema.type : [schema.type];
    const matches = types.some((type) => type === actual || (type === "number" && actual === "integer"));
    if (!matches) return [`${where}: expected ${types.join(" or ")}, got ${actual}`];
  }
  const problems: string[] = [];
  if (schema.enum && !schema.enum.some((allowed) => JSON.stringify(allowed) === JSON.stringify(value))) {
    problems.push(`${where}: must be one of ${schema.enum.map((v) => JSON.stringify(v)).join(", ")}`);
  }
  if (typeof value === "number") {
    if (schema.minimum !== undefined && value < schema.minimum)
      problems.push(`${where}: must be >= ${schema.minimum}`);
    if (schema.maximum !== undefined && value > schema.maximum)
      problems.push(`${where}: must be <= ${schema.maximum}`);
  }
  if (typeof value === "string" && schema.minLength !== undefined && value.length < schema.minLength) {
    problems.push(`${where}: must be at least ${schema.minLength} characters`);
  }
  if (Array.isArray(value)) {
    if (schema.minItems !== undefined && value.length < schema.minItems) {
      problems.push(`${where}: must have at least ${schema.minItems} items`);
    }
    if (schema.maxItems !== undefined && value.length > schema.maxItems) {
      problems.push(`${where}: must have at most ${schema.maxItems} items`);
    }
    if (schema.items) {
      value.forEach((item, index) => {
        problems.push(...validateValue(item, schema.items as JsonSchema, `${where}[${index}]`));
      });
    }
  }
  if (actual === "object" && schema.properties) {
    const object = value as Record<string, unknown>;
    for (const key of schema.required ?? []) {
      if (object[key] === undefined) problems.push(`${where}.${key}: is required`);
    }
    for (const [key, child] of Object.entries(schema.properties)) {
      if (object[key] !== undefined) problems.push(...validateValue(object[key], child, `${where}.${key}`));
    }
  }
  return problems;
}
