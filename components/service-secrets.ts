import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import { type NamingContext, physicalName } from "./naming";
import type { ServerlessFunction } from "./serverless-function";

export interface ServiceSecretsArgs {
  naming: NamingContext;
  /**
   * The SSM Parameter Store SecureString parameters the service reads, by key. An operator writes
   * each value (`aws ssm put-parameter --type SecureString --key-id <keyAlias>`); the program never
   * holds one.
   * @example { "webhook-key": "/orders/webhook-signing-key" }
   */
  parameters: Record<string, string>;
}

/**
 * The secrets of one service, by reference only: a KMS key (yearly rotation) that its SecureString
 * parameters are encrypted with, and grants that let a function read exactly one parameter:
 * `ssm:GetParameter` on that parameter's ARN and `kms:Decrypt` on the key, through SSM only
 * (`kms:ViaService`). No parameter is created here, so no value is in the program, its state or
 * its outputs.
 *
 * @example
 * const secrets = new ServiceSecrets("orders-secrets", { naming, parameters: { "webhook-key": "/orders/webhook-signing-key" } });
 * secrets.grantRead(acknowledge, "webhook-key");
 */
export class ServiceSecrets extends pulumi.ComponentResource {
  static readonly type = "platform:ssm:ServiceSecrets";

  readonly key: aws.kms.Key;
  /** `alias/<app>-<stage>-<service>-secrets`: what an operator passes as `--key-id`. */
  readonly keyAlias: string;
  private readonly parameterArns: Record<string, pulumi.Output<string>> = {};
  private readonly region: string;

  constructor(
    private readonly logicalName: string,
    args: ServiceSecretsArgs,
    opts?: pulumi.ComponentResourceOptions,
  ) {
    super(ServiceSecrets.type, logicalName, {}, opts);
    const name = logicalName;
    const bad = Object.entries(args.parameters).filter(
      ([, parameter]) => !/^\/[A-Za-z0-9_.\-/]+$/.test(parameter),
    );
    if (bad.length > 0) {
      throw new Error(
        `ServiceSecrets ${name}: parameters.${bad[0][0]} must be an SSM parameter name starting with "/" (got ${JSON.stringify(bad[0][1])})`,
      );
    }
    this.region = args.naming.region;
    this.keyAlias = `alias/${physicalName(args.naming, name, { maxLength: 250 })}`;
    this.key = new aws.kms.Key(
      `${name}-key`,
      {
        description: `Encrypts the SecureString parameters of ${name}`,
        enableKeyRotation: true,
        rotationPeriodInDays: 365,
        deletionWindowInDays: 30,
      },
      { parent: this },
    );
    new aws.kms.Alias(
      `${name}-key-alias`,
      { name: this.keyAlias, targetKeyId: this.key.keyId },
      { parent: this },
    );

    const account = aws.getCallerIdentityOutput({}, { parent: this }).accountId;
    const partition = aws.getPartitionOutput({}, { parent: this }).partition;
    for (const [key, parameter] of Object.entries(args.parameters)) {
      // A parameter's ARN is `...:parameter` followed by its name, whose leading "/" is the separator.
      this.parameterArns[key] =
        pulumi.interpolate`arn:${partition}:ssm:${args.naming.region}:${account}:parameter${parameter}`;
    }
    this.registerOutputs({ keyArn: this.key.arn, keyAlias: this.keyAlias });
  }

  /** The ARN of the parameter declared under `key`. */
  parameterArn(key: string): pulumi.Output<string> {
    const arn = this.parameterArns[key];
    if (!arn) {
      throw new Error(
        `ServiceSecrets ${this.logicalName}: no parameter ${key} (its parameters: ${Object.keys(this.parameterArns).join(", ") || "none"})`,
      );
    }
    return arn;
  }

  /** Lets `fn` read and decrypt the one parameter declared under `key`, and nothing else. */
  grantRead(fn: ServerlessFunction, key: string): aws.iam.RolePolicy {
    return fn.addPolicy(`${this.logicalName}-${key}-read`, [
      { Sid: "ReadParameter", Action: ["ssm:GetParameter"], Resource: [this.parameterArn(key)] },
      {
        Sid: "DecryptThroughSsm",
        Action: ["kms:Decrypt"],
        Resource: [this.key.arn],
        // The key decrypts for this function only when SSM asks, not through a direct kms:Decrypt call.
        Condition: { StringEquals: { "kms:ViaService": `ssm.${this.region}.amazonaws.com` } },
      },
    ]);
  }
}
