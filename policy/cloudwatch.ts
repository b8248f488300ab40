import * as aws from "@pulumi/aws";
import {
  type PolicyResource,
  type ResourceValidationPolicy,
  type StackValidationPolicy,
  validateResourceOfType,
} from "@pulumi/policy";
import { lambdaIndex, TYPE } from "./graph";
import { asArray, memoByStack, readKnown, reportUnknown } from "./util";

export const cloudwatchAlarmActions: ResourceValidationPolicy = {
  name: "cloudwatch-alarm-actions",
  description: "Checks whether CloudWatch metric alarms notify someone (alarm actions set and enabled).",
  validateResource: validateResourceOfType(aws.cloudwatch.MetricAlarm, (alarm, args, report) => {
    if (alarm.actionsEnabled === false || asArray(alarm.alarmActions).length === 0) {
      report(`CloudWatch alarm ${args.name} must have alarmActions (an SNS topic) and actions enabled.`);
    }
  }),
};

interface LambdaErrorsAlarms {
  /** Errors alarms by the function name in their FunctionName dimension. */
  byFunction: Map<string, { alarm: PolicyResource; notifies: boolean }[]>;
}

/** The metrics an alarm watches: its own, or those of its metric math queries. */
function alarmMetrics(
  alarm: PolicyResource,
): { namespace?: unknown; metricName?: unknown; dimensions?: unknown }[] {
  const own = readKnown(() => ({
    namespace: alarm.props.namespace,
    metricName: alarm.props.metricName,
    dimensions: alarm.props.dimensions,
  }));
  const queries = readKnown(() =>
    asArray(alarm.props.metricQueries as { metric?: Record<string, unknown> }[]).map(
      (query) => query.metric ?? {},
    ),
  );
  return [...(own.known ? [own.value] : []), ...(queries.known ? queries.value : [])];
}

function lambdaErrorsAlarms(resources: readonly PolicyResource[]): LambdaErrorsAlarms {
  return memoByStack("lambda-errors-alarms", resources, (graph) => {
    const byFunction = new Map<string, { alarm: PolicyResource; notifies: boolean }[]>();
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
        if (!functionName.known || typeof functionName.value !== "string") continue;
        byFunction.set(functionName.value, [
          ...(byFunction.get(functionName.value) ?? []),
          { alarm, notifies },
        ]);
      }
    }
    return { byFunction };
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
      if (name === undefined) {
        reportUnknown(
          report,
          `the name of Lambda function ${fn.name}, which its Errors alarm must name, is unknown.`,
          fn.urn,
        );
        continue;
      }
      if (exempt.some((prefix) => name.startsWith(prefix))) continue;
      const found = alarms.byFunction.get(name) ?? [];
      if (found.length === 0) {
        report(
          `Lambda function ${fn.name} has no CloudWatch alarm on its Errors metric: add one (namespace AWS/Lambda, dimension FunctionName=${name}, and Resource=${name}:<alias> for an alias) with an SNS alarm action.`,
          fn.urn,
        );
      } else if (!found.some((entry) => entry.notifies)) {
        report(
          `The Errors alarm(s) ${found.map((entry) => entry.alarm.name).join(", ")} of Lambda function ${fn.name} notify no one: set alarmActions (an SNS topic).`,
          fn.urn,
        );
      }
    }
  },
};
