/**
 * Which input changes make the engine replace a resource instead of updating it in place.
 *
 * The rule: a change to an input listed here for the resource's type is a replacement; any other
 * input change is an update. The lists are the properties the AWS provider marks "forces a new
 * resource" (ForceNew in the provider schema), for the resource types the platform and the
 * pipeline create: mostly names and the parent a resource belongs to (a function's or a role's
 * name, a table's name or keys, an API method's resource and verb). Types not listed (the dynamic
 * TrafficShift, component resources) are reported as updates with no replacement, which is what
 * the engine does for a component and the provider's own diff decides for a dynamic resource.
 */
export const REPLACE_ON_CHANGE: Readonly<Record<string, readonly string[]>> = {
  "aws:lambda/function:Function": ["name"],
  "aws:lambda/alias:Alias": ["name", "functionName"],
  "aws:lambda/permission:Permission": [
    "action",
    "function",
    "principal",
    "sourceArn",
    "sourceAccount",
    "statementId",
    "statementIdPrefix",
    "qualifier",
    "eventSourceToken",
  ],
  "aws:lambda/provisionedConcurrencyConfig:ProvisionedConcurrencyConfig": ["functionName", "qualifier"],
  "aws:lambda/functionEventInvokeConfig:FunctionEventInvokeConfig": ["functionName", "qualifier"],
  "aws:iam/role:Role": ["name", "namePrefix", "path"],
  "aws:iam/rolePolicy:RolePolicy": ["name", "namePrefix", "role"],
  "aws:iam/rolePolicyAttachment:RolePolicyAttachment": ["role", "policyArn"],
  "aws:iam/policy:Policy": ["name", "namePrefix", "path", "description"],
  "aws:dynamodb/table:Table": ["name", "hashKey", "rangeKey", "localSecondaryIndexes"],
  "aws:cloudwatch/logGroup:LogGroup": ["name", "namePrefix", "logGroupClass"],
  "aws:cloudwatch/metricAlarm:MetricAlarm": ["name"],
  "aws:cloudwatch/dashboard:Dashboard": ["dashboardName"],
  "aws:apigateway/resource:Resource": ["restApi"],
  "aws:apigateway/method:Method": ["restApi", "resourceId", "httpMethod"],
  "aws:apigateway/integration:Integration": ["restApi", "resourceId", "httpMethod"],
  "aws:apigateway/deployment:Deployment": ["restApi", "triggers", "variables"],
  "aws:apigateway/stage:Stage": ["restApi", "stageName"],
  "aws:apigateway/methodSettings:MethodSettings": ["restApi", "stageName", "methodPath"],
  "aws:apigateway/apiKey:ApiKey": ["value"],
  "aws:apigateway/usagePlanKey:UsagePlanKey": ["keyId", "keyType", "usagePlanId"],
  "aws:codedeploy/application:Application": ["computePlatform"],
  "aws:codedeploy/deploymentGroup:DeploymentGroup": ["appName"],
  "aws:codedeploy/deploymentConfig:DeploymentConfig": ["deploymentConfigName", "computePlatform"],
  "aws:kms/key:Key": ["customerMasterKeySpec", "keyUsage", "multiRegion"],
  "aws:kms/alias:Alias": ["name", "namePrefix"],
  "aws:sns/topic:Topic": ["name", "namePrefix", "fifoTopic"],
  "aws:sns/topicPolicy:TopicPolicy": ["arn"],
  "aws:sns/topicSubscription:TopicSubscription": ["endpoint", "protocol", "topic"],
  "aws:sqs/queue:Queue": ["name", "namePrefix", "fifoQueue"],
  "aws:s3/bucket:Bucket": ["bucket", "bucketPrefix", "objectLockEnabled"],
  "aws:s3/bucketV2:BucketV2": ["bucket", "bucketPrefix", "objectLockEnabled"],
  "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock": ["bucket"],
  "aws:s3/bucketVersioning:BucketVersioning": ["bucket"],
  "aws:s3/bucketVersioningV2:BucketVersioningV2": ["bucket"],
  "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration": ["bucket"],
  "aws:s3/bucketServerSideEncryptionConfigurationV2:BucketServerSideEncryptionConfigurationV2": ["bucket"],
  "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration": ["bucket"],
  "aws:s3/bucketPolicy:BucketPolicy": ["bucket"],
  "aws:codebuild/project:Project": ["name"],
  "aws:codepipeline/pipeline:Pipeline": ["name"],
  "aws:codestarconnections/connection:Connection": ["name", "providerType", "hostArn"],
};

/** The top-level inputs among `paths` whose change replaces a resource of `type` (none: an update). */
export function replacementCauses(type: string, paths: readonly string[]): string[] {
  const forcing = REPLACE_ON_CHANGE[type];
  if (!forcing) return [];
  return [...new Set(paths.map(topLevel).filter((key) => forcing.includes(key)))];
}

/** `environment.variables.TABLE` -> `environment`; `tags["a.b"]` -> `tags`; `policy[0]` -> `policy`. */
export function topLevel(path: string): string {
  return /^[^.[]+/.exec(path)?.[0] ?? path;
}
