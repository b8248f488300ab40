import * as aws from "@pulumi/aws";
import {
  type PolicyResource,
  type ResourceValidationPolicy,
  type StackValidationPolicy,
  validateResourceOfType,
} from "@pulumi/policy";
import { lambdaIndex, TYPE } from "./graph";
import { asArray, memoByStack, readKnown, reportUnknown, someOf } from "./util";

export const cloudwatchAlarmActions: ResourceValidationPolicy = {
  name: "cloudwatch-alarm-actions",
  description: "Checks whether CloudWatch metric alarms notify someone (alarm actions set and enabled).",
  validateResource: validateResourceOfType(aws.cloudwatch.MetricAlarm, (alarm, args, report) => {
    if (alarm.actionsEnabled === false || asArray(alarm.alarmActions).length === 0) {
      report(`CloudWatch alarm ${args.name} must have alarmActions (an SNS topic) and actions enabled.`);
    }
  }),
};

interface ErrorsAlarm {
  alarm: PolicyResource;
  notifies: boolean;
}

/** The metrics an alarm watches (its own, or those of its metric math queries), with the property they are in. */
function alarmMetrics(
  alarm: PolicyResource,
): { property: string; namespace?: unknown; metricName?: unknown; dimensions?: unknown }[] {
  const own = readKnown(() => ({
    property: "dimensions",
    namespace: alarm.props.namespace,
    metricName: alarm.props.metricName,
    dimensions: alarm.props.dimensions,
  }));
  const queries = readKnown(() =>
    asArray(alarm.props.metricQueries as { metric?: Record<string, unknown> }[]).map((query) => ({
      property: "metricQueries",
      ...(query.metric ?? {}),
    })),
  );
  return [...(own.known ? [own.value] : []), ...(queries.known ? queries.value : [])];
}

/**
 * Errors alarms by the function they watch, through the graph: the function the FunctionName
 * dimension names, or, when that name is not known yet (an auto-named function during a preview),
 * the function the dimensions were computed from.
 */
function lambdaErrorsAlarms(resources: readonly PolicyResource[]): Map<PolicyResource, ErrorsAlarm[]> {
  return memoByStack("lambda-errors-alarms", resources, (graph) => {
    const lambdas = lambdaIndex(resources);
    const byFunction = new Map<PolicyResource, ErrorsAlarm[]>();
    for (const alarm of graph.ofType(TYPE.metricAlarm)) {
      const actions = readKnown(() => asArray(alarm.props.alarmActions as unknown[]).length);
      const enabled = readKnown(() => alarm.props.actionsEnabled as boolean | undefined);
      // Unknown actions (a topic not created yet) notify.
      const notifies = (!actions.known || actions.value > 0) && !(enabled.known && enabled.value === false);
      for (const metric of alarmMetrics(alarm)) {
        if (metric.namespace !== "AWS/Lambda" || metric.metricName !== "Errors") continue;
        const functionName = readKnown(
          () => (metric.dimensions as Record<string, unknown> | undefined)?.FunctionName,
        );
        const fn =
          functionName.known && typeof functionName.value === "string"
            ? lambdas.resolve({ value: functionName.value, dependencies: [] })
            : lambdas.resolve({ dependencies: alarm.propertyDependencies[metric.property] ?? [] });
        if (fn) byFunction.set(fn, [...(byFunction.get(fn) ?? []), { alarm, notifies }]);
      }
    }
    return byFunction;
  });
}

export const DEFAULT_ALARM_EXEMPT_PREFIXES = ["CodeDeployHook_"];

export const monitoringLambdaErrorsAlarm: StackValidationPolicy = {
  name: "monitoring-lambda-errors-alarm",
  description:
    "Checks whether every Lambda function has a CloudWatch alarm on its Errors metric (FunctionName dimension) that notifies someone.",
  configSchema: {
    properties: {
      exemptNamePrefixes: {
        type: "array",
        items: { type: "string" },
        default: DEFAULT_ALARM_EXEMPT_PREFIXES,
        description:
          "Functions whose names start so need no alarm (CodeDeploy hooks run only during deployments).",
      },
    },
  },
  validateStack: (args, report) => {
    const exempt =
      args.getConfig<{ exemptNamePrefixes?: string[] }>().exemptNamePrefixes ?? DEFAULT_ALARM_EXEMPT_PREFIXES;
    const lambdas = lambdaIndex(args.resources);
    const alarms = lambdaErrorsAlarms(args.resources);
    for (const fn of lambdas.functions) {
      const name = lambdas.nameOf(fn);
      const found = alarms.get(fn) ?? [];
      if (name !== undefined && exempt.some((prefix) => name.startsWith(prefix))) continue;
      if (found.some((entry) => entry.notifies)) continue;
      const what = `Lambda function ${fn.name}${name !== undefined && name !== fn.name ? ` (${name})` : ""}`;
      if (found.length > 0) {
        report(
          `The Errors alarm(s) ${someOf(found.map((entry) => entry.alarm.name))} of ${what} notify no one: set alarmActions (an SNS topic) and leave actionsEnabled on.`,
          fn.urn,
        );
      } else if (name === undefined) {
        reportUnknown(
          report,
          `the name of Lambda function ${fn.name}, which its Errors alarm must name, is unknown and no alarm references the function.`,
          fn.urn,
        );
      } else {
        report(
          `${what} has no CloudWatch alarm on its Errors metric: add an aws.cloudwatch.MetricAlarm (namespace AWS/Lambda, metricName Errors, dimensions { FunctionName: <function>.name }, plus Resource "${name}:<alias>" for an alias) with an SNS topic in alarmActions.`,
          fn.urn,
        );
      }
    }
  },
};
