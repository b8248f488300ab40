import * as assert from "node:assert/strict";
import * as pulumi from "@pulumi/pulumi";
import {
  artifactBucketName,
  createArtifactStore,
  s3BucketNameProblem,
} from "../../components/delivery-pipeline-artifacts";
import { type NamingContext, physicalName } from "../../components/naming";
import { AWS_REGIONS } from "../../components/settings";
import { policyStatements, record } from "../helpers/pulumi";

const ACCOUNT = "123456789012";
const BUCKET = "aws:s3/bucket:Bucket";
/** The longest real region names (14 characters), other partitions' included, and a few others. */
const LONG_REGIONS = [
  "ap-southeast-7",
  "ap-northeast-1",
  "cn-northwest-1",
  "us-isob-east-1",
  "us-gov-west-1",
  "il-central-1",
  "ca-west-1",
];
const REGIONS = [...new Set([...AWS_REGIONS, ...LONG_REGIONS])];
/** The longest app the settings accept (20 characters) and the pipeline's stage. */
const LONGEST_APP = "a".repeat(20);

const naming = (region: string, app = LONGEST_APP): NamingContext => ({ app, stage: "pipeline", region });
/** The name as it was built before the region's length counted. */
const formerName = (context: NamingContext, name: string) =>
  `${physicalName(context, `${name}-artifacts`, { maxLength: 36 })}-${ACCOUNT}-${context.region}`;

/** Builds the artifact store under a throwaway parent component. */
function store(name: string, context: NamingContext) {
  const parent = new pulumi.ComponentResource("test:index:Parent", `${name}-parent`);
  return createArtifactStore(name, context, ACCOUNT, "aws", parent);
}

describe("artifact bucket name", () => {
  it("is a valid S3 bucket name of at most 63 characters in every platform region and the longest region names", () => {
    for (const region of REGIONS) {
      for (const name of ["delivery", "a-pipeline-with-a-rather-long-name"]) {
        const bucket = artifactBucketName(naming(region), name, ACCOUNT);
        assert.equal(s3BucketNameProblem(bucket), undefined, `${bucket} (${region})`);
        assert.ok(bucket.length <= 63, `${bucket} is ${bucket.length} characters (${region})`);
      }
    }
  });

  it("ends with the account and the region, so that it is unique per partition", () => {
    const bucket = artifactBucketName(naming("ap-southeast-7"), "delivery", ACCOUNT);

    assert.match(bucket, /-123456789012-ap-southeast-7$/);
  });

  it("keeps every name that fitted 63 characters before unchanged, so no bucket is replaced", () => {
    for (const region of REGIONS) {
      for (const app of ["platform", "a".repeat(12), "a".repeat(13), LONGEST_APP]) {
        const before = formerName(naming(region, app), "delivery");
        if (before.length > 63) continue;
        assert.equal(artifactBucketName(naming(region, app), "delivery", ACCOUNT), before, region);
      }
    }
  });

  it("gives long names that differ only at their end different buckets in a 14-character region", () => {
    const a = artifactBucketName(naming("ap-southeast-1"), "delivery-one", ACCOUNT);
    const b = artifactBucketName(naming("ap-southeast-1"), "delivery-two", ACCOUNT);

    assert.notEqual(a, b);
    assert.equal(artifactBucketName(naming("ap-southeast-1"), "delivery-one", ACCOUNT), a);
  });

  it("rejects an app with capitals, naming the rule", () => {
    assert.throws(
      () => artifactBucketName(naming("us-east-1", "Platform"), "delivery", ACCOUNT),
      /Artifact bucket of pipeline delivery: bucket name Platform-pipeline-delivery-artifacts-123456789012-us-east-1 must be lowercase letters, digits, dots and hyphens/,
    );
  });

  it("is given to the bucket and its TLS-only policy, at most 63 characters, in ap-southeast-1 with the longest app", async () => {
    const { get } = await record(() => store("pa-long", naming("ap-southeast-1")));

    const bucket = get(BUCKET, "pa-long-artifacts").inputs.bucket as string;
    assert.ok(bucket.length <= 63, `${bucket} is ${bucket.length} characters`);
    assert.equal(bucket, artifactBucketName(naming("ap-southeast-1"), "pa-long", ACCOUNT));
    const [tls] = policyStatements(get("aws:s3/bucketPolicy:BucketPolicy", "pa-long-artifacts-tls-only"));
    assert.deepEqual(tls.Resource, [`arn:aws:s3:::${bucket}`, `arn:aws:s3:::${bucket}/*`]);
  });
});

describe("s3BucketNameProblem", () => {
  it("accepts a lowercase name of 63 characters", () => {
    assert.equal(s3BucketNameProblem("a".repeat(63)), undefined);
  });

  it("rejects a name of 64 characters, naming the limit", () => {
    assert.equal(s3BucketNameProblem("a".repeat(64)), "must be 3 to 63 characters long (got 64)");
  });

  it("rejects reserved prefixes and suffixes", () => {
    assert.match(s3BucketNameProblem("xn--bucket") ?? "", /reserved prefix xn--/);
    assert.match(s3BucketNameProblem("bucket-s3alias") ?? "", /reserved suffix -s3alias/);
  });
});
