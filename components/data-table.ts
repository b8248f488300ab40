import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import { type NamingContext, physicalName } from "./naming";
import type { PolicyStatement, ServerlessFunction } from "./serverless-function";
import { applyTransform, type Transform } from "./transform";

export type AttributeType = "S" | "N" | "B";

export interface GlobalSecondaryIndex {
  name: string;
  hashKey: string;
  rangeKey?: string;
  /** @default "ALL" */
  projectionType?: "ALL" | "KEYS_ONLY" | "INCLUDE";
  nonKeyAttributes?: string[];
  /** Provisioned capacity of the index (provisioned tables only). */
  readCapacity?: number;
  writeCapacity?: number;
}

export interface DataTableArgs {
  naming: NamingContext;
  /** Partition key. @example { name: "userId", type: "S" } */
  hashKey: { name: string; type: AttributeType };
  /** Sort key. @default undefined */
  rangeKey?: { name: string; type: AttributeType };
  /** Attributes used by indexes, besides the table's keys. @default [] */
  attributes?: { name: string; type: AttributeType }[];
  /**
   * On-demand (PAY_PER_REQUEST) or provisioned capacity.
   * @default { mode: "on-demand" }
   * @example { mode: "provisioned", readCapacity: 5, writeCapacity: 5 }
   */
  billing?: { mode: "on-demand" } | { mode: "provisioned"; readCapacity: number; writeCapacity: number };
  /**
   * `aws-owned`: DynamoDB's default key. `customer-managed`: a KMS key with yearly rotation created
   * for this table, and grants include `kms:Decrypt`/`kms:GenerateDataKey` on it.
   * @default "aws-owned"
   */
  encryption?: "aws-owned" | "customer-managed";
  /** @default false */
  deletionProtection?: boolean;
  /** Point-in-time recovery. @default true */
  pointInTimeRecovery?: boolean;
  /** Attribute holding an epoch-seconds expiry time. @default undefined (no TTL) */
  ttlAttribute?: string;
  /** Stream of item changes. @default undefined (no stream) */
  stream?: "NEW_IMAGE" | "OLD_IMAGE" | "NEW_AND_OLD_IMAGES" | "KEYS_ONLY";
  /** @default [] */
  globalSecondaryIndexes?: GlobalSecondaryIndex[];
  transform?: { table?: Transform<aws.dynamodb.TableArgs>; key?: Transform<aws.kms.KeyArgs> };
}

/** Exact actions per grant level: SAM's DynamoDBReadPolicy / DynamoDBCrudPolicy, minus what they over-grant. */
export const TABLE_ACTIONS = {
  read: [
    "dynamodb:BatchGetItem",
    "dynamodb:ConditionCheckItem",
    "dynamodb:DescribeTable",
    "dynamodb:GetItem",
    "dynamodb:Query",
    "dynamodb:Scan",
  ],
  write: [
    "dynamodb:BatchWriteItem",
    "dynamodb:ConditionCheckItem",
    "dynamodb:DeleteItem",
    "dynamodb:PutItem",
    "dynamodb:UpdateItem",
  ],
} as const;

const KMS_ACTIONS = {
  read: ["kms:Decrypt"],
  write: ["kms:Decrypt", "kms:GenerateDataKey"],
} as const;

type Access = "read" | "write" | "readWrite";

/**
 * A DynamoDB table with point-in-time recovery, encryption, deletion protection per stage, and
 * grants that attach exact actions on this table and its indexes to a function's role.
 *
 * @example
 * const users = new DataTable("users", { naming, hashKey: { name: "userId", type: "S" } });
 * users.grantRead(listFunction);
 */
export class DataTable extends pulumi.ComponentResource {
  static readonly type = "platform:dynamodb:DataTable";

  readonly table: aws.dynamodb.Table;
  /** The customer-managed key, when `encryption` is `customer-managed`. */
  readonly key?: aws.kms.Key;
  readonly name: pulumi.Output<string>;
  readonly arn: pulumi.Output<string>;
  readonly streamArn: pulumi.Output<string>;
  /** The logical name the table was declared with. */
  readonly logicalName: string;

