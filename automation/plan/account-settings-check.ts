/**
 * One manager of API Gateway's account settings per account and region.
 *
 * `platform:manageAccountSettings: true` makes each region stack of a stage create the account's
 * API Gateway CloudWatch role and settings in its region. Those are account-and-region singletons:
 * when two stages manage the same region, destroying one breaks the other's API logging. Pulumi
 * cannot see this (each stack is fine alone), so the plan of a stack reads the project's other
 * stack files and refuses a second manager it can see.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { listStacks, readStackConfig, type StackConfig } from "./stack-config";

/** The config key that makes a stage manage the account settings in each of its regions. */
export const MANAGE_ACCOUNT_SETTINGS_KEY = "platform:manageAccountSettings";
const REGIONS_KEY = "platform:regions";
const ACCOUNTS_KEY = "aws:allowedAccountIds";

/** A stack that creates API Gateway's account settings in its region. */
export interface AccountSettingsManager {
  /** The stage file the stack belongs to (`prod` for `prod-eu-west-1`). */
  stage: string;
  /** The stack that deploys the region (`prod`, `prod-eu-west-1`). */
  stack: string;
  region: string;
  /** The stack file its config comes from (`Pulumi.prod.yaml`). */
  file: string;
  /** `aws:allowedAccountIds`, when the stack names its accounts. */
  accountIds?: string[];
}

/** Two stacks of different stages that manage the account settings in one account and region. */
export interface AccountSettingsConflict {
  region: string;
  managers: [AccountSettingsManager, AccountSettingsManager];
}

function stackFileName(projectDir: string, stack: string): string | undefined {
  return [`Pulumi.${stack}.yaml`, `Pulumi.${stack}.yml`].find((file) =>
    fs.existsSync(path.join(projectDir, file)),
  );
}

function parseList(text: string | undefined): string[] | undefined {
  if (text === undefined || text === "") return undefined;
  try {
    const value: unknown = JSON.parse(text);
    if (Array.isArray(value)) return value.map(String);
    return [String(value)];
  } catch {
    return text.split(",").map((item) => item.trim());
  }
}

/** The manager entry of one region stack, or undefined when its config does not manage. */
function managerOf(
  projectDir: string,
  stage: string,
  config: StackConfig,
  region: string,
): AccountSettingsManager | undefined {
  if (config.config[MANAGE_ACCOUNT_SETTINGS_KEY] !== "true") return undefined;
  return {
    stage,
    stack: config.stack,
    region,
    file:
      stackFileName(projectDir, config.stack) ?? stackFileName(projectDir, stage) ?? `Pulumi.${stage}.yaml`,
    accountIds: parseList(config.config[ACCOUNTS_KEY]),
  };
}

/**
 * Every region stack of every stage that manages the account settings, from the project's stack
 * files. A stage's stacks are named as the rollout names them: the stage's own stack for its
 * primary (first) region, `<stage>-<region>` for the others, whose config is their own stack file
 * when there is one, else the stage's file with `aws:region` set.
 *
 * @param planned The stack being planned, with its effective config (overrides applied): it
 *   replaces what its stack file says.
 */
export function accountSettingsManagers(projectDir: string, planned?: StackConfig): AccountSettingsManager[] {
  const stacks = listStacks(projectDir);
  const managers: AccountSettingsManager[] = [];
  for (const stage of stacks) {
    // A region stack's own file (`Pulumi.prod-eu-west-1.yaml`) is read with its stage below.
    if (stageOf(stage, stacks) !== stage) continue;
    let stageConfig: StackConfig;
    try {
      stageConfig = readStackConfig(projectDir, stage);
    } catch {
      continue; // a stack file that cannot be read is not one this check can see
    }
    const regions = parseList(stageConfig.config[REGIONS_KEY]) ?? [stageConfig.region ?? ""];
    regions.forEach((region, index) => {
      const stack = index === 0 ? stage : `${stage}-${region}`;
      let config: StackConfig;
      if (planned?.stack === stack) config = planned;
      else if (index === 0) config = stageConfig;
      else {
        try {
          config = readStackConfig(projectDir, stack);
        } catch {
          return;
        }
      }
      const manager = managerOf(projectDir, stage, config, config.region ?? region);
      if (manager) managers.push(manager);
    });
  }
  return managers;
}

/** The stage of a stack: `prod` for `prod` and for `prod-eu-west-1`, as readStackConfig reads them. */
function stageOf(stack: string, stacks: string[]): string {
  const match = /^(.+?)-([a-z]{2}(?:-[a-z]+)+-\d)$/.exec(stack);
  return match && stacks.includes(match[1]) ? match[1] : stack;
}

function sameAccount(a: AccountSettingsManager, b: AccountSettingsManager): boolean {
  // Without aws:allowedAccountIds on both, the stacks may well deploy to one account.
  if (!a.accountIds || !b.accountIds) return true;
  return a.accountIds.some((id) => b.accountIds?.includes(id));
}

/** Every pair of stages that manage the account settings in one account and region. */
export function findAccountSettingsConflicts(managers: AccountSettingsManager[]): AccountSettingsConflict[] {
  const conflicts: AccountSettingsConflict[] = [];
  managers.forEach((a, i) => {
    for (const b of managers.slice(i + 1)) {
      if (a.stage !== b.stage && a.region === b.region && sameAccount(a, b)) {
        conflicts.push({ region: a.region, managers: [a, b] });
      }
    }
  });
  return conflicts;
}

/** The message of a conflict: both stack files, the region and the key, and how to fix it. */
export function describeConflict({ region, managers: [a, b] }: AccountSettingsConflict): string {
  const account =
    a.accountIds && b.accountIds
      ? ` of account ${a.accountIds.find((id) => b.accountIds?.includes(id))}`
      : "";
  return (
    `${a.file} (stack ${a.stack}) and ${b.file} (stack ${b.stack}) both set ${MANAGE_ACCOUNT_SETTINGS_KEY}: true ` +
    `in region ${region}${account}, but API Gateway's account settings are one per account and region ` +
    `(destroying one stack would break the other's API logging): set ${MANAGE_ACCOUNT_SETTINGS_KEY}: false ` +
    "in one of them, or give them different aws:allowedAccountIds when they deploy to different accounts"
  );
}

/**
 * The plan's check: conflicts that involve the planned stack's stage, in any of its regions.
 *
 * @returns the error text, or undefined when the stage is the only manager wherever it manages.
 */
export function accountSettingsConflict(projectDir: string, planned: StackConfig): string | undefined {
  const stage = stageOf(planned.stack, listStacks(projectDir));
  const conflicts = findAccountSettingsConflicts(accountSettingsManagers(projectDir, planned)).filter(
    (conflict) => conflict.managers.some((manager) => manager.stage === stage),
  );
  return conflicts.length > 0 ? conflicts.map(describeConflict).join("\n") : undefined;
}
