import * as aws from "@pulumi/aws";
import {
  type PolicyResource,
  type ResourceValidationPolicy,
  type StackValidationPolicy,
  validateResourceOfType,
} from "@pulumi/policy";
import { apiFunctions, knownString, lambdaIndex, roleIndex, TYPE } from "./graph";
import { asArray, globToRegExp, memoByStack, quoteList, readKnown, reportUnknown } from "./util";

export const DEFAULT_FORBIDDEN_DEPLOYMENT_CONFIGS = ["CodeDeployDefault.LambdaAllAtOnce"];
export const DEFAULT_ROLLBACK_EVENTS = ["DEPLOYMENT_FAILURE", "DEPLOYMENT_STOP_ON_ALARM"];

interface DeploymentGroupConfig {
  forbiddenDeploymentConfigs?: string[];
  requiredRollbackEvents?: string[];
}

export const codedeployDeploymentGroupSafety: ResourceValidationPolicy = {
  name: "codedeploy-deployment-group-safety",
  description:
    "Checks whether CodeDeploy deployment groups shift traffic gradually, watch alarms and roll back on failure and on alarm.",
  configSchema: {
    properties: {
      forbiddenDeploymentConfigs: {
        type: "array",
        items: { type: "string" },
        default: DEFAULT_FORBIDDEN_DEPLOYMENT_CONFIGS,
        description: "Deployment configs that shift all traffic at once.",
      },
      requiredRollbackEvents: {
        type: "array",
        items: { type: "string" },
        default: DEFAULT_ROLLBACK_EVENTS,
        description: "Events autoRollbackConfiguration must roll back on.",
      },
    },
  },
  validateResource: validateResourceOfType(aws.codedeploy.DeploymentGroup, (group, args, report) => {
    const config = args.getConfig<DeploymentGroupConfig>();
    const where = `CodeDeploy deployment group ${args.name}`;
    if (group.deploymentStyle?.deploymentOption !== "WITH_TRAFFIC_CONTROL") {
      report(
        `${where} must set deploymentStyle.deploymentOption to "WITH_TRAFFIC_CONTROL" (traffic shifts through the alias).`,
      );
    }
    const rollback = group.autoRollbackConfiguration;
    const events = asArray(rollback?.events);
    const missing = (config.requiredRollbackEvents ?? DEFAULT_ROLLBACK_EVENTS).filter(
      (e) => !events.includes(e),
    );
    if (rollback?.enabled !== true || missing.length > 0) {
      report(
        `${where} must enable autoRollbackConfiguration with the events ${quoteList(config.requiredRollbackEvents ?? DEFAULT_ROLLBACK_EVENTS)}${missing.length > 0 ? ` (missing ${quoteList(missing)})` : ""}.`,
      );
    }
    const alarms = group.alarmConfiguration;
    if (alarms?.enabled !== true || asArray(alarms.alarms).length === 0) {
      report(
        `${where} must enable alarmConfiguration with at least one CloudWatch alarm (the function's errors alarm).`,
      );
    }
    const configName = group.deploymentConfigName;
    if (
      configName !== undefined &&
      (config.forbiddenDeploymentConfigs ?? DEFAULT_FORBIDDEN_DEPLOYMENT_CONFIGS).includes(configName)
    ) {
      report(
        `${where} uses ${configName}: use a canary or linear deployment config, which shifts traffic gradually.`,
      );
    }
  }),
};

/**
 * The functions each deployment group deploys. A Lambda deployment group names no function (the
 * AppSpec of each deployment does), so the graph tells: the function a resource references together
 * with the group (what starts the deployment: inputs computed from both the group and the function
 * or its alias), the function the group's tag `tagKey` names, or the function the group is named after.
 */
