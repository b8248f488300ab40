import type { BackendKind } from "./backend";
import { EngineUnavailableError } from "./errors";

/**
 * The oldest Pulumi CLI the rollout's revision mark (stack tag `platform:revision`) works with.
 *
 * - Self-managed backends (file://, s3://, ...): stack tags exist since 3.211.0 (before, `pulumi
 *   stack tag` failed on them), and removing a stack's last tag works since 3.249.0 (pulumi/pulumi
 *   #23702; before, `pulumi stack tag rm` of the last tag left it in place, so a failed update kept
 *   claiming the revision it replaced and a resumed rollout skipped the region).
 * - Pulumi Cloud: `pulumi stack tag` (with `ls --json`) predates the Automation API's own minimum,
 *   3.2.0, which the Automation API checks itself.
 *
 * An unknown backend (encrypted credentials) gets the stricter minimum.
 */
export const MIN_CLI_VERSION: Record<BackendKind, string> = {
  diy: "3.249.0",
  unknown: "3.249.0",
  cloud: "3.2.0",
};

const INSTALL =
  "upgrade with `curl -fsSL https://get.pulumi.com | sh` (or your package manager), see https://www.pulumi.com/docs/install/";

function parts(version: string): [number, number, number] | undefined {
  const match = /^v?(\d+)\.(\d+)\.(\d+)/.exec(version.trim());
  return match ? [Number(match[1]), Number(match[2]), Number(match[3])] : undefined;
}

/** -1, 0 or 1 as `a` is older than, the same as or newer than `b` (major.minor.patch; pre-release tags ignored). */
export function compareVersions(a: string, b: string): number {
  const left = parts(a);
  const right = parts(b);
  if (!left || !right) throw new RangeError(`not a version: ${JSON.stringify(left ? b : a)}`);
  for (let index = 0; index < 3; index++) {
    if (left[index] !== right[index]) return left[index] < right[index] ? -1 : 1;
  }
  return 0;
}

/**
 * Throws EngineUnavailableError, naming the minimum and why, when the CLI is older than the
 * backend needs; `undefined` (a dev build without a version) passes.
 */
export function checkCliVersion(version: string | undefined, kind: BackendKind): void {
  if (version === undefined || parts(version) === undefined) return;
  const minimum = MIN_CLI_VERSION[kind];
  if (compareVersions(version, minimum) >= 0) return;
  const where =
    kind === "cloud"
      ? "the Automation API"
      : "the rollout's revision mark (stack tag platform:revision) on a self-managed backend";
  throw new EngineUnavailableError(
    `Pulumi CLI ${version.replace(/^v/, "")} is too old: ${where} needs Pulumi CLI >= ${minimum}; ${INSTALL}`,
  );
}
