import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import { type NamingContext, physicalName } from "./naming";

/** S3's limit on a general purpose bucket's name. */
export const S3_BUCKET_NAME_MAX_LENGTH = 63;
/**
 * The longest the `app-stage-<name>-artifacts` part may be. It was the fixed limit before the
 * region's length was taken into account: every name that fitted 63 characters then is unchanged
 * (a renamed bucket would be replaced, its artifacts lost).
 */
const ARTIFACTS_PREFIX_MAX_LENGTH = 36;
/** The shortest prefix that still carries a hash and some of the name. */
const ARTIFACTS_PREFIX_MIN_LENGTH = 16;

/**
 * Why `name` is not a valid S3 general purpose bucket name, or `undefined` when it is
 * (https://docs.aws.amazon.com/AmazonS3/latest/userguide/bucketnamingrules.html).
 */
export function s3BucketNameProblem(name: string): string | undefined {
  if (name.length < 3 || name.length > S3_BUCKET_NAME_MAX_LENGTH) {
    return `must be 3 to ${S3_BUCKET_NAME_MAX_LENGTH} characters long (got ${name.length})`;
  }
  if (!/^[a-z0-9][a-z0-9.-]*[a-z0-9]$/.test(name)) {
    return "must be lowercase letters, digits, dots and hyphens, starting and ending with a letter or digit";
  }
  if (name.includes("..")) return "must not contain two adjacent dots";
  if (/^\d{1,3}(\.\d{1,3}){3}$/.test(name)) return "must not look like an IP address";
  const prefix = ["xn--", "sthree-", "amzn-s3-demo-"].find((reserved) => name.startsWith(reserved));
  if (prefix !== undefined) return `must not start with the reserved prefix ${prefix}`;
  const suffix = ["-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3"].find((reserved) =>
    name.endsWith(reserved),
  );
  if (suffix !== undefined) return `must not end with the reserved suffix ${suffix}`;
  return undefined;
}

/**
 * The artifact bucket's name, `<app-stage-name-artifacts>-<account>-<region>` (bucket names are
 * unique per partition): the first part is truncated with a hash (see `physicalName`) so that the
 * whole fits S3's 63 characters in every region, `ap-southeast-7` and `us-gov-west-1` included.
 * Throws, naming the rule, when the result is no valid bucket name (an app or name with capitals).
 */
export function artifactBucketName(naming: NamingContext, name: string, accountId: string): string {
  const suffix = `-${accountId}-${naming.region}`;
  const maxLength = Math.min(ARTIFACTS_PREFIX_MAX_LENGTH, S3_BUCKET_NAME_MAX_LENGTH - suffix.length);
  if (maxLength < ARTIFACTS_PREFIX_MIN_LENGTH) {
    throw new Error(
      `Artifact bucket of pipeline ${name}: account ${JSON.stringify(accountId)} and region ${JSON.stringify(naming.region)} leave ${maxLength} of S3's ${S3_BUCKET_NAME_MAX_LENGTH} characters for the name (at least ${ARTIFACTS_PREFIX_MIN_LENGTH} needed): expected a 12-digit account and a region like us-east-1`,
    );
  }
  const bucketName = `${physicalName(naming, `${name}-artifacts`, { maxLength })}${suffix}`;
  const problem = s3BucketNameProblem(bucketName);
  if (problem !== undefined) {
    throw new Error(`Artifact bucket of pipeline ${name}: bucket name ${bucketName} ${problem}`);
  }
  return bucketName;
}

/**
 * The pipeline's artifact store, as children of `parent`: an S3 bucket (its name unique per
 * partition and at most 63 characters: see `artifactBucketName`) encrypted with a customer-managed key that rotates, versioned,
 * with public access blocked, ACLs disabled, TLS required and old artifacts expired.
 */
export function createArtifactStore(
  name: string,
  naming: NamingContext,
  accountId: pulumi.Input<string>,
  partition: pulumi.Input<string>,
  parent: pulumi.Resource,
): { key: aws.kms.Key; bucket: aws.s3.Bucket; bucketArn: pulumi.Output<string> } {
  // Artifacts: a customer-managed key (rotated), versioning, no public access, TLS only.
  const key = new aws.kms.Key(
    `${name}-artifacts-key`,
    {
      description: `Encrypts the artifacts of pipeline ${physicalName(naming, name)}`,
      enableKeyRotation: true,
      deletionWindowInDays: 30,
    },
    { parent },
  );
  const bucketName = pulumi.output(accountId).apply((account) => artifactBucketName(naming, name, account));
  const bucketResource = new aws.s3.Bucket(`${name}-artifacts`, { bucket: bucketName }, { parent });
  const bucket = bucketResource.id;
  const bucketArn = pulumi.interpolate`arn:${partition}:s3:::${bucketName}`;
  new aws.s3.BucketVersioning(
    `${name}-artifacts-versioning`,
    { bucket, versioningConfiguration: { status: "Enabled" } },
    { parent },
  );
  new aws.s3.BucketServerSideEncryptionConfiguration(
    `${name}-artifacts-encryption`,
    {
      bucket,
      rules: [
        {
          applyServerSideEncryptionByDefault: { sseAlgorithm: "aws:kms", kmsMasterKeyId: key.arn },
          bucketKeyEnabled: true,
        },
      ],
    },
    { parent },
  );
  const publicAccessBlock = new aws.s3.BucketPublicAccessBlock(
    `${name}-artifacts-public-access`,
    {
      bucket,
      blockPublicAcls: true,
      blockPublicPolicy: true,
      ignorePublicAcls: true,
      restrictPublicBuckets: true,
    },
    { parent },
  );
  new aws.s3.BucketOwnershipControls(
    `${name}-artifacts-ownership`,
    { bucket, rule: { objectOwnership: "BucketOwnerEnforced" } },
    { parent },
  );
  new aws.s3.BucketLifecycleConfiguration(
    `${name}-artifacts-lifecycle`,
    {
      bucket,
      rules: [
        {
          id: "expire-old-artifacts",
          status: "Enabled",
          filter: {},
          expiration: { days: 90 },
          noncurrentVersionExpiration: { noncurrentDays: 30 },
        },
      ],
    },
    { parent },
  );
  new aws.s3.BucketPolicy(
    `${name}-artifacts-tls-only`,
    {
      bucket,
      policy: pulumi.jsonStringify({
        Version: "2012-10-17",
        Statement: [
          {
            Sid: "DenyInsecureTransport",
            Effect: "Deny",
            Principal: "*",
            Action: "s3:*",
            Resource: [bucketArn, pulumi.interpolate`${bucketArn}/*`],
            Condition: { Bool: { "aws:SecureTransport": "false" } },
          },
        ],
      }),
    },
    { parent, dependsOn: [publicAccessBlock] },
  );

  return { key, bucket: bucketResource, bucketArn };
}
