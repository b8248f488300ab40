import * as aws from "@pulumi/aws";
import {
  iamLambdaRoleNotShared,
  iamManagedPolicyAllowList,
  iamNoAllowWithNotAction,
  iamNoWildcardActions,
  iamNoWildcardResources,
} from "../../policy/iam";
import {
  changed,
  happyStack,
  plus,
  policyDocument,
  roleArgs,
  rolePolicyArgs,
  rolePolicyAttachmentArgs,
  TABLE_ARN,
} from "./factories";
import { assertNoViolations, assertViolation, resourceArgs, stackArgs, UNKNOWN } from "./util";

const allow = (Action: unknown, Resource: unknown = [TABLE_ARN]) => ({ Effect: "Allow", Action, Resource });
const rolePolicy = (...statements: Record<string, unknown>[]) =>
  resourceArgs(aws.iam.RolePolicy, { ...rolePolicyArgs(), policy: policyDocument(statements) });

describe("policy iam-no-wildcard-actions", () => {
  const policy = iamNoWildcardActions;

  it("passes exact actions in role policies, policies and inline role policies", async () => {
    await assertNoViolations(policy, resourceArgs(aws.iam.RolePolicy, rolePolicyArgs()));
    await assertNoViolations(policy, resourceArgs(aws.iam.Policy, { policy: policyDocument() }));
    await assertNoViolations(
      policy,
      resourceArgs(aws.iam.Role, {
        ...roleArgs(),
        inlinePolicies: [{ name: "base", policy: policyDocument() }],
      }),
    );
  });

  it("fails when an action is *", async () => {
    await assertViolation(policy, rolePolicy(allow("*")), 'wildcard action(s) "*"');
  });

  it("fails when an action is service:*", async () => {
    await assertViolation(policy, rolePolicy(allow(["dynamodb:*"])), '"dynamodb:*"');
  });

  it("fails when an action is a partial wildcard such as s3:Get*", async () => {
    await assertViolation(policy, rolePolicy({ Sid: "Read", ...allow(["s3:Get*"]) }), 'statement "Read"');
  });

  it("fails when a policy document is an object rather than a JSON string", async () => {
    const document = { Version: "2012-10-17", Statement: [allow("s3:*")] };
    await assertViolation(
      policy,
      resourceArgs(aws.iam.Policy, { policy: document as unknown as string }),
      "IAM policy subject allows wildcard",
    );
  });

  it("fails when a wildcard is in an inline policy of a role", async () => {
    await assertViolation(
      policy,
      resourceArgs(aws.iam.Role, {
        ...roleArgs(),
        inlinePolicies: [{ name: "admin", policy: policyDocument([allow("iam:*", "*")]) }],
      }),
      'Inline policy "admin" of IAM role subject',
    );
  });

  it("fails when a policy document is not JSON", async () => {
    await assertViolation(policy, resourceArgs(aws.iam.Policy, { policy: "{not json" }), "is not valid JSON");
  });

  it("passes wildcards in Deny statements", async () => {
    await assertNoViolations(policy, rolePolicy({ Effect: "Deny", Action: "*", Resource: "*" }));
  });

  it("reports an advisory 'can't run during preview' when the document is unknown", async () => {
    await assertViolation(
      policy,
      resourceArgs(aws.iam.RolePolicy, { ...rolePolicyArgs(), policy: UNKNOWN }),
      "can't run policy 'iam-no-wildcard-actions'",
      { level: "advisory" },
    );
  });
});

describe("policy iam-no-wildcard-resources", () => {
  const policy = iamNoWildcardResources;

  it("passes X-Ray and PutMetricData on Resource *", async () => {
    await assertNoViolations(
      policy,
      rolePolicy(allow(["xray:PutTraceSegments", "cloudwatch:PutMetricData"], "*")),
    );
  });

  it("fails when another action is allowed on Resource *", async () => {
    await assertViolation(
      policy,
      rolePolicy(allow(["dynamodb:GetItem"], "*")),
      '"dynamodb:GetItem" on Resource "*"',
    );
  });

  it("fails when Resource is a list holding *", async () => {
    await assertViolation(policy, rolePolicy(allow(["sqs:SendMessage"], [TABLE_ARN, "*"])), "scope them");
  });

  it("accepts more actions through its config", async () => {
    await assertNoViolations(policy, {
      ...rolePolicy(allow(["ec2:DescribeNetworkInterfaces"], "*")),
      config: { allowedActions: ["ec2:DescribeNetworkInterfaces"] },
    });
  });
});

