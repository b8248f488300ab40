import type { PolicyResource, StackValidationPolicy } from "@pulumi/policy";
import { knownString, lambdaIndex, TYPE } from "./graph";
import { memoByStack, readKnown, reportUnknown } from "./util";

/** Log groups by name. */
function logGroupsByName(resources: readonly PolicyResource[]): Map<string, PolicyResource> {
  return memoByStack("log-groups", resources, (graph) => {
    const byName = new Map<string, PolicyResource>();
    for (const group of graph.ofType(TYPE.logGroup)) {
      const name = knownString(group, "name");
      if (name !== undefined) byName.set(name, group);
    }
    return byName;
  });
}

export const lambdaLogGroupRetention: StackValidationPolicy = {
  name: "lambda-log-group-retention",
  description:
    "Checks whether every Lambda function has its log group (/aws/lambda/<name> or loggingConfig.logGroup) in the stack, with a retention.",
  validateStack: (args, report) => {
    const lambdas = lambdaIndex(args.resources);
    const groups = logGroupsByName(args.resources);
    for (const fn of lambdas.functions) {
      const configured = readKnown(() => fn.props.loggingConfig?.logGroup as string | undefined);
      const functionName = lambdas.nameOf(fn);
      if (!configured.known || (configured.value === undefined && functionName === undefined)) {
        reportUnknown(report, `the log group name of Lambda function ${fn.name} is unknown.`, fn.urn);
        continue;
      }
      const groupName = configured.value ?? `/aws/lambda/${functionName}`;
      const group = groups.get(groupName);
      if (!group) {
        report(
          `Lambda function ${fn.name} has no log group ${groupName} in the stack: create it with retentionInDays (Lambda would create one that keeps logs forever).`,
          fn.urn,
        );
        continue;
      }
      const retention = readKnown(() => group.props.retentionInDays as number | undefined);
      if (retention.known && !retention.value) {
        report(
          `Log group ${group.name} (${groupName}) of Lambda function ${fn.name} must set retentionInDays (it keeps logs forever).`,
          group.urn,
        );
      }
    }
  },
};
