import { createHash } from "node:crypto";

/** What a physical name is made of: the application, the stage and the region of the stack. */
export interface NamingContext {
  app: string;
  stage: string;
  region: string;
}

export interface PhysicalNameOptions {
  /** The AWS limit on this kind of name. @default 64 */
  maxLength?: number;
  /**
   * The name is account-global (IAM roles and policies, CloudWatch dashboards): the region is
   * appended so that the region stacks of one stage never collide. @default false
   */
  global?: boolean;
  /** Separator between parts; some services disallow hyphens in places. @default "-" */
  separator?: string;
}

const HASH_LENGTH = 7;

/** A short, stable hash of a name, used when a name must be truncated. */
export function shortHash(text: string): string {
  return createHash("sha256").update(text).digest("hex").slice(0, HASH_LENGTH);
}

/**
 * The one place physical names are made: `app-stage-name` (plus `-region` for account-global
 * names), truncated to the AWS limit with a short hash of the full name so that truncated names
 * stay unique and stable.
 *
 * @example physicalName({ app: "platform", stage: "prod", region: "eu-west-1" }, "users-list-role", { global: true })
 *   // "platform-prod-users-list-role-eu-west-1"
 */
export function physicalName(
  context: NamingContext,
  name: string,
  options: PhysicalNameOptions = {},
): string {
  const maxLength = options.maxLength ?? 64;
  const separator = options.separator ?? "-";
  const parts = [context.app, context.stage, name];
  if (options.global) parts.push(context.region);
  const full = parts.join(separator);
  if (full.length <= maxLength) return full;
  const hash = shortHash(full);
  const head = full.slice(0, maxLength - HASH_LENGTH - separator.length).replace(/[-_.]+$/, "");
  return `${head}${separator}${hash}`;
}
