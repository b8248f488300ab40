/**
 * The Lambda Insights extension layer: one table of the current release, by architecture and
 * region, so that stacks name no layer ARNs and a release update is one edit here.
 *
 * Release 1.0.498.0, as in the AWS CDK's region-info fact table (aws-cdk-lib 2.276.0, whose
 * newest Lambda Insights release is still 1.0.498.0). AWS's own tables are "Available versions of
 * the Lambda Insights extension":
 * https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/Lambda-Insights-extension-versionsx86-64.html
 * https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/Lambda-Insights-extension-versionsARM.html
 * The publishing account differs by region (opt-in regions have their own), so each ARN is written
 * out in full. Regions outside AWS_REGIONS (e.g. ap-southeast-6) are left out on purpose.
 *
 * NOT VERIFIED AGAINST AWS'S PAGES: those pages could not be read when this table was checked.
 * - arm64: the CDK pins every region to `:25`, which AWS's ARM page contradicts (aws/aws-cdk
 *   issue #36867, confirmed by a CDK maintainer; fix PRs #36887 and #37463). That page gives
 *   ap-northeast-1 `:38`, us-east-1 `:27`, us-east-2 `:29` and other accounts for ap-southeast-4,
 *   ca-west-1 and il-central-1. The rest of its values could not be seen, so none is changed here.
 * - Public code already uses a newer release (x86_64 `:64`, arm64 `:31` in us-east-1 and
 *   eu-west-2), whose version number and per-region ARNs could not be found.
 * Before relying on platform:lambdaInsights, replace the version and every ARN below with the
 * newest release on the two AWS pages above (copy each region's ARN, do not derive it).
 */
export const LAMBDA_INSIGHTS_VERSION = "1.0.498.0";

export type LambdaInsightsArchitecture = "arm64" | "x86_64";