describe("policy iam-no-allow-not-action", () => {
  const policy = iamNoAllowWithNotAction;

  it("passes statements with Action and Resource", async () => {
    await assertNoViolations(policy, resourceArgs(aws.iam.RolePolicy, rolePolicyArgs()));
  });

  it("fails when an Allow statement uses NotAction", async () => {
    await assertViolation(
      policy,
      rolePolicy({ Effect: "Allow", NotAction: "iam:*", Resource: TABLE_ARN }),
      "uses NotAction",
    );
  });

  it("fails when an Allow statement uses NotResource", async () => {
    await assertViolation(
      policy,
      rolePolicy({ Effect: "Allow", Action: "s3:GetObject", NotResource: TABLE_ARN }),
      "uses NotResource",
    );
  });

  it("passes NotAction in a Deny statement", async () => {
    await assertNoViolations(
      policy,
      rolePolicy({ Effect: "Deny", NotAction: "s3:GetObject", Resource: "*" }),
    );
  });
});

describe("policy iam-managed-policy-allow-list", () => {
  const policy = iamManagedPolicyAllowList;
  const attachment = (policyArn: string) =>
    resourceArgs(aws.iam.RolePolicyAttachment, { ...rolePolicyAttachmentArgs(), policyArn });

  it("passes the allow-listed AWS managed policies", async () => {
    for (const arn of [
      "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole",
      "arn:aws:iam::aws:policy/service-role/AWSCodeDeployRoleForLambda",
      "arn:aws:iam::aws:policy/CloudWatchLambdaInsightsExecutionRolePolicy",
      "arn:aws:iam::aws:policy/service-role/AmazonAPIGatewayPushToCloudWatchLogs",
      "arn:aws-cn:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole",
    ]) {
      await assertNoViolations(policy, attachment(arn));
    }
  });

  it("fails when AdministratorAccess is attached", async () => {
    await assertViolation(
      policy,
      attachment("arn:aws:iam::aws:policy/AdministratorAccess"),
      "AdministratorAccess grants",
    );
  });

  it("fails when PowerUserAccess is attached", async () => {
    await assertViolation(
      policy,
      attachment("arn:aws:iam::aws:policy/PowerUserAccess"),
      "PowerUserAccess grants",
    );
  });

  it("fails when a *FullAccess policy is attached, even if allow-listed", async () => {
    await assertViolation(
      { ...policy },
      {
        ...attachment("arn:aws:iam::aws:policy/AmazonDynamoDBFullAccess"),
        config: { allowedPolicyArns: ["arn:aws:iam::aws:policy/AmazonDynamoDBFullAccess"] },
      },
      "AmazonDynamoDBFullAccess grants every action of a service",
    );
  });

  it("fails when a policy is not on the allow-list", async () => {
    await assertViolation(
      policy,
      attachment("arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess"),
      "not an allowed managed policy",
    );
  });

  it("fails when a role lists a forbidden managedPolicyArns entry", async () => {
    await assertViolation(
      policy,
      resourceArgs(aws.iam.Role, {
        ...roleArgs(),
        managedPolicyArns: ["arn:aws:iam::aws:policy/AdministratorAccess"],
      }),
      "IAM role subject attaches arn:aws:iam::aws:policy/AdministratorAccess",
    );
  });

  it("fails when a policy attachment attaches a forbidden policy", async () => {
    await assertViolation(
      policy,
      resourceArgs(aws.iam.PolicyAttachment, {
        policyArn: "arn:aws:iam::aws:policy/AWSLambda_FullAccess",
        roles: ["r"],
      }),
      "AWSLambda_FullAccess",
    );
  });
});

describe("policy iam-lambda-role-not-shared", () => {
  const policy = iamLambdaRoleNotShared;

  it("passes a function with a role of its own", async () => {
    await assertNoViolations(policy, stackArgs(happyStack()));
  });

  it("fails when two functions use the same role (by dependency)", async () => {
    const stack = plus(happyStack(), {
      type: aws.lambda.Function,
      name: "other-fn",
      props: { name: "app-prod-other", role: "unused" },
      propertyDependencies: { role: ["fn-role"] },
    });
    await assertViolation(
      policy,
      stackArgs(stack),
      "Lambda function fn shares execution role fn-role with other-fn",
      {
        resourceName: "fn",
      },
    );
    await assertViolation(policy, stackArgs(stack), "with fn", { resourceName: "other-fn" });
  });

  it("fails when two functions use the same role ARN of a role outside the stack", async () => {
    const external = "arn:aws:iam::123456789012:role/shared";
    const stack = [
      { type: aws.lambda.Function, name: "a", props: { name: "a", role: external } },
      { type: aws.lambda.Function, name: "b", props: { name: "b", role: external } },
    ];
    await assertViolation(policy, stackArgs(stack), `shares execution role ${external}`);
  });

  it("passes when the roles are distinct but one is known only by dependency", async () => {
    const stack = changed(happyStack(), "fn", { role: UNKNOWN });
    await assertNoViolations(policy, stackArgs(stack));
  });
});
