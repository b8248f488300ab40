import type { EnforcementLevel, Policies } from "@pulumi/policy";
import {
  apigatewayMethodAuthorization,
  apigatewayStageAccessLogging,
  apigatewayStageThrottling,
  apigatewayStageTracing,
} from "./apigateway";
import { cloudwatchAlarmActions, monitoringLambdaErrorsAlarm } from "./cloudwatch";
import {
  codedeployApiFunctionsHaveDeploymentGroup,
  codedeployDeploymentGroupSafety,
  codedeployHookFunctionNaming,
} from "./codedeploy";
import { dynamodbDeletionProtection, dynamodbEncryption, dynamodbPointInTimeRecovery } from "./dynamodb";
import {
  iamLambdaRoleNotShared,
  iamManagedPolicyAllowList,
  iamNoAllowWithNotAction,
  iamNoWildcardActions,
  iamNoWildcardResources,
} from "./iam";
import {
  lambdaApiTimeout,
  lambdaArm64,
  lambdaAsyncFailureDestination,
  lambdaMemoryAndTimeoutSet,
  lambdaNoPlaintextSecrets,
  lambdaPermissionSourceArn,
  lambdaSupportedRuntime,
  lambdaTracingActive,
} from "./lambda";
import { lambdaStreamFailureHandling, lambdaStreamStartingPosition } from "./lambda-event-sources";
import { cloudwatchLogGroupRetention, lambdaLogGroupRetention } from "./logs";
import { schedulerLambdaTargetOnFailure, schedulerTargetFailureHandling } from "./scheduler";
import { sqsConsumerFailureHandling, sqsQueueEncryption, sqsVisibilityTimeout } from "./sqs";
import { secretsOnlyByReference } from "./ssm";

/**
 * The pack without its server: `index.ts` serves it to the engine (`new PolicyPack` starts a gRPC
 * server), the offline evaluator in automation/policy runs these same objects.
 */
export const PACK_NAME = "serverless-platform";

/** A policy's level when neither it nor the stage's config says otherwise. */
export const PACK_ENFORCEMENT_LEVEL: EnforcementLevel = "mandatory";

export const policies: Policies = [
  iamNoWildcardActions,
  iamNoWildcardResources,
  iamNoAllowWithNotAction,
  iamManagedPolicyAllowList,
  iamLambdaRoleNotShared,
  lambdaTracingActive,
  lambdaSupportedRuntime,
  lambdaMemoryAndTimeoutSet,
  lambdaApiTimeout,
  lambdaNoPlaintextSecrets,
  lambdaAsyncFailureDestination,
  lambdaPermissionSourceArn,
  lambdaArm64,
  lambdaLogGroupRetention,
  cloudwatchLogGroupRetention,
  apigatewayStageTracing,
  apigatewayStageAccessLogging,
  apigatewayStageThrottling,
  apigatewayMethodAuthorization,
  dynamodbPointInTimeRecovery,
  dynamodbEncryption,
  dynamodbDeletionProtection,
  codedeployDeploymentGroupSafety,
  codedeployApiFunctionsHaveDeploymentGroup,
  codedeployHookFunctionNaming,
  cloudwatchAlarmActions,
  monitoringLambdaErrorsAlarm,
  sqsQueueEncryption,
  sqsConsumerFailureHandling,
  sqsVisibilityTimeout,
  lambdaStreamFailureHandling,
  lambdaStreamStartingPosition,
  schedulerTargetFailureHandling,
  schedulerLambdaTargetOnFailure,
  secretsOnlyByReference,
];
