import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import { type NamingContext, physicalName } from "./naming";

/** The AWS managed policy that lets API Gateway write execution and access logs. */
export const API_GATEWAY_LOGS_POLICY_ARN =
  "arn:aws:iam::aws:policy/service-role/AmazonAPIGatewayPushToCloudWatchLogs";

export interface ApiGatewayAccountSettingsArgs {
  naming: NamingContext;
}

/**
 * API Gateway's account-and-region singleton: the CloudWatch Logs role every stage's access and
 * execution logs need. Exactly one stack per account and region may create it (settings say which:
 * `platform:manageAccountSettings`), never every stack.
 */
export class ApiGatewayAccountSettings extends pulumi.ComponentResource {
  static readonly type = "platform:apigateway:AccountSettings";

  readonly role: aws.iam.Role;
  readonly account: aws.apigateway.Account;

  constructor(name: string, args: ApiGatewayAccountSettingsArgs, opts?: pulumi.ComponentResourceOptions) {
    super(ApiGatewayAccountSettings.type, name, {}, opts);
    this.role = new aws.iam.Role(
      `${name}-role`,
      {
        name: physicalName(args.naming, "apigw-logs-role", { global: true }),
        description: "Lets API Gateway write CloudWatch logs in this region",
        assumeRolePolicy: JSON.stringify({
          Version: "2012-10-17",
          Statement: [
            { Effect: "Allow", Principal: { Service: "apigateway.amazonaws.com" }, Action: "sts:AssumeRole" },
          ],
        }),
      },
      { parent: this },
    );
    const attachment = new aws.iam.RolePolicyAttachment(
      `${name}-logs-policy`,
      { role: this.role.name, policyArn: API_GATEWAY_LOGS_POLICY_ARN },
      { parent: this },
    );
    this.account = new aws.apigateway.Account(
      `${name}-account`,
      { cloudwatchRoleArn: this.role.arn },
      { parent: this, dependsOn: [attachment] },
    );
    this.registerOutputs({ roleArn: this.role.arn });
  }
}
