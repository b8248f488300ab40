import * as aws from "@pulumi/aws";
import {
  type ReportViolation,
  type ResourceValidation,
  type ResourceValidationPolicy,
  type StackValidationPolicy,
  validateResourceOfType,
} from "@pulumi/policy";
import { roleIndex, TYPE } from "./graph";
import { isWildcardAction, type PolicyStatement, parsePolicyDocument, statementLabel } from "./iam-document";
import { asArray, quoteList, stackGraph } from "./util";

/** Checks one policy document; `where` names it in messages ("IAM role policy users-list-base"). */
type DocumentCheck = (
  statements: PolicyStatement[],
  where: string,
  reportViolation: ReportViolation,
  config: Record<string, unknown>,
) => void;

/**
 * Validations for every policy document the stack creates: inline policies of aws.iam.Role,
 * aws.iam.RolePolicy and aws.iam.Policy. A document that is not valid JSON is a violation too.
 */
function documentValidations(check: DocumentCheck): ResourceValidation[] {
  const run = (
    document: unknown,
    where: string,
    report: ReportViolation,
    config: Record<string, unknown>,
  ) => {
    const parsed = parsePolicyDocument(document);
    if (!parsed.ok) report(`${where} ${parsed.error}: it must be an IAM policy document.`);
    else check(parsed.statements, where, report, config);
  };
  return [
    validateResourceOfType(aws.iam.Role, (role, args, report) => {
      asArray(role.inlinePolicies).forEach((inline, index) => {
        const label = inline.name ? `"${inline.name}"` : String(index + 1);
        run(inline.policy, `Inline policy ${label} of IAM role ${args.name}`, report, args.getConfig());
      });
    }),
    validateResourceOfType(aws.iam.RolePolicy, (rolePolicy, args, report) => {
      run(rolePolicy.policy, `IAM role policy ${args.name}`, report, args.getConfig());
    }),
    validateResourceOfType(aws.iam.Policy, (policy, args, report) => {
      run(policy.policy, `IAM policy ${args.name}`, report, args.getConfig());
    }),
  ];
}

export const iamNoWildcardActions: ResourceValidationPolicy = {
  name: "iam-no-wildcard-actions",
  description:
    "Checks whether IAM policy documents allow only exact actions (no `*`, `service:*` or partial wildcards such as `s3:Get*`).",
  validateResource: documentValidations((statements, where, report) => {
    statements.forEach((statement, index) => {
      if (statement.effect !== "Allow") return;
      const wildcards = statement.actions.filter(isWildcardAction);
      if (wildcards.length > 0) {
        report(
          `${where} allows wildcard action(s) ${quoteList(wildcards)} in ${statementLabel(statement, index)}: list the exact actions instead.`,
        );
      }
    });
  }),
};

/** Actions that accept only `Resource: "*"` (they act on no resource ARN). */
export const DEFAULT_STAR_RESOURCE_ACTIONS = [
  "xray:PutTraceSegments",
  "xray:PutTelemetryRecords",
  "cloudwatch:PutMetricData",
];

export const iamNoWildcardResources: ResourceValidationPolicy = {
  name: "iam-no-wildcard-resources",
  description:
    'Checks whether IAM policy documents scope every action to resource ARNs, allowing `Resource: "*"` only for actions that need it.',
  configSchema: {
    properties: {
      allowedActions: {
        type: "array",
        items: { type: "string" },
        default: DEFAULT_STAR_RESOURCE_ACTIONS,
        description: 'Actions that may use Resource "*" (they act on no resource ARN).',
      },
    },
  },
  validateResource: documentValidations((statements, where, report, config) => {
    const allowed = new Set(
      ((config.allowedActions as string[] | undefined) ?? DEFAULT_STAR_RESOURCE_ACTIONS).map((action) =>
        action.toLowerCase(),
      ),
    );
    statements.forEach((statement, index) => {
      if (statement.effect !== "Allow" || !statement.resources.includes("*")) return;
      const scoped = statement.actions.filter((action) => !allowed.has(action.toLowerCase()));
      if (scoped.length > 0) {
        report(
          `${where} allows ${quoteList(scoped)} on Resource "*" in ${statementLabel(statement, index)}: scope them to resource ARNs (only ${quoteList([...allowed])} may use "*").`,
        );
      }
    });
  }),
};

export const iamNoAllowWithNotAction: ResourceValidationPolicy = {
  name: "iam-no-allow-not-action",
  description:
    "Checks whether IAM policy documents avoid NotAction and NotResource in Allow statements (they grant everything not listed).",
  validateResource: documentValidations((statements, where, report) => {
    statements.forEach((statement, index) => {
      if (statement.effect !== "Allow") return;
      for (const [field, values] of [
        ["NotAction", statement.notActions],
        ["NotResource", statement.notResources],
      ] as const) {
        if (values.length > 0) {
          report(
            `${where} uses ${field} with Effect Allow in ${statementLabel(statement, index)}: list the allowed ${field === "NotAction" ? "actions in Action" : "ARNs in Resource"} instead.`,
          );
        }
      }
    });
  }),
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

function checkManagedPolicy(
  arn: string,
  where: string,
  report: ReportViolation,
  config: Record<string, unknown>,
): void {
  const forbidden = forbiddenReason(arn);
  if (forbidden) {
    report(`${where} attaches ${arn}: ${forbidden}; grant exact actions with an inline policy instead.`);
    return;
  }
  const allowed = (
    (config.allowedPolicyArns as string[] | undefined) ?? DEFAULT_ALLOWED_MANAGED_POLICIES
  ).map(withoutPartition);
  if (!allowed.includes(withoutPartition(arn))) {
    report(
      `${where} attaches ${arn}, which is not an allowed managed policy: grant exact actions with an inline policy, or add the ARN to allowedPolicyArns.`,
    );
  }
}

export const iamManagedPolicyAllowList: ResourceValidationPolicy = {
  name: "iam-managed-policy-allow-list",
  description:
    "Checks whether roles attach only allow-listed managed policies, and never AdministratorAccess, PowerUserAccess or *FullAccess.",
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
  validateResource: [
    validateResourceOfType(aws.iam.RolePolicyAttachment, (attachment, args, report) => {
      checkManagedPolicy(
        attachment.policyArn,
        `Role policy attachment ${args.name}`,
        report,
        args.getConfig(),
      );
    }),
    validateResourceOfType(aws.iam.PolicyAttachment, (attachment, args, report) => {
      checkManagedPolicy(attachment.policyArn, `Policy attachment ${args.name}`, report, args.getConfig());
    }),
    validateResourceOfType(aws.iam.Role, (role, args, report) => {
      for (const arn of asArray(role.managedPolicyArns)) {
        checkManagedPolicy(arn, `IAM role ${args.name}`, report, args.getConfig());
      }
    }),
  ],
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
          `Lambda function ${fn.name} shares execution role ${roleName} with ${others.join(", ")}: give each function its own role with only the permissions it needs.`,
          fn.urn,
        );
      }
    }
  },
};
