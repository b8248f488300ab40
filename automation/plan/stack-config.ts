import * as fs from "node:fs";
import * as path from "node:path";
import { parse as parseYaml, stringify as stringifyYaml } from "yaml";

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

/** A region stack has a stack file, written from its stage's by `platform stacks sync`; this one has none. */
export class MissingRegionStackFileError extends Error {
  constructor(
    readonly stack: string,
    readonly stage: string,
  ) {
    super(
      `no Pulumi.${stack}.yaml: region stack ${stack} of stage ${stage} needs its stack file; run \`platform stacks sync\` (it writes Pulumi.${stack}.yaml from Pulumi.${stage}.yaml with aws:region set) and commit it`,
    );
    this.name = "MissingRegionStackFileError";
  }
}

interface ProjectFile {
  name: string;
  config?: Record<string, { default?: unknown; value?: unknown } | unknown>;
}

const REGION_STACK = /^(.+?)-([a-z]{2}(?:-[a-z]+)+-\d)$/;

/** `{stage, region}` when `stack` is `<stage>-<region>` of a stage with a stack file; else undefined. */
export function regionStackOf(
  projectDir: string,
  stack: string,
): { stage: string; region: string } | undefined {
  const match = REGION_STACK.exec(stack);
  if (!match || !stackFile(projectDir, match[1])) return undefined;
  return { stage: match[1], region: match[2] };
}

/** The stages: stacks with a file of their own that are not a region stack of another stage. */
export function listStages(projectDir: string): string[] {
  return listStacks(projectDir).filter((stack) => regionStackOf(projectDir, stack) === undefined);
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
 * Reads a stack's config as the Pulumi CLI does: the project's declared defaults, then
 * `Pulumi.<stack>.yaml`. A region stack `<stage>-<region>` reads its own file (written by
 * `platform stacks sync`), exactly as `pulumi up -s <stage>-<region>` does.
 *
 * @throws UnknownStackError (no such stack), MissingRegionStackFileError (a region stack not synced)
 */
export function readStackConfig(projectDir: string, stack: string): StackConfig {
  const project = readYaml<ProjectFile>(path.join(projectDir, "Pulumi.yaml"));
  const file = stackFile(projectDir, stack);
  const region = regionStackOf(projectDir, stack);
  const stage = region?.stage ?? stack;
  if (!file) {
    if (region) throw new MissingRegionStackFileError(stack, region.stage);
    throw new UnknownStackError(stack, listStacks(projectDir));
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
  return { project: project.name, stack, stage, config, secretKeys, region: config["aws:region"] };
}

/** Keys of a stack file that belong to its secrets provider (kept when a region file is rewritten). */
export const SECRETS_KEYS = ["secretsprovider", "encryptedkey", "encryptionsalt"] as const;

type StackDocument = Record<string, unknown> & { config?: Record<string, unknown> };

/** A region stack's file as `platform stacks sync` writes it. */
export interface RegionStackFile {
  stack: string;
  stage: string;
  region: string;
  file: string;
  /** The file's text: a header naming its source, then the stage's settings with aws:region set. */
  text: string;
}

/** The first line of every generated region stack file. */
export function regionFileHeader(stage: string): string {
  return `# Generated by \`platform stacks sync\` from Pulumi.${stage}.yaml (aws:region set): edit that file and run the command again.\n`;
}

/**
 * The region stack files of a stage: one per region of `platform:regions` after the first (the
 * first is the stage's own stack). Each is the stage's file with `aws:region` set; its secrets
 * provider settings are the stage file's, or else those already in the region's file (the CLI
 * writes `encryptionsalt` there when it creates the stack).
 */
export function regionStackFiles(projectDir: string, stage: string): RegionStackFile[] {
  const source = stackFile(projectDir, stage);
  if (!source) throw new UnknownStackError(stage, listStacks(projectDir));
  const stageDoc = readYaml<StackDocument>(source);
  const regions = stageDoc.config?.["platform:regions"];
  if (regions === undefined) return [];
  if (!Array.isArray(regions) || !regions.every((region) => typeof region === "string")) {
    throw new Error(
      `platform:regions in Pulumi.${stage}.yaml must be a list of AWS regions (got ${JSON.stringify(regions)})`,
    );
  }
  const stageHasSecrets = SECRETS_KEYS.some((key) => stageDoc[key] !== undefined);
  return (regions as string[]).slice(1).map((region) => {
    const stack = `${stage}-${region}`;
    const file = path.join(projectDir, `Pulumi.${stack}.yaml`);
    const previous = fs.existsSync(file) ? readYaml<StackDocument>(file) : {};
    const document: StackDocument = {};
    for (const key of SECRETS_KEYS) {
      const value = stageHasSecrets ? stageDoc[key] : previous[key];
      if (value !== undefined) document[key] = value;
    }
    for (const [key, value] of Object.entries(stageDoc)) {
      if (key !== "config" && !(SECRETS_KEYS as readonly string[]).includes(key)) document[key] = value;
    }
    document.config = { ...stageDoc.config, "aws:region": region };
    return { stack, stage, region, file, text: regionFileHeader(stage) + stringifyYaml(document) };
  });
}

/** A region stack file that is not what `platform stacks sync` would write. */
export interface StaleRegionFile {
  stack: string;
  file: string;
  problem: "missing" | "differs" | "orphan";
}

/** Every stage's region files that are missing or differ from their stage's file, and generated files of regions no stage has. */
export function staleRegionStackFiles(projectDir: string): StaleRegionFile[] {
  const stale: StaleRegionFile[] = [];
  const expected = new Set<string>();
  for (const stage of listStages(projectDir)) {
    for (const region of regionStackFiles(projectDir, stage)) {
      expected.add(region.stack);
      if (!fs.existsSync(region.file))
        stale.push({ stack: region.stack, file: region.file, problem: "missing" });
      else if (fs.readFileSync(region.file, "utf8") !== region.text)
        stale.push({ stack: region.stack, file: region.file, problem: "differs" });
    }
  }
  for (const stack of listStacks(projectDir)) {
    const file = stackFile(projectDir, stack)!;
    if (
      !expected.has(stack) &&
      fs.readFileSync(file, "utf8").startsWith("# Generated by `platform stacks sync`")
    )
      stale.push({ stack, file, problem: "orphan" });
  }
  return stale;
}

/** Writes every stage's region stack files that changed; returns the stacks written. */
export function syncRegionStackFiles(projectDir: string): string[] {
  const written: string[] = [];
  for (const stage of listStages(projectDir)) {
    for (const region of regionStackFiles(projectDir, stage)) {
      if (fs.existsSync(region.file) && fs.readFileSync(region.file, "utf8") === region.text) continue;
      fs.writeFileSync(region.file, region.text);
      written.push(region.stack);
    }
  }
  return written;
}
