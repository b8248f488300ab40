import * as aws from "@pulumi/aws";
import {
  type PolicyResource,
  type ReportViolation,
  type ResourceValidation,
  type ResourceValidationPolicy,
  type StackValidationPolicy,
  validateResourceOfType,
} from "@pulumi/policy";
import { knownString, roleIndex, TYPE } from "./graph";
import { isWildcardAction, type PolicyStatement, parsePolicyDocument, statementLabel } from "./iam-document";
import {
  asArray,
  quoteList,
  type Reference,
  readKnown,
  reference,
  reportUnknown,
  someOf,
  stackGraph,
} from "./util";

/** A problem of a policy document: what is wrong (`allows "s3:*" in statement 1`) and the fix. */
export interface DocumentProblem {
  what: string;
  fix: string;
}

export type DocumentProblems = (
  statements: PolicyStatement[],
  config: Record<string, unknown>,
) => DocumentProblem[];

/** `IAM role policy users-list-base (of IAM role app-prod-users-list-role)`, when the role is known. */
function rolePolicyLabel(name: string, role: () => unknown): string {
  const read = readKnown(role);
  const roleName = read.known && typeof read.value === "string" ? read.value.split("/").pop() : undefined;
  return `IAM role policy ${name}${roleName ? ` (of IAM role ${roleName})` : ""}`;
}

/**
 * Validations for every policy document the stack creates: inline policies of aws.iam.Role,
 * aws.iam.RolePolicy and aws.iam.Policy. A document that is not valid JSON is a violation too.
 */
function documentValidations(problems: DocumentProblems): ResourceValidation[] {
  const run = (
    document: unknown,
    where: string,
    report: ReportViolation,
    config: Record<string, unknown>,
  ) => {
    const parsed = parsePolicyDocument(document);
    if (!parsed.ok) report(`${where} ${parsed.error}: it must be an IAM policy document.`);
    else for (const { what, fix } of problems(parsed.statements, config)) report(`${where} ${what}: ${fix}`);
  };
  return [
    validateResourceOfType(aws.iam.Role, (role, args, report) => {
      asArray(role.inlinePolicies).forEach((inline, index) => {
        const label = inline.name ? `"${inline.name}"` : String(index + 1);
        run(inline.policy, `Inline policy ${label} of IAM role ${args.name}`, report, args.getConfig());
      });
    }),
    validateResourceOfType(aws.iam.RolePolicy, (rolePolicy, args, report) => {
      run(
        rolePolicy.policy,
        rolePolicyLabel(args.name, () => rolePolicy.role),
        report,
        args.getConfig(),
      );
    }),
    validateResourceOfType(aws.iam.Policy, (policy, args, report) => {
      run(policy.policy, `IAM policy ${args.name}`, report, args.getConfig());
    }),
  ];
}

export const wildcardActionProblems: DocumentProblems = (statements) =>
  statements.flatMap((statement, index) => {
    const wildcards = statement.effect === "Allow" ? statement.actions.filter(isWildcardAction) : [];
    return wildcards.length > 0
      ? [
          {
            what: `allows wildcard action(s) ${quoteList(wildcards)} in ${statementLabel(statement, index)}`,
            fix: "list the exact actions instead.",
          },
        ]
      : [];
  });

export const iamNoWildcardActions: ResourceValidationPolicy = {
  name: "iam-no-wildcard-actions",
  description:
    "Checks whether IAM policy documents allow only exact actions (no `*`, `service:*` or partial wildcards such as `s3:Get*`).",
  validateResource: documentValidations(wildcardActionProblems),
};

/** Actions that accept only `Resource: "*"` (they act on no resource ARN). */
export const DEFAULT_STAR_RESOURCE_ACTIONS = [
  "xray:PutTraceSegments",
  "xray:PutTelemetryRecords",
  "cloudwatch:PutMetricData",
];

/** Actions allowed on `"*"` only with a condition that scopes them: PutMetricData to a namespace. */
export const DEFAULT_REQUIRED_CONDITION_KEYS: Record<string, string> = {
  "cloudwatch:PutMetricData": "cloudwatch:namespace",
};

