import * as fs from "node:fs";
import * as path from "node:path";
import { parse as parseYaml, stringify as stringifyYaml } from "yaml";
import type { StackRef } from "./types";

/** Keys of a stack file that belong to its secrets provider (kept across regenerations). */
const SECRETS_KEYS = ["secretsprovider", "encryptedkey", "encryptionsalt"] as const;

type YamlDocument = Record<string, unknown> & { config?: Record<string, unknown> };

function readYaml(file: string): YamlDocument | undefined {
  if (!fs.existsSync(file)) return undefined;
  return (parseYaml(fs.readFileSync(file, "utf8")) ?? {}) as YamlDocument;
}

function stageFile(projectDir: string, stage: string): string {
  const file = ["yaml", "yml"]
    .map((ext) => path.join(projectDir, `Pulumi.${stage}.${ext}`))
    .find(fs.existsSync);
  if (!file) throw new Error(`stage "${stage}" has no stack file Pulumi.${stage}.yaml in ${projectDir}`);
  return file;
}

function writeIfChanged(file: string, text: string): void {
  if (fs.existsSync(file) && fs.readFileSync(file, "utf8") === text) return;
  fs.writeFileSync(file, text);
}

/**
 * Prepares the work directory of one stack and returns it: `<workspacesDir>/<stackName>/` with
 *
 * - `Pulumi.yaml`: the project file with `main` set to the project directory (absolute), so that
 *   the program runs from the project exactly as `pulumi up` in the project would;
 * - `Pulumi.<stackName>.yaml`: the stage's stack file (its config as written: arrays stay arrays,
 *   `secure:` values stay encrypted) with `aws:region` set to the stack's region, plus
 *   `extraConfig`. When the stage file has no secrets provider settings, those the CLI wrote
 *   when it created the stack (`encryptionsalt`, ...) are kept.
 *
 * One directory per stack keeps parallel region stacks from racing on workspace files (the
 * Automation API writes `Pulumi.<stack>.yaml` into its work directory) and never rewrites the
 * project's own stack files.
 */
export function prepareStackWorkspace(
  projectDir: string,
  workspacesDir: string,
  stack: StackRef,
  extraConfig: Record<string, string> = {},
): string {
  const dir = path.join(workspacesDir, stack.stackName);
  fs.mkdirSync(dir, { recursive: true });

  const project = readYaml(path.join(projectDir, "Pulumi.yaml"));
  if (!project) throw new Error(`no Pulumi.yaml in ${projectDir}`);
  const projectText = stringifyYaml({ ...project, main: path.resolve(projectDir) });
  writeIfChanged(path.join(dir, "Pulumi.yaml"), projectText);

  const stageDoc = readYaml(stageFile(projectDir, stack.stage)) ?? {};
  const stackFile = path.join(dir, `Pulumi.${stack.stackName}.yaml`);
  const previous = readYaml(stackFile) ?? {};
  const document: YamlDocument = {};
  const stageHasSecretsProvider = SECRETS_KEYS.some((key) => stageDoc[key] !== undefined);
  for (const key of SECRETS_KEYS) {
    const value = stageHasSecretsProvider ? stageDoc[key] : previous[key];
    if (value !== undefined) document[key] = value;
  }
  for (const [key, value] of Object.entries(stageDoc)) {
    if (key !== "config" && !(SECRETS_KEYS as readonly string[]).includes(key)) document[key] = value;
  }
  document.config = { ...stageDoc.config, "aws:region": stack.region, ...extraConfig };
  const header = `# Generated from Pulumi.${stack.stage}.yaml by automation/engine/workspace.ts: edit that file instead.\n`;
  writeIfChanged(stackFile, header + stringifyYaml(document));
  return dir;
}
