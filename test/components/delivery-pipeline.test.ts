import * as assert from "node:assert/strict";
import { DeliveryPipeline, type DeliveryPipelineArgs } from "../../components/delivery-pipeline";
import { parsePipelineSettings } from "../../pipeline/settings";
import { policyStatements, record, testNaming } from "../helpers/pulumi";

const PIPELINE = "aws:codepipeline/pipeline:Pipeline";
const PROJECT = "aws:codebuild/project:Project";
const ROLE = "aws:iam/role:Role";
const ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy";
const POLICY = "aws:iam/policy:Policy";

function args(overrides: Partial<DeliveryPipelineArgs> = {}): DeliveryPipelineArgs {
  return {
    naming: testNaming("pipeline"),
    repository: "acme/serverless-platform",
    deployEnvironment: { PULUMI_BACKEND_URL: "s3://acme-state" },
    ...overrides,
  };
}

type Stage = {
  name: string;
  actions: { name: string; provider: string; configuration?: Record<string, string> }[];
};
const actionsOf = (stages: Stage[]) =>
  stages.flatMap((stage) => stage.actions.map((a) => `${stage.name}/${a.provider}`));
const allActions = (statements: Record<string, unknown>[]) =>
  statements.filter((s) => s.Effect === "Allow").flatMap((s) => [s.Action].flat() as string[]);