export const wildcardResourceProblems: DocumentProblems = (statements, config) => {
  const allowedList = (config.allowedActions as string[] | undefined) ?? DEFAULT_STAR_RESOURCE_ACTIONS;
  const allowed = new Set(allowedList.map((action) => action.toLowerCase()));
  const required = new Map(
    Object.entries(
      (config.requiredConditionKeys as Record<string, string> | undefined) ?? DEFAULT_REQUIRED_CONDITION_KEYS,
    ).map(([action, key]) => [action.toLowerCase(), key]),
  );
  return statements.flatMap((statement, index) => {
    if (statement.effect !== "Allow" || !statement.resources.includes("*")) return [];
    const label = statementLabel(statement, index);
    const problems: DocumentProblem[] = [];
    const scoped = statement.actions.filter((action) => !allowed.has(action.toLowerCase()));
    if (scoped.length > 0) {
      problems.push({
        what: `allows ${quoteList(scoped)} on Resource "*" in ${label}`,
        fix: `scope them to resource ARNs (only ${quoteList(allowedList)} may use "*").`,
      });
    }
    for (const action of statement.actions) {
      const key = required.get(action.toLowerCase());
      if (!key || !allowed.has(action.toLowerCase())) continue;
      if (statement.conditionKeys.includes(key.toLowerCase())) continue;
      problems.push({
        what: `allows ${JSON.stringify(action)} on Resource "*" without a ${JSON.stringify(key)} condition in ${label}`,
        fix: `add Condition { StringEquals: { ${JSON.stringify(key)}: "<the value it needs>" } }, so that it cannot act beyond it.`,
      });
    }
    return problems;
  });
};

export const iamNoWildcardResources: ResourceValidationPolicy = {
  name: "iam-no-wildcard-resources",
  description:
    'Checks whether IAM policy documents scope every action to resource ARNs, allowing `Resource: "*"` only for actions that need it (cloudwatch:PutMetricData only with a cloudwatch:namespace condition).',
  configSchema: {
    properties: {
      allowedActions: {
        type: "array",
        items: { type: "string" },
        default: DEFAULT_STAR_RESOURCE_ACTIONS,
        description: 'Actions that may use Resource "*" (they act on no resource ARN).',
      },
      requiredConditionKeys: {
        type: "object",
        additionalProperties: { type: "string" },
        default: DEFAULT_REQUIRED_CONDITION_KEYS,
        description: 'Allowed actions that may use Resource "*" only with a condition on this key.',
      },
    },
  },
  validateResource: documentValidations(wildcardResourceProblems),
};

export const notActionProblems: DocumentProblems = (statements) =>
  statements.flatMap((statement, index) => {
    if (statement.effect !== "Allow") return [];
    return (
      [
        ["NotAction", statement.notActions, "actions in Action"],
        ["NotResource", statement.notResources, "ARNs in Resource"],
      ] as const
    )
      .filter(([, values]) => values.length > 0)
      .map(([field, values, instead]) => ({
        what: `uses ${field} ${quoteList(values)} with Effect Allow in ${statementLabel(statement, index)}, which allows everything else`,
        fix: `list the allowed ${instead} instead.`,
      }));
  });

export const iamNoAllowWithNotAction: ResourceValidationPolicy = {
  name: "iam-no-allow-not-action",
  description:
    "Checks whether IAM policy documents avoid NotAction and NotResource in Allow statements (they grant everything not listed).",
  validateResource: documentValidations(notActionProblems),
};

/** The AWS managed policies the platform attaches. */
export const DEFAULT_ALLOWED_MANAGED_POLICIES = [
  "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole",
  "arn:aws:iam::aws:policy/service-role/AWSCodeDeployRoleForLambda",
  "arn:aws:iam::aws:policy/CloudWatchLambdaInsightsExecutionRolePolicy",
  "arn:aws:iam::aws:policy/service-role/AmazonAPIGatewayPushToCloudWatchLogs",
];

