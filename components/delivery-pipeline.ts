import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import { createArtifactStore } from "./delivery-pipeline-artifacts";
import {
  applicationBoundaryName,
  applicationBoundaryStatements,
  deployAccess,
  deployBoundaryStatements,
  deployStatements,
  document,
  type Statement,
  trustPolicy,
} from "./delivery-pipeline-permissions";
import { type NamingContext, physicalName } from "./naming";
import { LOG_RETENTION_DAYS } from "./settings";
import { applyTransform, type Transform } from "./transform";

export interface DeliveryPipelineArgs {
  /** Application, stage (`pipeline`) and region of the pipeline stack: the prefix of every name. */
  naming: NamingContext;
  /**
   * The GitHub repository the pipeline builds, `owner/name`.
   * @example "acme/serverless-platform"
   */
  repository: string;
  /** The branch whose pushes start the pipeline. @default "main" */
  branch?: string;
  /**
   * An existing CodeStar connection to GitHub. Without one, the pipeline creates a connection,
   * which stays PENDING until someone completes the handshake in the console once.
   * @default undefined (a new connection)
   */
  connectionArn?: pulumi.Input<string>;
  /**
   * The stages rolled out in order with `platform rollout <stage>`; each after the first waits for
   * a manual approval.
   * @default ["dev", "prod"]
   */
  stages?: string[];
  /**
   * Plain environment of the deploy builds, e.g. the Pulumi backend.
   * @default {}
   * @example { PULUMI_BACKEND_URL: "s3://acme-pulumi-state" }
   */
  deployEnvironment?: Record<string, pulumi.Input<string>>;
  /**
   * Secret environment of the deploy builds: variable name -> Secrets Manager secret ARN; the deploy
   * role may read exactly these secrets.
   * @default {}
   * @example { PULUMI_ACCESS_TOKEN: "arn:aws:secretsmanager:us-east-1:123456789012:secret:pulumi-token-AbCdEf" }
   */
  deploySecrets?: Record<string, pulumi.Input<string>>;
  /** ARN of an S3 bucket holding the Pulumi state (a self-managed backend). @default undefined */
  stateBucketArn?: pulumi.Input<string>;
  /** Pulumi CLI version the deploy builds install. @default "3.249.0" (the rollout's minimum for self-managed backends) */
  pulumiVersion?: string;
  /** CloudWatch Logs retention of the build logs, in days. @default 30 */
  logRetentionDays?: number;
  /** SNS topic told when an approval waits. @default undefined (no notification) */
  approvalTopicArn?: pulumi.Input<string>;
  /** Change a child's args without forking the component. */
  transform?: {
    pipeline?: Transform<aws.codepipeline.PipelineArgs>;
    project?: Transform<aws.codebuild.ProjectArgs>;
    deployRole?: Transform<aws.iam.RoleArgs>;
  };
}

const STAGE_NAME = /^[a-z][a-z0-9-]{0,19}$/;
const REPOSITORY = /^[A-Za-z0-9_.-]+\/[A-Za-z0-9_.-]+$/;

/** The build image: Amazon Linux standard 5.0 has Node.js 20, which the project requires. */
const BUILD_IMAGE = "aws/codebuild/amazonlinux2-x86_64-standard:5.0";

/** A buildspec that installs the project (`npm ci`) and runs `commands`. */
function buildspec(commands: string[], install: string[] = []): string {
  const lines = [
    "version: 0.2",
    "phases:",
    "  install:",
    "    runtime-versions:",
    '      nodejs: "20"',
    "    commands:",
    ...["npm ci --no-audit --no-fund", ...install].map((command) => `      - ${command}`),
    "  build:",
    "    commands:",
    ...commands.map((command) => `      - ${command}`),
  ];
  return `${lines.join("\n")}\n`;
}

/**
 * The guide's CI/CD pipeline, the current way: CodePipeline V2 on a CodeStar connection to GitHub
 * (not the deprecated OAuth source), an encrypted, versioned artifact bucket with public access
 * blocked, a `verify` build (`npm ci`, `npm test`, `platform policy` of every stage) and a
 * `deploy` build per stage (`platform rollout <stage>`), each stage after the first behind a
 * manual approval. Roles are least privilege except the deploy role, whose breadth is documented
 * in delivery-pipeline-permissions.ts and capped by a permissions boundary. The roles it creates
 * must carry the application role boundary (`<app>-application-boundary`, created here): the
 * stages set `platform:roleBoundary` to it, so this stack must be deployed before them.
 *
 * @example
 * new DeliveryPipeline("delivery", {
 *   naming: { app: "platform", stage: "pipeline", region: "us-east-1" },
 *   repository: "acme/serverless-platform",
 *   deployEnvironment: { PULUMI_BACKEND_URL: "s3://acme-pulumi-state" },
 * });
 */
