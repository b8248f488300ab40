import * as aws from "@pulumi/aws";
import { type ResourceValidationPolicy, validateResourceOfType } from "@pulumi/policy";
import { readKnown } from "./util";

export const dynamodbPointInTimeRecovery: ResourceValidationPolicy = {
  name: "dynamodb-point-in-time-recovery",
  description: "Checks whether DynamoDB tables have point-in-time recovery enabled.",
  validateResource: validateResourceOfType(aws.dynamodb.Table, (table, args, report) => {
    if (table.pointInTimeRecovery?.enabled !== true) {
      report(`DynamoDB table ${args.name} must set pointInTimeRecovery.enabled to true.`);
    }
  }),
};

/** Who holds the key that encrypts a table, from weakest to strongest control. */
export const TABLE_KEY_KINDS = ["aws-owned", "aws-managed", "customer-managed"] as const;
type TableKeyKind = (typeof TABLE_KEY_KINDS)[number];

export const dynamodbEncryption: ResourceValidationPolicy = {
  name: "dynamodb-encryption",
  description:
    "Checks whether DynamoDB tables are encrypted with a key the stage's config accepts (a customer-managed KMS key by default).",
  configSchema: {
    properties: {
      minimumKey: {
        type: "string",
        enum: [...TABLE_KEY_KINDS],
        default: "customer-managed",
        description:
          "The weakest key accepted: aws-owned (DynamoDB's default), aws-managed (aws/dynamodb) or customer-managed (a KMS key of the account).",
      },
    },
  },
  validateResource: validateResourceOfType(aws.dynamodb.Table, (table, args, report) => {
    const minimum = args.getConfig<{ minimumKey?: TableKeyKind }>().minimumKey ?? "customer-managed";
    const encryption = table.serverSideEncryption;
    // A key ARN unknown at preview (a key created by this update) is a customer-managed key.
    const keyArn = readKnown(() => encryption?.kmsKeyArn);
    const kind: TableKeyKind =
      encryption?.enabled !== true
        ? "aws-owned"
        : !keyArn.known || keyArn.value
          ? "customer-managed"
          : "aws-managed";
    if (TABLE_KEY_KINDS.indexOf(kind) < TABLE_KEY_KINDS.indexOf(minimum)) {
      report(
        minimum === "customer-managed"
          ? `DynamoDB table ${args.name} is encrypted with an ${kind} key: set serverSideEncryption to { enabled: true, kmsKeyArn: <a customer-managed KMS key> }.`
          : `DynamoDB table ${args.name} is encrypted with an AWS-owned key: set serverSideEncryption.enabled to true (and a kmsKeyArn for a customer-managed key).`,
      );
    }
  }),
};

export const dynamodbDeletionProtection: ResourceValidationPolicy = {
  name: "dynamodb-deletion-protection",
  description: "Checks whether DynamoDB tables have deletion protection enabled.",
  validateResource: validateResourceOfType(aws.dynamodb.Table, (table, args, report) => {
    if (table.deletionProtectionEnabled !== true) {
      report(`DynamoDB table ${args.name} must set deletionProtectionEnabled to true.`);
    }
  }),
};
