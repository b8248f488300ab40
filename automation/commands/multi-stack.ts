import * as fs from "node:fs";
import * as path from "node:path";
import type { Command } from "commander";
import type * as Settings from "../../components/settings";
import { PIPELINE_FOLDER, projectDirOf } from "../plan/projects";
import {
  listStacks,
  listStages,
  MissingRegionStackFileError,
  readStackConfig,
  UnknownStackError,
} from "../plan/stack-config";
import type * as Targets from "../rollout/targets";
import { CliExit, type CliIo, EXIT } from "./io";

/**
 * `platform plan|policy|cost <stack...>`: one call plans several stacks at once (in parallel, in the
 * shared planner's warm hosts) and prints them in the order given. One stack argument without
 * --all-regions prints exactly what a single-stack call always printed; otherwise the output is per
 * stack: text sections under a header, a JSON array, one SARIF log with a run per stack.
 */

/** Adds the variadic `<stack...>` argument and `--all-regions` to a command. */
export function stackArguments(command: Command): Command {
  return command
    .argument(
      "<stack...>",
      "one or more stacks (dev, prod, a region stack such as prod-eu-west-1); several are planned at once and printed in the order given, a stack named twice once",
    )
    .option(
      "--all-regions",
      "add each named stage's region stacks, in rollout order (prod: prod, then prod-<region> for each other region of platform:regions)",
    );
}

export interface StackSelection {
  /** The stacks to run, in the order given, stages expanded, each once. */
  stacks: string[];
  /** More than one stack argument or --all-regions: the output is per stack (headers, array, runs). */
  several: boolean;
}

export interface SelectStacksOptions {
  allRegions?: boolean;
  /** The application's project directory. */
  projectDir: string;
  /** Whether the pipeline project's stack is known too (`plan`, `policy`; `cost` knows the application's only). */
  withPipeline: boolean;
}

/** A stage's stacks in rollout order: the rollout's own targets (the primary region's stack first). */
function stageStacks(stage: string, projectDir: string): string[] {
  // Loaded here, for --all-regions only: stage settings load the Pulumi SDK, which a plan of named
  // stacks leaves to its plan hosts.
  const { readStage, selectTargets } = require("../rollout/targets") as typeof Targets;
  const { SettingsError } = require("../../components/settings") as typeof Settings;
  try {
    return selectTargets(readStage(stage, projectDir)).map((target) => target.stackName);
  } catch (error) {
    if (error instanceof SettingsError) throw new CliExit(EXIT.failed, `error: ${error.message}`);
    throw error;
  }
}

/** The stacks with a stack file that a command can run. */
function knownStacks(options: SelectStacksOptions): string[] {
  const pipelineDir = path.join(options.projectDir, PIPELINE_FOLDER);
  const pipeline = options.withPipeline && fs.existsSync(pipelineDir) ? listStacks(pipelineDir) : [];
  return [...new Set([...listStacks(options.projectDir), ...pipeline])].sort();
}

/** Why a stack cannot run (no stack file, a region stack not synced), or undefined. */
function stackProblem(stack: string, options: SelectStacksOptions): Error | undefined {
  const dir = options.withPipeline ? projectDirOf(stack, options.projectDir) : options.projectDir;
  try {
    readStackConfig(dir, stack);
    return undefined;
  } catch (error) {
    if (error instanceof UnknownStackError || error instanceof MissingRegionStackFileError) return error;
    throw error;
  }
}

/**
 * The stacks a command runs: `names` in order, with each stage's region stacks after it under
 * --all-regions (names that are not stages, such as region stacks and `pipeline`, stay as given),
 * each stack once. Every stack is checked before anything is planned.
 *
 * @throws the stack's UnknownStackError or MissingRegionStackFileError for one stack argument (the
 *   CLI's usage exit, as before); a usage CliExit naming every bad stack and the known ones otherwise
 */
export function selectStacks(names: string[], options: SelectStacksOptions): StackSelection {
  const stages = options.allRegions ? listStages(options.projectDir) : [];
  const expanded = names.flatMap((name) =>
    stages.includes(name) ? stageStacks(name, options.projectDir) : [name],
  );
  const stacks = [...new Set(expanded)];
  const several = names.length > 1 || options.allRegions === true;
  const problems = stacks
    .map((stack) => stackProblem(stack, options))
    .filter((problem) => problem !== undefined);
  if (problems.length === 0) return { stacks, several };
  if (!several) throw problems[0];

  const unknown = problems.filter((problem) => problem instanceof UnknownStackError).map((p) => p.stack);
  const lines = problems
    .filter((problem) => !(problem instanceof UnknownStackError))
    .map((problem) => `error: ${problem.message}`);
  if (unknown.length > 0) {
    lines.unshift(
      `error: unknown stack${unknown.length > 1 ? "s" : ""} ${unknown.map((stack) => `"${stack}"`).join(", ")}: no Pulumi.<stack>.yaml. Stacks: ${knownStacks(options).join(", ") || "none"} (a region stack is <stage>-<region>, e.g. prod-eu-west-1)`,
    );
  }
  throw new CliExit(EXIT.usage, lines.join("\n"));
}

