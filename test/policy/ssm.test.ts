import * as aws from "@pulumi/aws";
import { secretsOnlyByReference } from "../../policy/ssm";
import { functionArgs } from "./factories";
import { assertNoViolations, assertPolicyMetadata, assertViolation, resourceArgs, UNKNOWN } from "./util";

/** A function whose environment holds `variables` besides the factory's. */
function functionWith(variables: Record<string, string>) {
  const args = functionArgs();
  return resourceArgs(aws.lambda.Function, {
    ...args,
    environment: { variables: { ...(args.environment?.variables ?? {}), ...variables } },
  });
}

describe("policy secrets-only-by-reference", () => {
  it("has the pack's metadata", () => {
    assertPolicyMetadata(secretsOnlyByReference);
  });

  it("passes a function given a parameter's name", async () => {
    await assertNoViolations(
      secretsOnlyByReference,
      functionWith({ WEBHOOK_KEY_PARAMETER_NAME: "/orders/webhook-signing-key" }),
    );
  });

  it("fails when an environment variable holds an AWS access key, whatever its name", async () => {
    await assertViolation(
      secretsOnlyByReference,
      functionWith({ WAREHOUSE: "AKIAIOSFODNN7EXAMPLE" }),
      "sets environment variable WAREHOUSE to a value that looks like a secret",
    );
  });

  it("fails when an environment variable holds a URL with credentials", async () => {
    await assertViolation(
      secretsOnlyByReference,
      functionWith({ DATABASE_URL: "postgres://app:hunter2@db.internal:5432/orders" }),
      "sets environment variable DATABASE_URL to a value that looks like a secret",
    );
  });

  it("fails when an environment variable holds a private key", async () => {
    await assertViolation(
      secretsOnlyByReference,
      functionWith({ SIGNING: "-----BEGIN RSA PRIVATE KEY-----\nMIIE..." }),
      "sets environment variable SIGNING to a value that looks like a secret",
    );
  });

  it("passes a SecureString parameter created without a value", async () => {
    await assertNoViolations(
      secretsOnlyByReference,
      resourceArgs(aws.ssm.Parameter, { name: "/orders/webhook-signing-key", type: "SecureString" } as never),
    );
  });

  it("fails when a SecureString parameter is created with its value in the program", async () => {
    await assertViolation(
      secretsOnlyByReference,
      resourceArgs(aws.ssm.Parameter, {
        name: "/orders/webhook-signing-key",
        type: "SecureString",
        value: "s3cr3t",
      } as never),
      "is a SecureString with its value in the program",
    );
  });

  it("fails when a SecureString parameter's value is computed by the program", async () => {
    await assertViolation(
      secretsOnlyByReference,
      resourceArgs(aws.ssm.Parameter, {
        name: "/orders/webhook-signing-key",
        type: "SecureString",
        value: UNKNOWN,
      } as never),
      "is a SecureString with its value in the program",
    );
  });

  it("passes a plain String parameter with a value", async () => {
    await assertNoViolations(
      secretsOnlyByReference,
      resourceArgs(aws.ssm.Parameter, {
        name: "/orders/region",
        type: "String",
        value: "us-east-1",
      } as never),
    );
  });
});