  constructor(name: string, args: DataTableArgs, opts?: pulumi.ComponentResourceOptions) {
    super(DataTable.type, name, {}, opts);
    this.logicalName = name;
    validateTableArgs(name, args);
    const tableName = physicalName(args.naming, name, { maxLength: 255 });

    if ((args.encryption ?? "aws-owned") === "customer-managed") {
      this.key = new aws.kms.Key(
        `${name}-key`,
        applyTransform(args.transform?.key, {
          description: `Encrypts DynamoDB table ${tableName}`,
          enableKeyRotation: true,
          rotationPeriodInDays: 365,
          deletionWindowInDays: 30,
        } satisfies aws.kms.KeyArgs),
        { parent: this },
      );
      new aws.kms.Alias(
        `${name}-key-alias`,
        { name: `alias/${tableName}`, targetKeyId: this.key.keyId },
        { parent: this },
      );
    }

    const billing = args.billing ?? { mode: "on-demand" };
    const keyAttributes = [
      args.hashKey,
      ...(args.rangeKey ? [args.rangeKey] : []),
      ...(args.attributes ?? []),
    ];
    const attributes = [...new Map(keyAttributes.map((a) => [a.name, a])).values()];
    this.table = new aws.dynamodb.Table(
      `${name}-table`,
      applyTransform(args.transform?.table, {
        name: tableName,
        billingMode: billing.mode === "on-demand" ? "PAY_PER_REQUEST" : "PROVISIONED",
        readCapacity: billing.mode === "provisioned" ? billing.readCapacity : undefined,
        writeCapacity: billing.mode === "provisioned" ? billing.writeCapacity : undefined,
        hashKey: args.hashKey.name,
        rangeKey: args.rangeKey?.name,
        attributes,
        pointInTimeRecovery: { enabled: args.pointInTimeRecovery ?? true },
        serverSideEncryption: this.key ? { enabled: true, kmsKeyArn: this.key.arn } : { enabled: false },
        deletionProtectionEnabled: args.deletionProtection ?? false,
        ttl: args.ttlAttribute ? { attributeName: args.ttlAttribute, enabled: true } : undefined,
        streamEnabled: args.stream !== undefined,
        streamViewType: args.stream,
        globalSecondaryIndexes: args.globalSecondaryIndexes?.map((index) => ({
          name: index.name,
          hashKey: index.hashKey,
          rangeKey: index.rangeKey,
          projectionType: index.projectionType ?? "ALL",
          nonKeyAttributes: index.nonKeyAttributes,
          readCapacity: index.readCapacity,
          writeCapacity: index.writeCapacity,
        })),
      } satisfies aws.dynamodb.TableArgs),
      { parent: this },
    );

    this.name = this.table.name;
    this.arn = this.table.arn;
    this.streamArn = this.table.streamArn;
    this.registerOutputs({ name: this.name, arn: this.arn, keyArn: this.key?.arn });
  }

  /** Read items and describe the table (GetItem, BatchGetItem, Query, Scan, ...). */
  grantRead(fn: ServerlessFunction): aws.iam.RolePolicy {
    return this.grant(fn, "read");
  }

  /** Write items (PutItem, UpdateItem, DeleteItem, BatchWriteItem, ConditionCheckItem). */
  grantWrite(fn: ServerlessFunction): aws.iam.RolePolicy {
    return this.grant(fn, "write");
  }

  /** Both of the above. */
  grantReadWrite(fn: ServerlessFunction): aws.iam.RolePolicy {
    return this.grant(fn, "readWrite");
  }

  /** The statements a grant attaches: exact actions on the table ARN and `<arn>/index/*` only. */
  grantStatements(access: Access): PolicyStatement[] {
    const levels: ("read" | "write")[] = access === "readWrite" ? ["read", "write"] : [access];
    const tableActions = [...new Set(levels.flatMap((level) => TABLE_ACTIONS[level]))].sort();
    const statements: PolicyStatement[] = [
      {
        Sid: "TableAccess",
        Action: tableActions,
        Resource: [this.table.arn, pulumi.interpolate`${this.table.arn}/index/*`],
      },
    ];
    if (this.key) {
      const keyActions = [...new Set(levels.flatMap((level) => KMS_ACTIONS[level]))].sort();
      statements.push({ Sid: "TableKey", Action: keyActions, Resource: [this.key.arn] });
    }
    return statements;
  }

  private grant(fn: ServerlessFunction, access: Access): aws.iam.RolePolicy {
    return fn.addPolicy(`${this.logicalName}-table-${access.toLowerCase()}`, this.grantStatements(access));
  }
}

function validateTableArgs(name: string, args: DataTableArgs): void {
  const problems: string[] = [];
  const billing = args.billing;
  if (billing?.mode === "provisioned") {
    for (const field of ["readCapacity", "writeCapacity"] as const) {
      if (!Number.isInteger(billing[field]) || billing[field] < 1) {
        problems.push(`billing.${field} must be a positive integer (got ${billing[field]})`);
      }
    }
  }
  const known = new Set([
    args.hashKey.name,
    args.rangeKey?.name,
    ...(args.attributes ?? []).map((a) => a.name),
  ]);
  for (const index of args.globalSecondaryIndexes ?? []) {
    for (const key of [index.hashKey, index.rangeKey]) {
      if (key !== undefined && !known.has(key)) {
        problems.push(`globalSecondaryIndexes ${index.name}: key ${key} must be declared in attributes`);
      }
    }
    if (billing?.mode !== "provisioned" && (index.readCapacity || index.writeCapacity)) {
      problems.push(`globalSecondaryIndexes ${index.name}: capacity is only allowed on provisioned tables`);
    }
  }
  if (
    args.stream &&
    args.stream !== "NEW_IMAGE" &&
    !["OLD_IMAGE", "NEW_AND_OLD_IMAGES", "KEYS_ONLY"].includes(args.stream)
  ) {
    problems.push(
      `stream must be one of NEW_IMAGE, OLD_IMAGE, NEW_AND_OLD_IMAGES, KEYS_ONLY (got ${args.stream})`,
    );
  }
  if (problems.length > 0) throw new Error(`DataTable ${name}: ${problems.join("; ")}`);
}
