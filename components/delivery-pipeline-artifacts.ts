import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import { type NamingContext, physicalName } from "./naming";

/**
 * The pipeline's artifact store, as children of `parent`: an S3 bucket (globally unique name:
 * account and region appended) encrypted with a customer-managed key that rotates, versioned,
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
  const bucketName = pulumi.interpolate`${physicalName(naming, `${name}-artifacts`, { maxLength: 36 })}-${accountId}-${naming.region}`;
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