export const LAMBDA_INSIGHTS_LAYERS: Record<LambdaInsightsArchitecture, Readonly<Record<string, string>>> = {
  arm64: {
    "us-east-1": "arn:aws:lambda:us-east-1:580247275435:layer:LambdaInsightsExtension-Arm64:25",
    "us-east-2": "arn:aws:lambda:us-east-2:580247275435:layer:LambdaInsightsExtension-Arm64:25",
    "us-west-1": "arn:aws:lambda:us-west-1:580247275435:layer:LambdaInsightsExtension-Arm64:25",
    "us-west-2": "arn:aws:lambda:us-west-2:580247275435:layer:LambdaInsightsExtension-Arm64:25",
    "af-south-1": "arn:aws:lambda:af-south-1:012438385374:layer:LambdaInsightsExtension-Arm64:25",
    "ap-east-1": "arn:aws:lambda:ap-east-1:519774774795:layer:LambdaInsightsExtension-Arm64:25",
    "ap-south-1": "arn:aws:lambda:ap-south-1:580247275435:layer:LambdaInsightsExtension-Arm64:25",
    "ap-south-2": "arn:aws:lambda:ap-south-2:891564319516:layer:LambdaInsightsExtension-Arm64:25",
    "ap-southeast-1": "arn:aws:lambda:ap-southeast-1:580247275435:layer:LambdaInsightsExtension-Arm64:25",
    "ap-southeast-2": "arn:aws:lambda:ap-southeast-2:580247275435:layer:LambdaInsightsExtension-Arm64:25",
    "ap-southeast-3": "arn:aws:lambda:ap-southeast-3:439286490199:layer:LambdaInsightsExtension-Arm64:25",
    "ap-southeast-4": "arn:aws:lambda:ap-southeast-4:605207715842:layer:LambdaInsightsExtension-Arm64:25",
    "ap-northeast-1": "arn:aws:lambda:ap-northeast-1:580247275435:layer:LambdaInsightsExtension-Arm64:25",
    "ap-northeast-2": "arn:aws:lambda:ap-northeast-2:580247275435:layer:LambdaInsightsExtension-Arm64:25",
    "ap-northeast-3": "arn:aws:lambda:ap-northeast-3:194566237122:layer:LambdaInsightsExtension-Arm64:25",
    "ca-central-1": "arn:aws:lambda:ca-central-1:580247275435:layer:LambdaInsightsExtension-Arm64:25",
    "ca-west-1": "arn:aws:lambda:ca-west-1:761377655185:layer:LambdaInsightsExtension-Arm64:25",
    "eu-central-1": "arn:aws:lambda:eu-central-1:580247275435:layer:LambdaInsightsExtension-Arm64:25",
    "eu-central-2": "arn:aws:lambda:eu-central-2:033019950311:layer:LambdaInsightsExtension-Arm64:25",
    "eu-west-1": "arn:aws:lambda:eu-west-1:580247275435:layer:LambdaInsightsExtension-Arm64:25",
    "eu-west-2": "arn:aws:lambda:eu-west-2:580247275435:layer:LambdaInsightsExtension-Arm64:25",
    "eu-west-3": "arn:aws:lambda:eu-west-3:580247275435:layer:LambdaInsightsExtension-Arm64:25",
    "eu-north-1": "arn:aws:lambda:eu-north-1:580247275435:layer:LambdaInsightsExtension-Arm64:25",
    "eu-south-1": "arn:aws:lambda:eu-south-1:339249233099:layer:LambdaInsightsExtension-Arm64:25",
    "eu-south-2": "arn:aws:lambda:eu-south-2:352183217350:layer:LambdaInsightsExtension-Arm64:25",
    "il-central-1": "arn:aws:lambda:il-central-1:066549572091:layer:LambdaInsightsExtension-Arm64:25",
    "me-south-1": "arn:aws:lambda:me-south-1:285320876703:layer:LambdaInsightsExtension-Arm64:25",
    "me-central-1": "arn:aws:lambda:me-central-1:732604637566:layer:LambdaInsightsExtension-Arm64:25",
    "sa-east-1": "arn:aws:lambda:sa-east-1:580247275435:layer:LambdaInsightsExtension-Arm64:25",
  },
  x86_64: {
    "us-east-1": "arn:aws:lambda:us-east-1:580247275435:layer:LambdaInsightsExtension:60",
    "us-east-2": "arn:aws:lambda:us-east-2:580247275435:layer:LambdaInsightsExtension:60",
    "us-west-1": "arn:aws:lambda:us-west-1:580247275435:layer:LambdaInsightsExtension:60",
    "us-west-2": "arn:aws:lambda:us-west-2:580247275435:layer:LambdaInsightsExtension:60",
    "af-south-1": "arn:aws:lambda:af-south-1:012438385374:layer:LambdaInsightsExtension:52",
    "ap-east-1": "arn:aws:lambda:ap-east-1:519774774795:layer:LambdaInsightsExtension:52",
    "ap-east-2": "arn:aws:lambda:ap-east-2:145023102084:layer:LambdaInsightsExtension:8",
    "ap-south-1": "arn:aws:lambda:ap-south-1:580247275435:layer:LambdaInsightsExtension:58",
    "ap-south-2": "arn:aws:lambda:ap-south-2:891564319516:layer:LambdaInsightsExtension:34",
    "ap-southeast-1": "arn:aws:lambda:ap-southeast-1:580247275435:layer:LambdaInsightsExtension:60",
    "ap-southeast-2": "arn:aws:lambda:ap-southeast-2:580247275435:layer:LambdaInsightsExtension:60",
    "ap-southeast-3": "arn:aws:lambda:ap-southeast-3:439286490199:layer:LambdaInsightsExtension:36",
    "ap-southeast-4": "arn:aws:lambda:ap-southeast-4:158895979263:layer:LambdaInsightsExtension:29",
    "ap-southeast-5": "arn:aws:lambda:ap-southeast-5:590183865173:layer:LambdaInsightsExtension:9",
    "ap-southeast-7": "arn:aws:lambda:ap-southeast-7:761018874580:layer:LambdaInsightsExtension:8",
    "ap-northeast-1": "arn:aws:lambda:ap-northeast-1:580247275435:layer:LambdaInsightsExtension:87",
    "ap-northeast-2": "arn:aws:lambda:ap-northeast-2:580247275435:layer:LambdaInsightsExtension:59",
    "ap-northeast-3": "arn:aws:lambda:ap-northeast-3:194566237122:layer:LambdaInsightsExtension:41",
    "ca-central-1": "arn:aws:lambda:ca-central-1:580247275435:layer:LambdaInsightsExtension:59",
    "ca-west-1": "arn:aws:lambda:ca-west-1:946466191631:layer:LambdaInsightsExtension:21",
    "eu-central-1": "arn:aws:lambda:eu-central-1:580247275435:layer:LambdaInsightsExtension:60",
    "eu-central-2": "arn:aws:lambda:eu-central-2:033019950311:layer:LambdaInsightsExtension:35",
    "eu-west-1": "arn:aws:lambda:eu-west-1:580247275435:layer:LambdaInsightsExtension:60",
    "eu-west-2": "arn:aws:lambda:eu-west-2:580247275435:layer:LambdaInsightsExtension:60",
    "eu-west-3": "arn:aws:lambda:eu-west-3:580247275435:layer:LambdaInsightsExtension:59",
    "eu-north-1": "arn:aws:lambda:eu-north-1:580247275435:layer:LambdaInsightsExtension:57",
    "eu-south-1": "arn:aws:lambda:eu-south-1:339249233099:layer:LambdaInsightsExtension:52",
    "eu-south-2": "arn:aws:lambda:eu-south-2:352183217350:layer:LambdaInsightsExtension:36",
    "il-central-1": "arn:aws:lambda:il-central-1:459530977127:layer:LambdaInsightsExtension:29",
    "me-south-1": "arn:aws:lambda:me-south-1:285320876703:layer:LambdaInsightsExtension:52",
    "me-central-1": "arn:aws:lambda:me-central-1:732604637566:layer:LambdaInsightsExtension:35",
    "mx-central-1": "arn:aws:lambda:mx-central-1:879381266642:layer:LambdaInsightsExtension:8",
    "sa-east-1": "arn:aws:lambda:sa-east-1:580247275435:layer:LambdaInsightsExtension:59",
  },
};

/** The layer of this region and architecture, or undefined where the release is not published. */
export function lambdaInsightsLayerArn(
  region: string,
  architecture: LambdaInsightsArchitecture,
): string | undefined {
  return LAMBDA_INSIGHTS_LAYERS[architecture][region];
}

/** Regions where the release is published for this architecture, for error messages. */
export function lambdaInsightsRegions(architecture: LambdaInsightsArchitecture): string[] {
  return Object.keys(LAMBDA_INSIGHTS_LAYERS[architecture]);
}

/** What a layer ARN says of itself: its region and architecture (`-Arm64` names the ARM build). */
export function describeLambdaInsightsLayer(
  arn: string,
): { region: string; architecture: LambdaInsightsArchitecture } | undefined {
  const match = /^arn:aws[a-z-]*:lambda:([a-z0-9-]+):\d{12}:layer:LambdaInsightsExtension(-Arm64)?:\d+$/.exec(
    arn,
  );
  if (!match) return undefined;
  return { region: match[1], architecture: match[2] ? "arm64" : "x86_64" };
}