/**
 * Calls `run` for every stack now, so that planning (which starts the plan hosts) overlaps with
 * whatever the command loads next. A `run` that throws instead of rejecting rejects too. Each
 * promise is marked handled: its failure is reported in its stack's turn, by whoever awaits it.
 */
export function startEach<T>(stacks: string[], run: (stack: string) => Promise<T>): Map<string, Promise<T>> {
  return new Map(
    stacks.map((stack) => {
      const started = (async () => run(stack))();
      started.catch(() => undefined);
      return [stack, started];
    }),
  );
}

/** What a command produced for one stack. */
export interface StackReport {
  /** The stack's output in the format asked, printed as is for one stack, under a header among several. */
  output: string;
  /** The output as a value, for the machine-readable formats (JSON, SARIF); undefined for text. */
  document?: object;
  /** Printed on stderr before the output. */
  warnings?: string[];
  /** The exit the stack asks for after its output (a mandatory policy violation). */
  failure?: CliExit;
}

export interface ReportStacksOptions {
  /** The format is JSON or SARIF: several stacks print one document, made of each stack's `document`. */
  machineReadable: boolean;
  /** Several stacks' documents as one. @default a JSON array, in the order of the stacks */
  combine?: (documents: object[]) => object;
}

/** The header of a stack's section among several: names the stack and its place. */
export function stackHeader(stack: string, index: number, count: number): string {
  return `==> stack ${stack} (${index + 1} of ${count}) <==`;
}

/** An error of one stack's run as the exit it asks for, as runCli would map it. */
function exitOf(error: unknown): CliExit {
  if (error instanceof CliExit) return error;
  if (error instanceof UnknownStackError || error instanceof MissingRegionStackFileError) {
    return new CliExit(EXIT.usage, `error: ${error.message}`);
  }
  return new CliExit(EXIT.failed, `error: ${error instanceof Error ? error.message : String(error)}`);
}

/**
 * Runs `runStack` for every selected stack at once and prints the results in order. One stack:
 * its warnings, its output, then its failure, exactly as a single-stack command. Several: a failed
 * stack's error goes to stderr in its place and the others are still printed; the command then
 * exits with the worst code of all stacks, naming each stack that failed.
 */
export async function reportStacks(
  io: CliIo,
  selection: StackSelection,
  runStack: (stack: string) => Promise<StackReport>,
  options: ReportStacksOptions,
): Promise<void> {
  const { stacks } = selection;
  if (!selection.several) {
    const report = await runStack(stacks[0]);
    for (const warning of report.warnings ?? []) io.stderr(`warning: ${warning}\n`);
    io.stdout(`${report.output}\n`);
    if (report.failure) throw report.failure;
    return;
  }

  const outcomes = await Promise.allSettled(stacks.map((stack) => runStack(stack)));
  const documents: object[] = [];
  const failures: CliExit[] = [];
  outcomes.forEach((outcome, index) => {
    const stack = stacks[index];
    const header = `${index > 0 ? "\n" : ""}${stackHeader(stack, index, stacks.length)}\n`;
    if (outcome.status === "fulfilled") {
      const report = outcome.value;
      for (const warning of report.warnings ?? []) io.stderr(`warning: ${stack}: ${warning}\n`);
      if (!options.machineReadable) io.stdout(`${header}${report.output}\n`);
      else if (report.document) documents.push(report.document);
      if (report.failure) failures.push(report.failure);
      return;
    }
    const exit = exitOf(outcome.reason);
    io.stderr(`${exit.message}\n`);
    // A text reader sees the failed stack in its place; JSON and SARIF hold the stacks that ran.
    if (!options.machineReadable) io.stdout(`${header}Failed: the error is on standard error.\n`);
    failures.push(new CliExit(exit.code, `error: stack ${stack} failed (the error is above)`));
  });
  if (options.machineReadable) {
    io.stdout(`${JSON.stringify((options.combine ?? ((all) => all))(documents), null, 2)}\n`);
  }
  if (failures.length > 0) {
    throw new CliExit(
      Math.max(...failures.map((failure) => failure.code)),
      failures.map((failure) => failure.message).join("\n"),
    );
  }
}