/** `arn:aws-cn:iam::aws:policy/X` -> `arn:aws:iam::aws:policy/X`: the allow-list is partition-free. */
function withoutPartition(arn: string): string {
  return arn.replace(/^arn:aws[a-z-]*:/, "arn:aws:");
}

/** Managed policies no role of the platform may have, whatever the allow-list says. */
function forbiddenReason(arn: string): string | undefined {
  const policyName = arn.split("/").pop() ?? arn;
  if (policyName === "AdministratorAccess" || policyName === "PowerUserAccess") {
    return `${policyName} grants (almost) every action`;
  }
  if (/FullAccess$/.test(policyName)) return `${policyName} grants every action of a service`;
  return undefined;
}

/** What is wrong with the document of a policy created in the stack (nothing while it is unknown). */
function inStackPolicyProblems(policy: PolicyResource): string[] {
  const parsed = readKnown(() => parsePolicyDocument(policy.props.policy));
  if (!parsed.known) return [];
  if (!parsed.value.ok) return [parsed.value.error];
  const statements = parsed.value.statements;
  // It passes when the pack's document policies, with their default config, pass it.
  return [wildcardActionProblems, wildcardResourceProblems, notActionProblems].flatMap((problems) =>
    problems(statements, {}).map((problem) => problem.what),
  );
}

/** `IAM role fn-role (app-prod-fn-role)`, or the reference's value when the role is not in the stack. */
function describeRole(role: PolicyResource | undefined, value: string | undefined): string | undefined {
  if (role) {
    const name = knownString(role, "name");
    return `IAM role ${role.name}${name !== undefined && name !== role.name ? ` (${name})` : ""}`;
  }
  return value !== undefined ? `IAM role ${value.split("/").pop()}` : undefined;
}