export class DeliveryPipeline extends pulumi.ComponentResource {
  static readonly type = "platform:pipeline:DeliveryPipeline";

  readonly pipeline: aws.codepipeline.Pipeline;
  readonly artifactBucket: aws.s3.Bucket;
  readonly connectionArn: pulumi.Output<string>;
  readonly deployRole: aws.iam.Role;
  readonly boundary: aws.iam.Policy;
  /**
   * The permissions boundary every role of the application's stacks must carry (the deploy role
   * creates and changes no other): `<app>-application-boundary`, the stages' `platform:roleBoundary`.
   */
  readonly applicationBoundary: aws.iam.Policy;

  constructor(name: string, args: DeliveryPipelineArgs, opts?: pulumi.ComponentResourceOptions) {
    super(DeliveryPipeline.type, name, {}, opts);
    const stages = args.stages ?? ["dev", "prod"];
    validate(name, args, stages);
    const { naming } = args;
    const branch = args.branch ?? "main";
    const parent = { parent: this };
    const { accountId } = aws.getCallerIdentityOutput({}, parent);
    const { partition } = aws.getPartitionOutput({}, parent);
    const roleName = (suffix: string) => physicalName(naming, `${name}-${suffix}`, { global: true });
    const roleArn = (roleName: string) =>
      pulumi.interpolate`arn:${partition}:iam::${accountId}:role/${roleName}`;

    this.connectionArn = pulumi.output(
      args.connectionArn ??
        new aws.codestarconnections.Connection(
          `${name}-github`,
          { name: physicalName(naming, name, { maxLength: 32 }), providerType: "GitHub" },
          parent,
        ).arn,
    );

    const {
      key,
      bucket: artifactBucket,
      bucketArn,
    } = createArtifactStore(name, naming, accountId, partition, this);
    this.artifactBucket = artifactBucket;
    const bucket = artifactBucket.id;
    const artifactStatements: Statement[] = [
      {
        Sid: "Artifacts",
        Effect: "Allow",
        Action: ["s3:GetObject", "s3:GetObjectVersion", "s3:PutObject"],
        Resource: pulumi.interpolate`${bucketArn}/*`,
      },
      {
        Sid: "ArtifactBucket",
        Effect: "Allow",
        Action: ["s3:GetBucketVersioning", "s3:GetBucketLocation"],
        Resource: bucketArn,
      },
      {
        Sid: "ArtifactKey",
        Effect: "Allow",
        Action: ["kms:Decrypt", "kms:GenerateDataKey"],
        Resource: key.arn,
      },
      // A CODEBUILD_CLONE_REF source is a git clone through the connection (npm test runs git).
      {
        Sid: "Connection",
        Effect: "Allow",
        Action: ["codestar-connections:UseConnection"],
        Resource: this.connectionArn,
      },
    ];

    // CodeBuild: one role and log group per project; the verify role reaches nothing but its build.
    const codebuildTrust = trustPolicy("codebuild.amazonaws.com", accountId);
    const logRetention = args.logRetentionDays ?? 30;
    const project = (
      suffix: string,
      role: aws.iam.Role,
      spec: string,
      environment: aws.types.input.codebuild.ProjectEnvironment,
    ) => {
      const projectName = physicalName(naming, `${name}-${suffix}`, { maxLength: 150 });
      const logGroup = new aws.cloudwatch.LogGroup(
        `${name}-${suffix}-logs`,
        { name: `/aws/codebuild/${projectName}`, retentionInDays: logRetention },
        parent,
      );
      return new aws.codebuild.Project(
        `${name}-${suffix}`,
        applyTransform(args.transform?.project, {
          name: projectName,
          serviceRole: role.arn,
          encryptionKey: key.arn,
          artifacts: { type: "CODEPIPELINE" },
          source: { type: "CODEPIPELINE", buildspec: spec },
          environment,
          buildTimeout: 60,
          logsConfig: { cloudwatchLogs: { groupName: logGroup.name } },
        }),
        parent,
      );
    };
    const logStatement = (suffix: string): Statement => ({
      Sid: "BuildLogs",
      Effect: "Allow",
      Action: ["logs:CreateLogStream", "logs:PutLogEvents"],
      Resource: pulumi.interpolate`arn:${partition}:logs:${naming.region}:${accountId}:log-group:/aws/codebuild/${physicalName(naming, `${name}-${suffix}`, { maxLength: 150 })}:*`,
    });
    const environment = (
      variables: Record<string, pulumi.Input<string>>,
      secrets: Record<string, pulumi.Input<string>> = {},
    ) => ({
      type: "LINUX_CONTAINER",
      computeType: "BUILD_GENERAL1_MEDIUM",
      image: BUILD_IMAGE,
      environmentVariables: [
        ...Object.entries(variables).map(([variable, value]) => ({
          name: variable,
          value,
          type: "PLAINTEXT",
        })),
        ...Object.entries(secrets).map(([variable, value]) => ({
          name: variable,
          value,
          type: "SECRETS_MANAGER",
        })),
      ],
    });

    const verifyRole = new aws.iam.Role(
      `${name}-verify-role`,
      {
        name: roleName("verify"),
        description: `CodeBuild ${name}-verify: tests and policy checks, no AWS access`,
        assumeRolePolicy: codebuildTrust,
      },
      parent,
    );
    new aws.iam.RolePolicy(
      `${name}-verify-policy`,
      { role: verifyRole.id, policy: document([...artifactStatements, logStatement("verify")]) },
      parent,
    );
    const verify = project(
      "verify",
      verifyRole,
      buildspec(["npm test", ...stages.map((stage) => `npx platform policy ${stage}`)]),
      environment({ CI: "true" }),
    );

    // The deploy role: broad on the application's resources, capped by the boundary (see why there).
    const deployRoleName = roleName("deploy");
    const boundaryName = physicalName(naming, `${name}-deploy-boundary`, { global: true, maxLength: 128 });
    const boundaryArn = pulumi.interpolate`arn:${partition}:iam::${accountId}:policy/${boundaryName}`;
    const scope = { partition, accountId, app: naming.app };
    const applicationBoundaryPolicyName = applicationBoundaryName(naming.app);
    this.applicationBoundary = new aws.iam.Policy(
      `${name}-application-boundary`,
      {
        name: applicationBoundaryPolicyName,
        description: `Permissions boundary of every role ${deployRoleName} creates: the application's resources only`,
        policy: document(applicationBoundaryStatements(scope)),
      },
      parent,
    );
    this.boundary = new aws.iam.Policy(
      `${name}-deploy-boundary`,
      {
        name: boundaryName,
        description: `Permissions boundary of ${deployRoleName}: the application's resources only; never the pipeline's roles, key or this boundary`,
        policy: document(
          deployBoundaryStatements({
            ...scope,
            boundaryArn,
            // Named, not this.applicationBoundary.arn: the same ARN either way, and the deploy
            // boundary need not wait for the policy.
            applicationBoundaryArn: pulumi.interpolate`arn:${partition}:iam::${accountId}:policy/${applicationBoundaryPolicyName}`,
            pipelineArns: [
              roleArn(roleName("verify")),
              roleArn(deployRoleName),
              roleArn(roleName("pipeline")),
              key.arn,
            ],
          }).concat(artifactStatements, [logStatement("deploy")], deployAccess(args)),
        ),
      },
      parent,
    );
    this.deployRole = new aws.iam.Role(
      `${name}-deploy-role`,
      applyTransform(args.transform?.deployRole, {
        name: deployRoleName,
        description: `CodeBuild ${name}-deploy: platform rollout of each stage (bounded by ${boundaryName})`,
        assumeRolePolicy: codebuildTrust,
        permissionsBoundary: this.boundary.arn,
      }),
      parent,
    );
    new aws.iam.RolePolicy(
      `${name}-deploy-policy`,
      {
        role: this.deployRole.id,
        policy: document([
          ...deployStatements(scope),
          ...artifactStatements,
          logStatement("deploy"),
          ...deployAccess(args),
        ]),
      },
      parent,
    );
    const deploy = project(
      "deploy",
      this.deployRole,
      buildspec(
        ['npx platform rollout "$PLATFORM_STAGE"'],
        [
          `curl -fsSL https://get.pulumi.com | sh -s -- --version ${args.pulumiVersion ?? "3.249.0"}`,
          'export PATH="$HOME/.pulumi/bin:$PATH"',
        ],
      ),
      environment({ CI: "true", ...args.deployEnvironment }, args.deploySecrets),
    );

    // The pipeline: source, verify, then each stage (after the first behind an approval).
    const pipelineRole = new aws.iam.Role(
      `${name}-pipeline-role`,
      {
        name: roleName("pipeline"),
        description: `CodePipeline ${name}`,
        assumeRolePolicy: trustPolicy("codepipeline.amazonaws.com", accountId),
      },
      parent,
    );
    new aws.iam.RolePolicy(
      `${name}-pipeline-policy`,
      {
        role: pipelineRole.id,
        policy: document([
          ...artifactStatements,
          {
            Sid: "Builds",
            Effect: "Allow",
            Action: ["codebuild:StartBuild", "codebuild:BatchGetBuilds"],
            Resource: [verify.arn, deploy.arn],
          },
          ...(args.approvalTopicArn
            ? [
                {
                  Sid: "ApprovalTopic",
                  Effect: "Allow" as const,
                  Action: ["sns:Publish"],
                  Resource: args.approvalTopicArn,
                },
              ]
            : []),
        ]),
      },
      parent,
    );
    const codebuild = (
      actionName: string,
      projectName: pulumi.Input<string>,
      variables?: Record<string, string>,
    ) => ({
      name: actionName,
      category: "Build",
      owner: "AWS",
      provider: "CodeBuild",
      version: "1",
      inputArtifacts: ["source"],
      configuration: {
        ProjectName: projectName,
        ...(variables
          ? {
              EnvironmentVariables: JSON.stringify(
                Object.entries(variables).map(([n, value]) => ({ name: n, value, type: "PLAINTEXT" })),
              ),
            }
          : {}),
      },
    });
    const stageBlocks = stages.flatMap((stage, index) => [
      ...(index > 0
        ? [
            {
              name: `Approve-${stage}`,
              actions: [
                {
                  name: "Approve",
                  category: "Approval",
                  owner: "AWS",
                  provider: "Manual",
                  version: "1",
                  configuration: {
                    CustomData: `Roll out ${stage}: check the ${stages[index - 1]} rollout first`,
                    ...(args.approvalTopicArn ? { NotificationArn: args.approvalTopicArn } : {}),
                  },
                },
              ],
            },
          ]
        : []),
      { name: `Deploy-${stage}`, actions: [codebuild("Rollout", deploy.name, { PLATFORM_STAGE: stage })] },
    ]);
    this.pipeline = new aws.codepipeline.Pipeline(
      `${name}-pipeline`,
      applyTransform(args.transform?.pipeline, {
        name: physicalName(naming, name, { maxLength: 100 }),
        pipelineType: "V2",
        // One execution at a time, in order: two rollouts of a stage never overlap.
        executionMode: "QUEUED",
        roleArn: pipelineRole.arn,
        artifactStores: [{ location: bucket, type: "S3", encryptionKey: { id: key.arn, type: "KMS" } }],
        stages: [
          {
            name: "Source",
            actions: [
              {
                name: "Source",
                category: "Source",
                owner: "AWS",
                provider: "CodeStarSourceConnection",
                version: "1",
                outputArtifacts: ["source"],
                configuration: {
                  ConnectionArn: this.connectionArn,
                  FullRepositoryId: args.repository,
                  BranchName: branch,
                  OutputArtifactFormat: "CODEBUILD_CLONE_REF",
                  DetectChanges: "false",
                },
              },
            ],
          },
          { name: "Verify", actions: [codebuild("Verify", verify.name)] },
          ...stageBlocks,
        ],
        triggers: [
          {
            providerType: "CodeStarSourceConnection",
            gitConfiguration: { sourceActionName: "Source", pushes: [{ branches: { includes: [branch] } }] },
          },
        ],
      }),
      parent,
    );
    this.registerOutputs({
      pipeline: this.pipeline.name,
      artifactBucket: this.artifactBucket.id,
      connectionArn: this.connectionArn,
      deployRole: this.deployRole.arn,
      applicationBoundary: this.applicationBoundary.arn,
    });
  }
}

function validate(name: string, args: DeliveryPipelineArgs, stages: string[]): void {
  if (!REPOSITORY.test(args.repository)) {
    throw new Error(
      `DeliveryPipeline ${name}: repository must be "owner/name" (got ${JSON.stringify(args.repository)})`,
    );
  }
  if (stages.length === 0 || new Set(stages).size !== stages.length) {
    throw new Error(
      `DeliveryPipeline ${name}: stages must list at least one stage, each once (got ${JSON.stringify(stages)})`,
    );
  }
  const bad = stages.find((stage) => !STAGE_NAME.test(stage));
  if (bad !== undefined) {
    throw new Error(
      `DeliveryPipeline ${name}: stage ${JSON.stringify(bad)} must be lowercase letters, digits and hyphens, starting with a letter (at most 20)`,
    );
  }
  if (
    args.logRetentionDays !== undefined &&
    !(LOG_RETENTION_DAYS as readonly number[]).includes(args.logRetentionDays)
  ) {
    throw new Error(
      `DeliveryPipeline ${name}: logRetentionDays must be one of ${LOG_RETENTION_DAYS.join(", ")} (got ${args.logRetentionDays})`,
    );
  }
}
