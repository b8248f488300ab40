import { PROJECT_DIR } from "../plan/plan";
import { staleRegionStackFiles, syncRegionStackFiles } from "../plan/stack-config";
import { CliExit, EXIT, type RegisterCommand } from "./io";

const PROBLEMS = {
  missing: "missing: run `platform stacks sync`",
  differs: "differs from its stage's file: run `platform stacks sync`",
  orphan: "generated for a region its stage no longer has: delete it (and its stack, `pulumi stack rm`)",
} as const;

/** `platform stacks sync|check`, on a given project directory (tests use a temporary one). */
export function stacksCommand(deps: { projectDir?: string } = {}): RegisterCommand {
  return (program, io) => {
    const stacks = program
      .command("stacks")
      .description(
        "Region stack files: Pulumi.<stage>-<region>.yaml, written from the stage's file with aws:region set, so that `pulumi up -s prod-eu-west-1` and a rollout read the same config",
      );
    stacks
      .command("sync")
      .description("Write Pulumi.<stage>-<region>.yaml for every non-primary region of every stage")
      .action(() => {
        const projectDir = deps.projectDir ?? PROJECT_DIR;
        const written = syncRegionStackFiles(projectDir);
        io.stdout(
          written.length > 0
            ? `Wrote ${written.map((stack) => `Pulumi.${stack}.yaml`).join(", ")} (commit them).\n`
            : "Region stack files are up to date.\n",
        );
        const orphans = staleRegionStackFiles(projectDir).filter((stale) => stale.problem === "orphan");
        for (const orphan of orphans) io.stderr(`warning: Pulumi.${orphan.stack}.yaml ${PROBLEMS.orphan}\n`);
      });
    stacks
      .command("check")
      .description("Exit 1 when a region stack file is missing or differs from its stage's file (for CI)")
      .action(() => {
        const stale = staleRegionStackFiles(deps.projectDir ?? PROJECT_DIR);
        if (stale.length === 0) {
          io.stdout("Region stack files match their stages' files.\n");
          return;
        }
        throw new CliExit(
          EXIT.failed,
          stale.map((entry) => `error: Pulumi.${entry.stack}.yaml ${PROBLEMS[entry.problem]}`).join("\n"),
        );
      });
  };
}

/** `platform stacks sync` and `platform stacks check`. */
export const registerStacks: RegisterCommand = stacksCommand();
