import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { parse as parseYaml } from "yaml";

/** The Pulumi Cloud URL the CLI uses when nothing else names a backend. */
export const PULUMI_CLOUD_URL = "https://api.pulumi.com";

/** The project's own local backend (`PLATFORM_LOCAL_BACKEND=1`): `file://<project>/.pulumi-state`. */
export const STATE_DIR_NAME = ".pulumi-state";

/**
 * The passphrase of the project's local backend's secrets provider. It protects nothing: it exists
 * so that an explicitly local backend needs no setup. It is never used for any other backend.
 */
export const DEFAULT_LOCAL_PASSPHRASE = "platform-local-only-not-a-secret";

/**
 * Where the backend URL came from, in the order the Pulumi CLI looks (pkg/workspace/creds.go
 * GetCurrentCloudURLWithSource): `PULUMI_BACKEND_URL`, the project's `backend.url`, then the
 * `current` entry of the credentials file `pulumi login` writes. `option` is an engine option,
 * `local` the PLATFORM_LOCAL_BACKEND opt-in, `default` nothing at all (the CLI then uses Pulumi Cloud
 * and needs a login), `unreadable` a credentials file this code cannot read (encrypted by a newer CLI).
 */
export type BackendSource = "option" | "local" | "env" | "project" | "credentials" | "default" | "unreadable";

/** `cloud`: Pulumi Cloud (or a self-hosted service, https://); `diy`: file://, s3://, azblob://, gs://, postgres://. */
export type BackendKind = "cloud" | "diy" | "unknown";

export interface BackendInfo {
  /** The backend's URL; undefined when only the CLI knows it (unreadable credentials). */
  url?: string;
  source: BackendSource;
  kind: BackendKind;
  /**
   * Set only when the engine must pass the URL to the CLI itself (an engine option or the local
   * opt-in); otherwise the CLI resolves the same URL on its own, exactly as `pulumi up` does.
   */
  override?: string;
  /** True for the project's own local backend: the only one that gets DEFAULT_LOCAL_PASSPHRASE. */
  localProjectBackend: boolean;
  /** One line for people: `file:///srv/app/.pulumi-state (PULUMI_BACKEND_URL)`. */
  description: string;
}

export interface ResolveBackendOptions {
  projectDir: string;
  /** The environment (PULUMI_BACKEND_URL, PULUMI_HOME, PULUMI_CREDENTIALS_PATH, PLATFORM_LOCAL_BACKEND, HOME). */
  env: NodeJS.ProcessEnv;
  /** An explicit URL (engine option), which wins over everything. */
  backendUrl?: string;
  /** Use the project's local backend (`file://<project>/.pulumi-state`). @default env PLATFORM_LOCAL_BACKEND */
  local?: boolean;
}

const SOURCE_TEXT: Record<BackendSource, string> = {
  option: "set by the caller",
  local: "the project's local backend, PLATFORM_LOCAL_BACKEND",
  env: "PULUMI_BACKEND_URL",
  project: "backend.url in Pulumi.yaml",
  credentials: "the backend `pulumi login` selected",
  default: "not logged in: the Pulumi CLI's default, `pulumi login` first",
  unreadable:
    "the backend `pulumi login` selected; its credentials file is encrypted, `pulumi whoami -v` shows it",
};

/** Whether an environment flag is on (`1`, `true`, `yes`). */
export function envFlag(value: string | undefined): boolean {
  return value !== undefined && /^(1|true|yes|on)$/i.test(value.trim());
}

export function backendKind(url: string | undefined): BackendKind {
  if (url === undefined) return "unknown";
  return /^https?:\/\//i.test(url) ? "cloud" : "diy";
}

/** The directory of the Pulumi CLI's credentials.json (PULUMI_CREDENTIALS_PATH, else PULUMI_HOME, else ~/.pulumi). */
export function credentialsFile(env: NodeJS.ProcessEnv): string {
  const dir =
    env.PULUMI_CREDENTIALS_PATH ||
    env.PULUMI_HOME ||
    path.join(env.HOME || env.USERPROFILE || os.homedir(), ".pulumi");
  return path.join(dir, "credentials.json");
}

/**
 * The `current` backend of the credentials file (`{"current": "...", "accessTokens": {...}}`),
 * `null` when there is none, or "unreadable" when the file is not plain JSON (newer CLIs can keep
 * it encrypted).
 */
function currentLogin(env: NodeJS.ProcessEnv): string | null | "unreadable" {
  let text: string;
  try {
    text = fs.readFileSync(credentialsFile(env), "utf8");
  } catch {
    return null;
  }
  if (text.trim() === "") return null;
  try {
    const current = (JSON.parse(text) as { current?: unknown }).current;
    return typeof current === "string" && current !== "" ? current : null;
  } catch {
    return "unreadable";
  }
}

function projectBackendUrl(projectDir: string): string | undefined {
  try {
    const project = parseYaml(fs.readFileSync(path.join(projectDir, "Pulumi.yaml"), "utf8")) as {
      backend?: { url?: unknown };
    };
    const url = project?.backend?.url;
    return typeof url === "string" && url !== "" ? url : undefined;
  } catch {
    return undefined;
  }
}

/** Whether a file:// URL points inside the project (the project's own state, git-ignored). */
function insideProject(url: string, projectDir: string): boolean {
  if (!url.startsWith("file://")) return false;
  const target = path.resolve(url.slice("file://".length).replace(/^~(?=\/|$)/, os.homedir()));
  const relative = path.relative(path.resolve(projectDir), target);
  return relative === "" || (!relative.startsWith("..") && !path.isAbsolute(relative));
}

/**
 * The backend the Pulumi engine uses, resolved without the CLI the way the CLI resolves it, so
 * that a rollout sees the stacks `pulumi up` sees: an engine option, the local opt-in, then the
 * CLI's own order. Only an option or the opt-in is passed to the CLI (`override`); every other
 * source is left for the CLI to find, so that both can never disagree.
 */
export function resolveBackend(options: ResolveBackendOptions): BackendInfo {
  const { env, projectDir } = options;
  const localUrl = `file://${path.join(path.resolve(projectDir), STATE_DIR_NAME)}`;
  let url: string | undefined;
  let source: BackendSource;
  let override: string | undefined;
  if (options.backendUrl !== undefined) {
    url = override = options.backendUrl;
    source = "option";
  } else if (options.local ?? envFlag(env.PLATFORM_LOCAL_BACKEND)) {
    url = override = localUrl;
    source = "local";
  } else if (env.PULUMI_BACKEND_URL) {
    url = env.PULUMI_BACKEND_URL;
    source = "env";
  } else if (projectBackendUrl(projectDir)) {
    url = projectBackendUrl(projectDir);
    source = "project";
  } else {
    const login = currentLogin(env);
    if (login === "unreadable") source = "unreadable";
    else if (login === null) {
      url = PULUMI_CLOUD_URL;
      source = "default";
    } else {
      url = login;
      source = "credentials";
    }
  }
  const localProjectBackend = url !== undefined && insideProject(url, projectDir);
  const kind = backendKind(url);
  const name = url ?? "the Pulumi CLI's current login";
  const label = kind === "cloud" ? "Pulumi Cloud " : kind === "diy" ? "self-managed " : "";
  return {
    url,
    source,
    kind,
    override,
    localProjectBackend,
    description: `${label}${name} (${SOURCE_TEXT[source]})`,
  };
}
