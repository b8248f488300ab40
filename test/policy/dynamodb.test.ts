import * as aws from "@pulumi/aws";
import {
  dynamodbDeletionProtection,
  dynamodbEncryption,
  dynamodbPointInTimeRecovery,
} from "../../policy/dynamodb";
import { tableArgs } from "./factories";
import { assertNoViolations, assertViolation, resourceArgs, UNKNOWN } from "./util";

const table = (change: Partial<ReturnType<typeof tableArgs>>, config?: Record<string, unknown>) => ({
  ...resourceArgs(aws.dynamodb.Table, { ...tableArgs(), ...change }),
  config,
});

describe("policy dynamodb-point-in-time-recovery", () => {
  it("passes a table with point-in-time recovery", async () => {
    await assertNoViolations(dynamodbPointInTimeRecovery, table({}));
  });

  it("fails when point-in-time recovery is off or unset", async () => {
    await assertViolation(
      dynamodbPointInTimeRecovery,
      table({ pointInTimeRecovery: { enabled: false } }),
      "pointInTimeRecovery.enabled",
    );
    await assertViolation(
      dynamodbPointInTimeRecovery,
      table({ pointInTimeRecovery: undefined }),
      "pointInTimeRecovery.enabled",
    );
  });
});

describe("policy dynamodb-encryption", () => {
  it("passes a customer-managed key, also when its ARN is unknown during preview", async () => {
    await assertNoViolations(dynamodbEncryption, table({}));
    await assertNoViolations(
      dynamodbEncryption,
      table({ serverSideEncryption: { enabled: true, kmsKeyArn: UNKNOWN } }),
    );
  });

  it("fails when a CMK is required and the table uses the AWS-owned key", async () => {
    await assertViolation(
      dynamodbEncryption,
      table({ serverSideEncryption: undefined }),
      "encrypted with an aws-owned key",
    );
  });

  it("fails when a CMK is required and the table uses the AWS-managed key", async () => {
    await assertViolation(
      dynamodbEncryption,
      table({ serverSideEncryption: { enabled: true } }),
      "encrypted with an aws-managed key",
    );
  });

  it("passes the AWS-owned key where the config allows it", async () => {
    await assertNoViolations(
      dynamodbEncryption,
      table({ serverSideEncryption: { enabled: false } }, { minimumKey: "aws-owned" }),
    );
  });

  it("fails the AWS-owned key when the config asks for at least an AWS-managed key", async () => {
    await assertViolation(
      dynamodbEncryption,
      table({ serverSideEncryption: { enabled: false } }, { minimumKey: "aws-managed" }),
      "set serverSideEncryption.enabled to true",
    );
  });
});

describe("policy dynamodb-deletion-protection", () => {
  it("passes a protected table", async () => {
    await assertNoViolations(dynamodbDeletionProtection, table({}));
  });

  it("fails when deletion protection is off", async () => {
    await assertViolation(
      dynamodbDeletionProtection,
      table({ deletionProtectionEnabled: false }),
      "deletionProtectionEnabled",
    );
  });
});