describe("DeliveryPipeline", () => {
  it("builds a V2 pipeline, one execution at a time: source, verify, dev, approval, prod", async () => {
    const { get } = await record(() => new DeliveryPipeline("dp-order", args()));
    const pipeline = get(PIPELINE, "dp-order-pipeline").inputs;
    assert.equal(pipeline.pipelineType, "V2");
    assert.equal(pipeline.executionMode, "QUEUED");
    assert.deepEqual(actionsOf(pipeline.stages as Stage[]), [
      "Source/CodeStarSourceConnection",
      "Verify/CodeBuild",
      "Deploy-dev/CodeBuild",
      "Approve-prod/Manual",
      "Deploy-prod/CodeBuild",
    ]);
  });

  it("sources the branch through a CodeStar connection it creates, as a git clone", async () => {
    const { get } = await record(() => new DeliveryPipeline("dp-source", args({ branch: "release" })));
    const connection = get("aws:codestarconnections/connection:Connection", "dp-source-github");
    assert.equal(connection.inputs.providerType, "GitHub");
    const source = (get(PIPELINE, "dp-source-pipeline").inputs.stages as Stage[])[0].actions[0]
      .configuration!;
    assert.equal(source.ConnectionArn, connection.outputs.arn);
    assert.equal(source.FullRepositoryId, "acme/serverless-platform");
    assert.equal(source.BranchName, "release");
    assert.equal(source.OutputArtifactFormat, "CODEBUILD_CLONE_REF");
  });

  it("uses a given connection instead of creating one", async () => {
    const arn = "arn:aws:codestar-connections:us-east-1:123456789012:connection/abc";
    const { ofType, get } = await record(() => new DeliveryPipeline("dp-conn", args({ connectionArn: arn })));
    assert.deepEqual(ofType("aws:codestarconnections/connection:Connection"), []);
    assert.equal(
      (get(PIPELINE, "dp-conn-pipeline").inputs.stages as Stage[])[0].actions[0].configuration!.ConnectionArn,
      arn,
    );
  });

  it("keeps artifacts in a versioned bucket encrypted with a rotating key, public access blocked, TLS only", async () => {
    const { get } = await record(() => new DeliveryPipeline("dp-art", args()));
    const key = get("aws:kms/key:Key", "dp-art-artifacts-key");
    assert.equal(key.inputs.enableKeyRotation, true);
    const encryption = get(
      "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
      "dp-art-artifacts-encryption",
    ).inputs.rules as { applyServerSideEncryptionByDefault: Record<string, string> }[];
    assert.deepEqual(encryption[0].applyServerSideEncryptionByDefault, {
      sseAlgorithm: "aws:kms",
      kmsMasterKeyId: key.outputs.arn,
    });
    assert.deepEqual(
      get("aws:s3/bucketVersioning:BucketVersioning", "dp-art-artifacts-versioning").inputs
        .versioningConfiguration,
      { status: "Enabled" },
    );
    const block = get(
      "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock",
      "dp-art-artifacts-public-access",
    ).inputs;
    for (const field of [
      "blockPublicAcls",
      "blockPublicPolicy",
      "ignorePublicAcls",
      "restrictPublicBuckets",
    ]) {
      assert.equal(block[field], true, field);
    }
    const [tls] = policyStatements(get("aws:s3/bucketPolicy:BucketPolicy", "dp-art-artifacts-tls-only"));
    assert.deepEqual(tls.Condition, { Bool: { "aws:SecureTransport": "false" } });
    assert.equal(tls.Effect, "Deny");
    const store = (get(PIPELINE, "dp-art-pipeline").inputs.artifactStores as { encryptionKey: unknown }[])[0];
    assert.deepEqual(store.encryptionKey, { id: key.outputs.arn, type: "KMS" });
  });

  it("verifies with npm ci, npm test and platform policy of every stage, and deploys with platform rollout", async () => {
    const { get } = await record(
      () => new DeliveryPipeline("dp-build", args({ stages: ["dev", "staging", "prod"] })),
    );
    const verify = (get(PROJECT, "dp-build-verify").inputs.source as { buildspec: string }).buildspec;
    for (const command of [
      "npm ci",
      "npm test",
      "npx platform policy dev",
      "npx platform policy staging",
      "npx platform policy prod",
    ]) {
      assert.ok(verify.includes(`- ${command}`), `${command} in\n${verify}`);
    }
    const deploy = (get(PROJECT, "dp-build-deploy").inputs.source as { buildspec: string }).buildspec;
    assert.match(deploy, /- npx platform rollout "\$PLATFORM_STAGE"/);
    assert.match(deploy, /get\.pulumi\.com \| sh -s -- --version 3\.249\.0/);
    const stages = get(PIPELINE, "dp-build-pipeline").inputs.stages as Stage[];
    const stageOf = (name: string) =>
      JSON.parse(stages.find((s) => s.name === name)!.actions[0].configuration!.EnvironmentVariables);
    assert.deepEqual(stageOf("Deploy-staging"), [
      { name: "PLATFORM_STAGE", value: "staging", type: "PLAINTEXT" },
    ]);
    assert.ok(
      stages.some((s) => s.name === "Approve-staging") && stages.some((s) => s.name === "Approve-prod"),
    );
  });

  it("gives the verify build no AWS access beyond its artifacts, key, logs and connection", async () => {
    const { get } = await record(() => new DeliveryPipeline("dp-verify", args()));
    assert.deepEqual(allActions(policyStatements(get(ROLE_POLICY, "dp-verify-verify-policy"))).sort(), [
      "codestar-connections:UseConnection",
      "kms:Decrypt",
      "kms:GenerateDataKey",
      "logs:CreateLogStream",
      "logs:PutLogEvents",
      "s3:GetBucketLocation",
      "s3:GetBucketVersioning",
      "s3:GetObject",
      "s3:GetObjectVersion",
      "s3:PutObject",
    ]);
  });

  it("bounds the deploy role by a boundary that denies the pipeline's own roles, key and the boundary itself", async () => {
    const { get } = await record(() => new DeliveryPipeline("dp-bound", args()));
    const boundary = get(POLICY, "dp-bound-deploy-boundary");
    assert.equal(get(ROLE, "dp-bound-deploy-role").inputs.permissionsBoundary, boundary.outputs.arn);
    const deny = policyStatements(boundary).find((s) => s.Sid === "DenyPipelineResourcesAndBoundary")!;
    const resources = deny.Resource as string[];
    assert.deepEqual(deny.Action, ["iam:*", "kms:*"]);
    assert.ok(resources.includes(boundary.outputs.arn as string), "the boundary itself");
    assert.ok(resources.includes(get(ROLE, "dp-bound-deploy-role").outputs.arn as string), "the deploy role");
    assert.ok(resources.includes(get(ROLE, "dp-bound-verify-role").outputs.arn as string), "the verify role");
    assert.ok(
      resources.includes(get("aws:kms/key:Key", "dp-bound-artifacts-key").outputs.arn as string),
      "the key",
    );
  });

  it("creates the application role boundary named <app>-application-boundary, with no IAM action", async () => {
    const naming = testNaming("pipeline");
    const { get } = await record(() => new DeliveryPipeline("dp-appb", args({ naming })));
    const boundary = get(POLICY, "dp-appb-application-boundary");
    assert.equal(boundary.inputs.name, `${naming.app}-application-boundary`);
    const actions = allActions(policyStatements(boundary));
    assert.deepEqual(
      actions.filter((action) => action.startsWith("iam:") || action.includes("*")),
      [],
    );
  });

  it("lets the deploy role create, bound and grant only roles that carry the application boundary", async () => {
    const { get } = await record(() => new DeliveryPipeline("dp-appd", args()));
    const applicationBoundary = get(POLICY, "dp-appd-application-boundary").outputs.arn as string;
    const statements = policyStatements(get(POLICY, "dp-appd-deploy-boundary"));
    const deny = statements.find((s) => s.Sid === "DenyRolesWithoutApplicationBoundary")!;
    assert.deepEqual(deny.Action, [
      "iam:CreateRole",
      "iam:PutRolePermissionsBoundary",
      "iam:PutRolePolicy",
      "iam:AttachRolePolicy",
    ]);
    assert.deepEqual(deny.Condition, { StringNotEquals: { "iam:PermissionsBoundary": applicationBoundary } });
    const protectedArns = statements.find((s) => s.Sid === "DenyPipelineResourcesAndBoundary")!.Resource;
    assert.ok(
      (protectedArns as string[]).includes(applicationBoundary),
      "the application boundary is unchangeable",
    );
  });

  it("scopes the deploy role's service-wide actions to resources named with the application's prefix", async () => {
    const naming = testNaming("pipeline");
    const { get } = await record(() => new DeliveryPipeline("dp-scope", args({ naming })));
    const services = policyStatements(get(ROLE_POLICY, "dp-scope-deploy-policy")).find(
      (s) => s.Sid === "ApplicationServices",
    )!;
    for (const resource of services.Resource as string[]) {
      // A resolved ARN: an Output interpolated without pulumi.interpolate reads "arn:Calling [toString]...".
      assert.match(resource, /^arn:aws:[a-z0-9-]+:[a-z0-9*-]*:123456789012:/, resource);
      assert.ok(
        resource.includes(`${naming.app}-`) ||
          /event-source-mapping:\*|deploymentconfig:\*|API-Gateway-Execution-Logs_\*/.test(resource),
        resource,
      );
    }
  });

  it("lets the deploy role read exactly its secrets", async () => {
    const secret = "arn:aws:secretsmanager:us-east-1:123456789012:secret:pulumi-token-AbCdEf";
    const { get } = await record(
      () => new DeliveryPipeline("dp-secret", args({ deploySecrets: { PULUMI_ACCESS_TOKEN: secret } })),
    );
    const statement = policyStatements(get(ROLE_POLICY, "dp-secret-deploy-policy")).find(
      (s) => s.Sid === "DeploySecrets",
    );
    assert.deepEqual(statement?.Resource, [secret]);
    const variables = (
      get(PROJECT, "dp-secret-deploy").inputs.environment as { environmentVariables: unknown[] }
    ).environmentVariables;
    assert.deepEqual(
      variables.find((v) => (v as { name: string }).name === "PULUMI_ACCESS_TOKEN"),
      { name: "PULUMI_ACCESS_TOKEN", value: secret, type: "SECRETS_MANAGER" },
    );
  });

  it("keeps build logs in log groups with a retention", async () => {
    const { ofType } = await record(() => new DeliveryPipeline("dp-logs", args({ logRetentionDays: 14 })));
    const groups = ofType("aws:cloudwatch/logGroup:LogGroup");
    assert.equal(groups.length, 2);
    for (const group of groups) assert.equal(group.inputs.retentionInDays, 14);
  });

  it("rejects a repository that is not owner/name, naming the field", () => {
    assert.throws(
      () => new DeliveryPipeline("dp-bad-repo", args({ repository: "https://github.com/acme" })),
      /repository must be "owner\/name"/,
    );
  });

  it("rejects a stage name that is not a stack name, and repeated stages", () => {
    assert.throws(
      () => new DeliveryPipeline("dp-bad-stage", args({ stages: ["Prod"] })),
      /stage "Prod" must be lowercase/,
    );
    assert.throws(() => new DeliveryPipeline("dp-dup-stage", args({ stages: ["dev", "dev"] })), /each once/);
  });
});

describe("pipeline stack settings", () => {
  const context = { stack: "pipeline", region: "us-east-1" };

  it("reads stages from config JSON text and defaults the rest", () => {
    const settings = parsePipelineSettings(
      { repository: "acme/app", stages: '["dev","prod"]', backendUrl: "s3://state" },
      context,
    );
    assert.deepEqual(settings.stages, ["dev", "prod"]);
    assert.equal(settings.branch, "main");
    assert.equal(settings.logRetentionDays, 30);
  });

  it("names each bad key with what it accepts", () => {
    assert.throws(
      () =>
        parsePipelineSettings(
          { repository: "acme", backendUrl: "s3://state", logRetentionDays: "8" },
          context,
        ),
      (error: Error) =>
        /pipeline:repository must be a GitHub repository, owner\/name \(got "acme"\)/.test(error.message) &&
        /pipeline:logRetentionDays must be one of 1, 3, 5, 7/.test(error.message),
    );
  });

  it("requires a Pulumi backend for the deploy builds", () => {
    assert.throws(
      () => parsePipelineSettings({ repository: "acme/app" }, context),
      /pipeline:backendUrl or pipeline:accessTokenSecretArn must be set/,
    );
  });
});
