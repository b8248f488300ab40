import * as fs from "node:fs";
import * as path from "node:path";
import { parse as parseYaml, stringify as stringifyYaml } from "yaml";
import { MissingRegionStackFileError, SECRETS_KEYS } from "../plan/stack-config";
import type { StackRef } from "./types";

type YamlDocument = Record<string, unknown> & { config?: Record<string, unknown> };

function readYaml(file: string): YamlDocument | undefined {
  if (!fs.existsSync(file)) return undefined;
  return (parseYaml(fs.readFileSync(file, "utf8")) ?? {}) as YamlDocument;
}

/** The project's own file of a stack: the stage's for its primary stack, the synced region file otherwise. */
function projectStackFile(projectDir: string, stack: StackRef): string {
  const file = ["yaml", "yml"]
    .map((ext) => path.join(projectDir, `Pulumi.${stack.stackName}.${ext}`))
    .find(fs.existsSync);
  if (file) return file;
  if (stack.stackName !== stack.stage) throw new MissingRegionStackFileError(stack.stackName, stack.stage);
  throw new Error(`stage "${stack.stage}" has no stack file Pulumi.${stack.stage}.yaml in ${projectDir}`);
}

/**
 * The runtime with its `tsconfig` option made absolute: Pulumi's Node.js host resolves it from the
 * directory the CLI runs in, which for a stack's work directory is not the project.
 */
function absoluteTsconfig(runtime: unknown, projectDir: string): unknown {
  if (!runtime || typeof runtime !== "object") return runtime;
  const { options, ...rest } = runtime as { options?: Record<string, unknown> };
  if (!options || typeof options.tsconfig !== "string") return runtime;
  return { ...rest, options: { ...options, tsconfig: path.resolve(projectDir, options.tsconfig) } };
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
 * - `Pulumi.<stackName>.yaml`: the project's own file of that stack, the one `pulumi up -s
 *   <stackName>` reads (the stage's file for the primary region, the file `platform stacks sync`
 *   wrote for the others), as written (`secure:` values stay encrypted), plus `extraConfig`. When
 *   it has no secrets provider settings, those the CLI wrote here when it created the stack are
 *   kept (and copied back by persistSecretsSettings).
 *
 * One directory per stack keeps parallel region stacks from racing on workspace files (the
 * Automation API writes `Pulumi.<stack>.yaml` into its work directory).
 *
 * @throws MissingRegionStackFileError for a region stack whose file was never synced
 */
export function prepareStackWorkspace(
  projectDir: string,
  workspacesDir: string,
  stack: StackRef,
  extraConfig: Record<string, string> = {},
): string {
  const source = projectStackFile(projectDir, stack);
  const dir = path.join(workspacesDir, stack.stackName);
  fs.mkdirSync(dir, { recursive: true });

  const project = readYaml(path.join(projectDir, "Pulumi.yaml"));
  if (!project) throw new Error(`no Pulumi.yaml in ${projectDir}`);
  const projectText = stringifyYaml({
    ...project,
    main: path.resolve(projectDir),
    runtime: absoluteTsconfig(project.runtime, projectDir),
  });
  writeIfChanged(path.join(dir, "Pulumi.yaml"), projectText);

  const stackDoc = readYaml(source) ?? {};
  const stackFile = path.join(dir, `Pulumi.${stack.stackName}.yaml`);
  const previous = readYaml(stackFile) ?? {};
  const document: YamlDocument = {};
  const hasSecretsProvider = SECRETS_KEYS.some((key) => stackDoc[key] !== undefined);
  for (const key of SECRETS_KEYS) {
    const value = hasSecretsProvider ? stackDoc[key] : previous[key];
    if (value !== undefined) document[key] = value;
  }
  for (const [key, value] of Object.entries(stackDoc)) {
    if (key !== "config" && !(SECRETS_KEYS as readonly string[]).includes(key)) document[key] = value;
  }
  document.config = { ...stackDoc.config, ...extraConfig };
  const header = `# Copied from ${path.basename(source)} by automation/engine/workspace.ts: edit that file instead.\n`;
  writeIfChanged(stackFile, header + stringifyYaml(document));
  return dir;
}

/**
 * After the engine created a stack, copies the secrets provider settings the CLI wrote into the
 * work directory's stack file (`encryptionsalt`, `encryptedkey`, `secretsprovider`) to the
 * project's file of the stack when it has none, as `pulumi stack init` in the project would have:
 * without them `pulumi up -s <stack>` could not decrypt the stack's secrets. Appended as lines, so
 * that the file's comments stay.
 */
export function persistSecretsSettings(projectDir: string, workDir: string, stack: StackRef): void {
  const source = projectStackFile(projectDir, stack);
  const projectDoc = readYaml(source) ?? {};
  if (SECRETS_KEYS.some((key) => projectDoc[key] !== undefined)) return;
  const written = readYaml(path.join(workDir, `Pulumi.${stack.stackName}.yaml`)) ?? {};
  const settings = Object.fromEntries(
    SECRETS_KEYS.filter((key) => written[key] !== undefined).map((key) => [key, written[key]]),
  );
  if (Object.keys(settings).length === 0) return;
  const text = fs.readFileSync(source, "utf8");
  fs.writeFileSync(
    source,
    `${text}${text.endsWith("\n") || text === "" ? "" : "\n"}${stringifyYaml(settings)}`,
  );
}

/** The `secretsprovider` of a stack file in a work directory (awskms://..., passphrase, ...). */
export function stackSecretsProvider(workDir: string, stackName: string): string | undefined {
  try {
    const document = parseYaml(fs.readFileSync(path.join(workDir, `Pulumi.${stackName}.yaml`), "utf8")) as {
      secretsprovider?: unknown;
    };
    return typeof document?.secretsprovider === "string" ? document.secretsprovider : undefined;
  } catch {
    return undefined;
  }
}
