import * as assert from "node:assert/strict";
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
  ROLE_ARN,
  ROLE_NAME,
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

  const putMetricData = (Condition?: Record<string, unknown>) =>
    rolePolicy({ ...allow(["cloudwatch:PutMetricData"], "*"), ...(Condition ? { Condition } : {}) });

  it("passes X-Ray on Resource *, and PutMetricData with a cloudwatch:namespace condition", async () => {
    await assertNoViolations(
      policy,
      rolePolicy(allow(["xray:PutTraceSegments", "xray:PutTelemetryRecords"], "*")),
    );
    await assertNoViolations(
      policy,
      putMetricData({ StringEquals: { "cloudwatch:namespace": "Platform/Users" } }),
    );
  });

  it("fails when PutMetricData is allowed on Resource * without a cloudwatch:namespace condition", async () => {
    await assertViolation(
      policy,
      putMetricData(),
      'allows "cloudwatch:PutMetricData" on Resource "*" without a "cloudwatch:namespace" condition',
    );
    await assertViolation(
      policy,
      putMetricData({ StringEquals: { "aws:RequestedRegion": "us-east-1" } }),
      'without a "cloudwatch:namespace" condition',
    );
  });

  it("compares condition keys and actions case-insensitively, as IAM does", async () => {
    await assertNoViolations(
      policy,
      rolePolicy({
        ...allow(["CloudWatch:putMetricData"], "*"),
        Condition: { StringLike: { "CloudWatch:Namespace": "Platform/*" } },
      }),
    );
  });

  it("prints the allow-list in its canonical case, naming the role the policy belongs to", async () => {
    const violation = await assertViolation(policy, rolePolicy(allow(["dynamodb:GetItem"], "*")), "only ");
    assert.match(
      violation.message,
      /only "xray:PutTraceSegments", "xray:PutTelemetryRecords", "cloudwatch:PutMetricData" may use "\*"/,
    );
    assert.match(
      violation.message,
      /^IAM role policy subject \(of IAM role app-prod-users-list-role-us-east-1\)/,
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

  it("fails when an Allow statement uses NotAction, listing the NotAction values", async () => {
    await assertViolation(
      policy,
      rolePolicy({ Effect: "Allow", NotAction: ["iam:*", "organizations:*"], Resource: TABLE_ARN }),
      'uses NotAction "iam:*", "organizations:*" with Effect Allow',
    );
  });

  it("lists at most 10 values in a message and says how many more", async () => {
    const actions = Array.from({ length: 14 }, (_, i) => `s3:Get${i}*`);
    const violation = await assertViolation(
      iamNoWildcardActions,
      rolePolicy(allow(actions)),
      '"s3:Get9*" and 4 more in statement 1',
    );
    assert.doesNotMatch(violation.message, /s3:Get10\*/);
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

  it("fails when an AWS managed policy is not on the allow-list, naming the role and a practical fix", async () => {
    const violation = await assertViolation(
      policy,
      attachment("arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess"),
      "attaches the AWS managed policy arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess to IAM role app-prod-users-list-role-us-east-1, which is not on the allow-list",
    );
    assert.match(
      violation.message,
      /with an aws\.iam\.RolePolicy, or, .* add the ARN to allowedPolicyArns .* policy\/config\.<stage>\.json/,
    );
  });

  it("names the role by its logical and physical name when it is in the stack", async () => {
    const stack = stackArgs([
      { type: aws.iam.Role, name: "fn-role", props: { ...roleArgs(), arn: ROLE_ARN } },
      {
        type: aws.iam.RolePolicyAttachment,
        name: "admin",
        props: { role: ROLE_NAME, policyArn: "arn:aws:iam::aws:policy/AdministratorAccess" },
        propertyDependencies: { role: ["fn-role"] },
      },
    ]);
    await assertViolation(
      policy,
      stack,
      `Role policy attachment admin attaches arn:aws:iam::aws:policy/AdministratorAccess to IAM role fn-role (${ROLE_NAME})`,
    );
  });

  const customerManaged = (document: string, arn: unknown = "arn:aws:iam::123456789012:policy/app-reader") =>
    stackArgs([
      { type: aws.iam.Role, name: "fn-role", props: { ...roleArgs(), arn: ROLE_ARN } },
      {
        type: aws.iam.Policy,
        name: "reader",
        props: { policy: document, arn: "arn:aws:iam::123456789012:policy/app-reader" },
      },
      {
        type: aws.iam.RolePolicyAttachment,
        name: "reader-attachment",
        props: { role: ROLE_NAME, policyArn: arn },
        propertyDependencies: { role: ["fn-role"], policyArn: ["reader"] },
      },
    ]);

  it("passes a customer-managed policy created in the stack whose document passes the pack", async () => {
    await assertNoViolations(policy, customerManaged(policyDocument()));
  });

  it("passes it while its ARN is unknown during preview (related by dependency)", async () => {
    await assertNoViolations(policy, customerManaged(policyDocument(), UNKNOWN));
  });

  it("fails when the customer-managed policy created in the stack has a document the pack rejects", async () => {
    await assertViolation(
      policy,
      customerManaged(policyDocument([allow("s3:*")])),
      'attaches IAM policy reader (created in this stack) to IAM role fn-role (app-prod-users-list-role-us-east-1), but its document allows wildcard action(s) "s3:*"',
      { resourceName: "reader-attachment" },
    );
  });

  it("fails for a customer-managed policy outside the stack, saying to create it in the stack", async () => {
    await assertViolation(
      policy,
      attachment("arn:aws:iam::123456789012:policy/legacy"),
      "neither created in this stack nor on the allow-list: create it in this stack as an aws.iam.Policy",
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
