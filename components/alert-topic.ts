import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import { type NamingContext, physicalName } from "./naming";

export interface AlertTopicArgs {
  naming: NamingContext;
  /** Email addresses subscribed to the topic (each must confirm). */
  emails: string[];
  /** This stack's AWS Budget notifies the topic: Budgets may use the key and publish too. */
  budgetPublishes: boolean;
}

/** KMS actions a service needs to publish to a topic encrypted with a customer-managed key. */
export const KEY_USE_ACTIONS = ["kms:Decrypt", "kms:GenerateDataKey*"];

/**
 * The alert topic of a Monitoring component, created as its children: an SNS topic encrypted with
 * a customer-managed key of its own (rotated yearly), a key policy and a topic policy that let
 * CloudWatch alarms (and Budgets, when this stack has the budget) use the key and publish, and one
 * email subscription per address.
 *
 * Why not `alias/aws/sns`: the AWS managed key's policy cannot be changed, and CloudWatch and
 * Budgets need kms:GenerateDataKey* and kms:Decrypt on the topic's key to publish, so alarms on a
 * topic encrypted with it are silently never delivered.
 */
export function createAlertTopic(
  name: string,
  args: AlertTopicArgs,
  parent: pulumi.Resource,
): { key: aws.kms.Key; topic: aws.sns.Topic } {
  const { naming } = args;
  const topicName = physicalName(naming, `${name}-alerts`, { maxLength: 256 });
  const { accountId } = aws.getCallerIdentityOutput({}, { parent });
  const { partition } = aws.getPartitionOutput({}, { parent });
  // Who may use the key and publish: alarms of this app and stage in this region (their names all
  // start with app-stage-) and, where this stack creates it, the account's budget. The source
  // conditions keep the services from acting for other accounts' alarms (confused deputy).
  const publishers = [
    {
      sid: "CloudWatchAlarms",
      service: "cloudwatch.amazonaws.com",
      sourceArn: pulumi.interpolate`arn:${partition}:cloudwatch:${naming.region}:${accountId}:alarm:${naming.app}-${naming.stage}-*`,
    },
    ...(args.budgetPublishes
      ? [
          {
            sid: "Budgets",
            service: "budgets.amazonaws.com",
            sourceArn: pulumi.interpolate`arn:${partition}:budgets::${accountId}:*`,
          },
        ]
      : []),
  ];
  const fromThisAccount = (sourceArn: pulumi.Output<string>) => ({
    StringEquals: { "aws:SourceAccount": accountId },
    ArnLike: { "aws:SourceArn": sourceArn },
  });

  const key = new aws.kms.Key(
    `${name}-alerts-key`,
    {
      description: `Encrypts SNS topic ${topicName} (alarm and budget notifications)`,
      enableKeyRotation: true,
      rotationPeriodInDays: 365,
      deletionWindowInDays: 30,
      policy: pulumi.jsonStringify({
        Version: "2012-10-17",
        Statement: [
          {
            // KMS's default statement: without it the account could not manage or delete the key.
            Sid: "AccountAdministersKey",
            Effect: "Allow",
            Principal: { AWS: pulumi.interpolate`arn:${partition}:iam::${accountId}:root` },
            Action: "kms:*",
            Resource: "*",
          },
          ...publishers.map(({ sid, service, sourceArn }) => ({
            Sid: `${sid}UseKey`,
            Effect: "Allow",
            Principal: { Service: service },
            Action: KEY_USE_ACTIONS,
            Resource: "*",
            Condition: fromThisAccount(sourceArn),
          })),
        ],
      }),
    },
    { parent },
  );
  new aws.kms.Alias(
    `${name}-alerts-key-alias`,
    { name: `alias/${topicName}`, targetKeyId: key.keyId },
    { parent },
  );

  const topic = new aws.sns.Topic(`${name}-alerts`, { name: topicName, kmsMasterKeyId: key.arn }, { parent });
  new aws.sns.TopicPolicy(
    `${name}-alerts-policy`,
    {
      arn: topic.arn,
      policy: pulumi.jsonStringify({
        Version: "2012-10-17",
        Statement: publishers.map(({ sid, service, sourceArn }) => ({
          Sid: `${sid}Publish`,
          Effect: "Allow",
          Principal: { Service: service },
          Action: "sns:Publish",
          Resource: topic.arn,
          Condition: fromThisAccount(sourceArn),
        })),
      }),
    },
    { parent },
  );

  if (args.emails.length === 0) {
    pulumi.log.warn(
      `Monitoring ${name}: no alarm e-mail subscribers: set platform:alarmEmails, or alarms reach nobody`,
      parent,
    );
  }
  args.emails.forEach((email, index) => {
    new aws.sns.TopicSubscription(
      `${name}-alerts-email-${index}`,
      { topic: topic.arn, protocol: "email", endpoint: email },
      { parent },
    );
  });
  return { key, topic };
}