export const iamManagedPolicyAllowList: StackValidationPolicy = {
  name: "iam-managed-policy-allow-list",
  description:
    "Checks whether roles attach only allow-listed AWS managed policies, or customer-managed policies created in the stack whose documents pass the pack, and never AdministratorAccess, PowerUserAccess or *FullAccess.",
  configSchema: {
    properties: {
      allowedPolicyArns: {
        type: "array",
        items: { type: "string" },
        default: DEFAULT_ALLOWED_MANAGED_POLICIES,
        description: "Managed policy ARNs roles may attach (any partition).",
      },
    },
  },
  validateStack: (args, report) => {
    const allowedList =
      args.getConfig<{ allowedPolicyArns?: string[] }>().allowedPolicyArns ??
      DEFAULT_ALLOWED_MANAGED_POLICIES;
    const allowed = new Set(allowedList.map(withoutPartition));
    const graph = stackGraph(args.resources);
    const roles = roleIndex(args.resources);
    const policiesByArn = new Map<string, PolicyResource>();
    for (const policy of graph.ofType(TYPE.iamPolicy)) {
      const arn = knownString(policy, "arn");
      if (arn !== undefined) policiesByArn.set(arn, policy);
    }
    const attachedByResource = new Set<string>();

    /** Judges one attached policy: `where` attaches `ref` to `target`. */
    const check = (subject: PolicyResource, where: string, target: string | undefined, ref: Reference) => {
      const to = target ? ` to ${target}` : "";
      const inStack =
        ref.dependencies.find((dependency) => dependency.type === TYPE.iamPolicy) ??
        (ref.value !== undefined ? policiesByArn.get(ref.value) : undefined);
      if (inStack) {
        const problems = inStackPolicyProblems(inStack);
        if (problems.length > 0) {
          report(
            `${where} attaches IAM policy ${inStack.name} (created in this stack)${to}, but its document ${problems[0]}${problems.length > 1 ? ` (and ${problems.length - 1} more problem(s))` : ""}: fix the document of ${inStack.name} (the pack reports each problem on it), or attach none.`,
            subject.urn,
          );
        }
        return;
      }
      if (ref.value === undefined) {
        reportUnknown(report, `the policy ${where} attaches${to} is unknown.`, subject.urn);
        return;
      }
      const arn = ref.value;
      const forbidden = forbiddenReason(arn);
      if (forbidden) {
        report(
          `${where} attaches ${arn}${to}: ${forbidden}; grant only the exact actions the role needs with an aws.iam.RolePolicy instead.`,
          subject.urn,
        );
      } else if (allowed.has(withoutPartition(arn))) {
        return;
      } else if (/^arn:aws[a-z-]*:iam::aws:policy\//.test(arn)) {
        report(
          `${where} attaches the AWS managed policy ${arn}${to}, which is not on the allow-list (${someOf(allowedList)}): grant only the exact actions the role needs with an aws.iam.RolePolicy, or, if it needs the whole managed policy, add the ARN to allowedPolicyArns of iam-managed-policy-allow-list in policy/config.<stage>.json.`,
          subject.urn,
        );
      } else {
        report(
          `${where} attaches the customer-managed policy ${arn}${to}, which is neither created in this stack nor on the allow-list: create it in this stack as an aws.iam.Policy (the pack then checks its document) and attach that, or add the ARN to allowedPolicyArns of iam-managed-policy-allow-list in policy/config.<stage>.json.`,
          subject.urn,
        );
      }
    };

    for (const attachment of graph.ofType(TYPE.iamRolePolicyAttachment)) {
      const roleRef = reference(attachment, "role");
      const role = roles.resolve(roleRef);
      const policyArn = reference(attachment, "policyArn");
      if (role && policyArn.value !== undefined) attachedByResource.add(`${role.urn} ${policyArn.value}`);
      check(
        attachment,
        `Role policy attachment ${attachment.name}`,
        describeRole(role, roleRef.value),
        policyArn,
      );
    }
    for (const attachment of graph.ofType(TYPE.iamPolicyAttachment)) {
      const principals = readKnown(() =>
        (["roles", "users", "groups"] as const).flatMap((kind) =>
          asArray(attachment.props[kind] as unknown[]).map(
            (name) => `${kind.slice(0, -1)} ${String(name).split("/").pop()}`,
          ),
        ),
      );
      const target = principals.known && principals.value.length > 0 ? someOf(principals.value) : undefined;
      check(attachment, `Policy attachment ${attachment.name}`, target, reference(attachment, "policyArn"));
    }
    for (const role of graph.ofType(TYPE.iamRole)) {
      const arns = readKnown(() => asArray(role.props.managedPolicyArns as unknown[]));
      const dependencies = role.propertyDependencies.managedPolicyArns ?? [];
      if (!arns.known) {
        for (const policy of dependencies.filter((dependency) => dependency.type === TYPE.iamPolicy)) {
          check(role, `IAM role ${role.name}`, undefined, { dependencies: [policy] });
        }
        continue;
      }
      for (const arn of arns.value) {
        // A role's outputs list the policies its attachments attach too: judged on the attachment.
        if (typeof arn !== "string" || attachedByResource.has(`${role.urn} ${arn}`)) continue;
        check(role, `IAM role ${role.name}`, undefined, { value: arn, dependencies: [] });
      }
    }
  },
};

export const iamLambdaRoleNotShared: StackValidationPolicy = {
  name: "iam-lambda-role-not-shared",
  description: "Checks whether every Lambda function has an execution role of its own.",
  validateStack: (args, report) => {
    const roles = roleIndex(args.resources);
    const functions = stackGraph(args.resources).ofType(TYPE.lambdaFunction);
    const byRole = new Map<string, typeof functions>();
    for (const fn of functions) {
      const key = roles.roleKeyOf(fn);
      byRole.set(key, [...(byRole.get(key) ?? []), fn]);
    }
    for (const [role, sharing] of byRole) {
      if (sharing.length < 2) continue;
      const roleName = role.startsWith("urn:") ? (role.split("::").pop() ?? role) : role;
      for (const fn of sharing) {
        const others = sharing.filter((other) => other !== fn).map((other) => other.name);
        report(
          `Lambda function ${fn.name} shares execution role ${roleName} with ${someOf(others)}: give each function its own role with only the permissions it needs.`,
          fn.urn,
        );
      }
    }
  },
};
