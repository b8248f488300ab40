/**
 * How long finished jobs (and their events) are kept: `PLATFORM_JOB_RETENTION`, a comma-separated
 * list of limits, each an age (`30d`, `12h`, `90m`) or a count (`10000`): a finished job is pruned
 * once it is older than the age OR beyond the newest `count` finished jobs. `off` keeps everything.
 */
export interface RetentionPolicy {
  /** Finished jobs created longer ago than this are pruned. */
  maxAgeMs?: number;
  /** Only the newest this many finished jobs are kept. */
  maxCount?: number;
}

/** `30d,10000`: 30 days or 10,000 finished jobs, whichever prunes first. */
export const DEFAULT_RETENTION = "30d,10000";

const UNITS: Record<string, number> = { m: 60_000, h: 3_600_000, d: 86_400_000 };

/** The problem with a retention value, naming the variable and the format; undefined when valid. */
function retentionProblem(text: string, name: string): string {
  return `${name} must be "off" or a comma-separated list of an age (<n>d, <n>h or <n>m) and/or a count of finished jobs (<n>), e.g. "${DEFAULT_RETENTION}" (got ${JSON.stringify(text)})`;
}

/**
 * Parses a retention value (see RetentionPolicy).
 *
 * @throws RangeError naming `name` and the format when the value is not one.
 */
export function parseRetention(text: string, name = "PLATFORM_JOB_RETENTION"): RetentionPolicy {
  const value = text.trim().toLowerCase();
  if (value === "off") return {};
  const policy: RetentionPolicy = {};
  const parts = value.split(",").map((part) => part.trim());
  for (const part of parts) {
    const age = /^([1-9]\d{0,5})([mhd])$/.exec(part);
    const count = /^[1-9]\d{0,8}$/.exec(part);
    if (age && policy.maxAgeMs === undefined) policy.maxAgeMs = Number(age[1]) * UNITS[age[2]];
    else if (count && policy.maxCount === undefined) policy.maxCount = Number(part);
    else throw new RangeError(retentionProblem(text, name));
  }
  return policy;
}

/** The policy in the words of the value it came from (`30d, 10000 jobs`), for the start banner. */
export function describeRetention(policy: RetentionPolicy): string {
  const parts: string[] = [];
  if (policy.maxAgeMs !== undefined) {
    const days = policy.maxAgeMs / UNITS.d;
    const hours = policy.maxAgeMs / UNITS.h;
    parts.push(
      Number.isInteger(days)
        ? `${days} day(s)`
        : Number.isInteger(hours)
          ? `${hours} hour(s)`
          : `${policy.maxAgeMs / UNITS.m} minute(s)`,
    );
  }
  if (policy.maxCount !== undefined) parts.push(`${policy.maxCount} finished job(s)`);
  return parts.length > 0 ? parts.join(" or ") : "kept forever";
}