function deployedFunctions(resources: readonly PolicyResource[], tagKey: string): Set<PolicyResource> {
  return memoByStack(`deployed-functions/${tagKey}`, resources, (graph) => {
    const lambdas = lambdaIndex(resources);
    const deployed = new Set<PolicyResource>();
    const groups = new Set(graph.ofType(TYPE.deploymentGroup));
    if (groups.size === 0) return deployed;
    for (const group of groups) {
      const tagged = readKnown(() => group.props.tags?.[tagKey] as unknown);
      const named =
        tagged.known && typeof tagged.value === "string"
          ? tagged.value
          : knownString(group, "deploymentGroupName");
      const fn = named !== undefined ? lambdas.byName.get(named) : undefined;
      if (fn) deployed.add(fn);
    }
    for (const resource of resources) {
      const dependencies = resource.propertyDependencies;
      let referencesGroup = false;
      const functions: PolicyResource[] = [];
      for (const property in dependencies) {
        const deps = dependencies[property];
        if (deps.some((dependency) => groups.has(dependency))) referencesGroup = true;
        const fn = lambdas.resolve({ dependencies: deps });
        if (fn) functions.push(fn);
      }
      if (referencesGroup) for (const fn of functions) deployed.add(fn);
    }
    return deployed;
  });
}

export const codedeployApiFunctionsHaveDeploymentGroup: StackValidationPolicy = {
  name: "codedeploy-api-functions-deployment-group",
  description:
    "Checks whether every Lambda function behind the API is deployed by a CodeDeploy deployment group (gradual traffic shifting with rollback).",
  configSchema: {
    properties: {
      functionTagKey: {
        type: "string",
        default: "platform:function",
        description:
          "Tag of a deployment group whose value names the function it deploys; a group without it must be named after the function.",
      },
    },
  },
  validateStack: (args, report) => {
    const tagKey = args.getConfig<{ functionTagKey?: string }>().functionTagKey ?? "platform:function";
    const lambdas = lambdaIndex(args.resources);
    const deployed = deployedFunctions(args.resources, tagKey);
    for (const fn of apiFunctions(args.resources).functions.keys()) {
      if (deployed.has(fn)) continue;
      const name = lambdas.nameOf(fn);
      if (name === undefined) {
        reportUnknown(
          report,
          `the name of Lambda function ${fn.name} is unknown and no deployment group references it.`,
          fn.urn,
        );
        continue;
      }
      report(
        `Lambda function ${fn.name}${name !== undefined && name !== fn.name ? ` (${name})` : ""} is behind the API but no CodeDeploy deployment group deploys it: add an aws.codedeploy.DeploymentGroup for its alias (tagged ${tagKey}=<function name>, or referenced with the function by what starts its deployments) that shifts traffic gradually and rolls back on alarm.`,
        fn.urn,
      );
    }
  },
};

const HOOK_ACTION = "codedeploy:PutLifecycleEventHookExecutionStatus";

export const codedeployHookFunctionNaming: StackValidationPolicy = {
  name: "codedeploy-hook-function-naming",
  description:
    "Checks whether CodeDeploy lifecycle hook functions (granted codedeploy:PutLifecycleEventHookExecutionStatus) are named CodeDeployHook_*, the only functions the AWS managed CodeDeploy role may invoke.",
  configSchema: {
    properties: {
      prefix: {
        type: "string",
        default: "CodeDeployHook_",
        description: "Required name prefix of hook functions.",
      },
    },
  },
  validateStack: (args, report) => {
    const prefix = args.getConfig<{ prefix?: string }>().prefix ?? "CodeDeployHook_";
    const lambdas = lambdaIndex(args.resources);
    const roles = roleIndex(args.resources);
    for (const fn of lambdas.functions) {
      const role = roles.roleOf(fn);
      if (!role) continue;
      const grants = roles.grantsOf(role);
      const isHook = grants.statements.some(
        (statement) =>
          statement.effect === "Allow" &&
          statement.actions.some((action) => globToRegExp(action).test(HOOK_ACTION)),
      );
      const name = lambdas.nameOf(fn);
      if (name?.startsWith(prefix)) continue;
      if (isHook && name !== undefined) {
        report(
          `Lambda function ${fn.name} (${name}) reports CodeDeploy lifecycle hook status, so it is a hook: name it ${prefix}..., or CodeDeploy's managed role cannot invoke it.`,
          fn.urn,
        );
      } else if (isHook || grants.someUnknown) {
        reportUnknown(
          report,
          `whether Lambda function ${fn.name} is a CodeDeploy hook named ${prefix}... (its name or its role's policies are unknown).`,
          fn.urn,
        );
      }
    }
  },
};
