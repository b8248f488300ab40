import type { PolicyResource, StackValidationPolicy } from "@pulumi/policy";
import { knownString, type LambdaIndex, lambdaIndex, TYPE } from "./graph";
import { memoByStack, readKnown, reference, reportUnknown, stackGraph } from "./util";

interface LogGroups {
  byName: Map<string, PolicyResource>;
  /** Log groups whose name was computed from a resource's outputs (`/aws/lambda/${fn.name}`), by that resource. */
  namedAfter: Map<PolicyResource, PolicyResource[]>;
}

function logGroups(resources: readonly PolicyResource[]): LogGroups {
  return memoByStack("log-groups", resources, (graph) => {
    const byName = new Map<string, PolicyResource>();
    const namedAfter = new Map<PolicyResource, PolicyResource[]>();
    for (const group of graph.ofType(TYPE.logGroup)) {
      const name = knownString(group, "name");
      if (name !== undefined) byName.set(name, group);
      for (const source of group.propertyDependencies.name ?? []) {
        namedAfter.set(source, [...(namedAfter.get(source) ?? []), group]);
      }
    }
    return { byName, namedAfter };
  });
}

/** Where a function logs: the group resource when it is in the stack, and the group's name when known. */
export interface FunctionLogGroup {
  group?: PolicyResource;
  name?: string;
  /** False when neither the name nor a reference to a group is known (during a preview). */
  known: boolean;
}

/**
 * A function's log group, through the resource graph: the group its loggingConfig.logGroup
 * references (by dependency or by name), else Lambda's default `/aws/lambda/<function name>`, found
 * by name or as a group whose name was computed from the function (an auto-named function's group).
 */
export function logGroupOf(fn: PolicyResource, resources: readonly PolicyResource[]): FunctionLogGroup {
  const groups = logGroups(resources);
  const lambdas: LambdaIndex = lambdaIndex(resources);
  const configured = readKnown(() => fn.props.loggingConfig?.logGroup as unknown);
  const referenced = (fn.propertyDependencies.loggingConfig ?? []).filter((r) => r.type === TYPE.logGroup);
  if (!configured.known || typeof configured.value === "string") {
    const name = configured.known ? (configured.value as string) : undefined;
    const group = (name !== undefined ? groups.byName.get(name) : undefined) ?? referenced[0];
    return { group, name, known: group !== undefined || name !== undefined };
  }
  const functionName = lambdas.nameOf(fn);
  const defaultName = functionName === undefined ? undefined : `/aws/lambda/${functionName}`;
  const byName = defaultName !== undefined ? groups.byName.get(defaultName) : undefined;
  if (byName) return { group: byName, name: defaultName, known: true };
  // A group named after the function's outputs is its group when the name is Lambda's default or unknown yet.
  const namedAfter = (groups.namedAfter.get(fn) ?? []).find((group) => {
    const name = readKnown(() => group.props.name as unknown);
    return !name.known || name.value === defaultName;
  });
  return {
    group: namedAfter,
    name: defaultName,
    known: namedAfter !== undefined || defaultName !== undefined,
  };
}

/** `Lambda function fn (app-prod-users-list)`, with the physical name when it is known. */
function describeFunction(fn: PolicyResource, lambdas: LambdaIndex): string {
  const name = lambdas.nameOf(fn);
  return `Lambda function ${fn.name}${name !== undefined && name !== fn.name ? ` (${name})` : ""}`;
}

export const lambdaLogGroupRetention: StackValidationPolicy = {
  name: "lambda-log-group-retention",
  description:
    "Checks whether every Lambda function has its log group (loggingConfig.logGroup, or /aws/lambda/<name>) in the stack, so that Lambda does not create one that keeps logs forever.",
  validateStack: (args, report) => {
    const lambdas = lambdaIndex(args.resources);
    for (const fn of lambdas.functions) {
      const found = logGroupOf(fn, args.resources);
      if (!found.known) {
        reportUnknown(report, `the log group name of Lambda function ${fn.name} is unknown.`, fn.urn);
        continue;
      }
      if (found.group) continue;
      report(
        `${describeFunction(fn, lambdas)} has no log group ${found.name} in the stack: create an aws.cloudwatch.LogGroup named ${found.name} (pulumi.interpolate\`/aws/lambda/\${fn.name}\` for an auto-named function) with retentionInDays, and let the function depend on it; otherwise Lambda creates one that keeps logs forever.`,
        fn.urn,
      );
    }
  },
};

/** What a log group holds, for messages: `the logs of Lambda function fn`, when the graph says. */
function logGroupOwners(resources: readonly PolicyResource[]): Map<PolicyResource, string> {
  return memoByStack("log-group-owners", resources, (graph) => {
    const owners = new Map<PolicyResource, string>();
    const lambdas = lambdaIndex(resources);
    for (const fn of lambdas.functions) {
      const { group } = logGroupOf(fn, resources);
      if (group && !owners.has(group)) owners.set(group, `the logs of ${describeFunction(fn, lambdas)}`);
    }
    for (const stage of graph.ofType(TYPE.apiStage)) {
      const destination = reference(stage, "accessLogSettings");
      for (const group of destination.dependencies.filter((r) => r.type === TYPE.logGroup)) {
        if (!owners.has(group)) owners.set(group, `the access logs of API Gateway stage ${stage.name}`);
      }
    }
    for (const group of graph.ofType(TYPE.logGroup)) {
      const api = (group.propertyDependencies.name ?? []).find((r) => r.type === TYPE.restApi);
      if (api && !owners.has(group)) owners.set(group, `the execution logs of REST API ${api.name}`);
    }
    return owners;
  });
}

export const cloudwatchLogGroupRetention: StackValidationPolicy = {
  name: "cloudwatch-log-group-retention",
  description:
    "Checks whether every CloudWatch log group sets retentionInDays (Lambda, API Gateway access and execution logs alike), so that no logs are kept forever.",
  validateStack: (args, report) => {
    const owners = logGroupOwners(args.resources);
    for (const group of stackGraph(args.resources).ofType(TYPE.logGroup)) {
      // An unknown retention is set from another resource's output: it is set.
      const retention = readKnown(() => group.props.retentionInDays as number | undefined);
      if (!retention.known || retention.value) continue;
      const name = knownString(group, "name");
      const owner = owners.get(group);
      report(
        `CloudWatch log group ${group.name}${name !== undefined ? ` (${name})` : ""}${owner ? `, which holds ${owner},` : ""} must set retentionInDays (e.g. 30): without it, its logs are kept forever.`,
        group.urn,
      );
    }
  },
};
