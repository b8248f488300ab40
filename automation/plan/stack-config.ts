import * as fs from "node:fs";
import * as path from "node:path";
import { parse as parseYaml } from "yaml";

/** A stack's config as the engine hands it to the program: `namespace:key` -> string. */
export interface StackConfig {
  project: string;
  stack: string;
  /** The stage whose stack file the config comes from (`prod` for `prod-eu-west-1`). */
  stage: string;
  config: Record<string, string>;
  /** Keys whose values are `secure:` in the stack file (their values are `[secret]` offline). */
  secretKeys: string[];
  /** `aws:region` of the stack. */
  region?: string;
}

/** The placeholder for a `secure:` config value, which cannot be decrypted offline. */
export const SECRET_PLACEHOLDER = "[secret]";

export class UnknownStackError extends Error {
  constructor(
    readonly stack: string,
    readonly available: string[],
  ) {
    super(
      `Unknown stack "${stack}": no Pulumi.${stack}.yaml. Stacks: ${available.join(", ") || "none"} (a region stack is <stage>-<region>, e.g. prod-eu-west-1)`,
    );
    this.name = "UnknownStackError";
  }
}

interface ProjectFile {
  name: string;
  config?: Record<string, { default?: unknown; value?: unknown } | unknown>;
}

/** The stacks that have a stack file in the project directory. */
export function listStacks(projectDir: string): string[] {
  return fs
    .readdirSync(projectDir)
    .map((file) => /^Pulumi\.(.+)\.ya?ml$/.exec(file)?.[1])
    .filter((stack): stack is string => stack !== undefined)
    .sort();
}

function readYaml<T>(file: string): T {
  return (parseYaml(fs.readFileSync(file, "utf8")) ?? {}) as T;
}

function stackFile(projectDir: string, stack: string): string | undefined {
  return ["yaml", "yml"].map((ext) => path.join(projectDir, `Pulumi.${stack}.${ext}`)).find(fs.existsSync);
}

/** Config values are strings; arrays and objects travel as JSON text, as the engine sends them. */
function toConfigString(value: unknown): string {
  return typeof value === "string" ? value : JSON.stringify(value);
}

function isSecure(value: unknown): value is { secure: string } {
  return typeof value === "object" && value !== null && "secure" in value;
}

/**
 * Reads a stack's config: the project's declared defaults, then `Pulumi.<stack>.yaml`. A region
 * stack `<stage>-<region>` without a file of its own takes its stage's file plus `aws:region`, as
 * the multi-region rollout creates it.
 */
export function readStackConfig(projectDir: string, stack: string): StackConfig {
  const project = readYaml<ProjectFile>(path.join(projectDir, "Pulumi.yaml"));
  let file = stackFile(projectDir, stack);
  let stage = stack;
  let regionOverride: string | undefined;
  if (!file) {
    const match = /^(.+?)-([a-z]{2}(?:-[a-z]+)+-\d)$/.exec(stack);
    const stageFile = match ? stackFile(projectDir, match[1]) : undefined;
    if (!match || !stageFile) throw new UnknownStackError(stack, listStacks(projectDir));
    file = stageFile;
    stage = match[1];
    regionOverride = match[2];
  }

  const config: Record<string, string> = {};
  const secretKeys: string[] = [];
  for (const [key, spec] of Object.entries(project.config ?? {})) {
    const fullKey = key.includes(":") ? key : `${project.name}:${key}`;
    if (typeof spec === "object" && spec !== null && ("default" in spec || "value" in spec)) {
      const value = "value" in spec ? spec.value : spec.default;
      if (value !== undefined) config[fullKey] = toConfigString(value);
    } else if (typeof spec !== "object") {
      config[fullKey] = toConfigString(spec);
    }
  }
  const stackSettings = readYaml<{ config?: Record<string, unknown> }>(file);
  for (const [key, value] of Object.entries(stackSettings.config ?? {})) {
    const fullKey = key.includes(":") ? key : `${project.name}:${key}`;
    if (isSecure(value)) {
      config[fullKey] = SECRET_PLACEHOLDER;
      secretKeys.push(fullKey);
    } else {
      config[fullKey] = toConfigString(value);
    }
  }
  if (regionOverride) config["aws:region"] = regionOverride;
  return { project: project.name, stack, stage, config, secretKeys, region: config["aws:region"] };
}
