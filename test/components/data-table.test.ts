import * as assert from "node:assert/strict";
import { DataTable, type DataTableArgs } from "../../components/data-table";
import { healthFunction, policyStatements, record, testNaming } from "../helpers/pulumi";

const TABLE = "aws:dynamodb/table:Table";
const KEY = "aws:kms/key:Key";
const ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy";

function args(overrides: Partial<DataTableArgs> = {}): DataTableArgs {
  return { naming: testNaming(), hashKey: { name: "userId", type: "S" }, ...overrides };
}

function fn(name: string) {
  return healthFunction(name, testNaming(), { timeoutSeconds: 3 });
}

describe("DataTable", () => {
  it("defaults to on-demand billing, point-in-time recovery and the AWS-owned key", async () => {
    const { get, ofType } = await record(() => new DataTable("tbl-defaults", args()));
    const table = get(TABLE, "tbl-defaults-table").inputs;
    assert.equal(table.billingMode, "PAY_PER_REQUEST");
    assert.deepEqual(table.pointInTimeRecovery, { enabled: true });
    assert.deepEqual(table.serverSideEncryption, { enabled: false });
    assert.equal(table.deletionProtectionEnabled, false);
    assert.equal(table.hashKey, "userId");
    assert.deepEqual(table.attributes, [{ name: "userId", type: "S" }]);
    assert.deepEqual(ofType(KEY), []);
  });

  it("encrypts with its own rotating KMS key when customer-managed", async () => {
    const { get } = await record(() => new DataTable("tbl-cmk", args({ encryption: "customer-managed" })));
    const key = get(KEY, "tbl-cmk-key");
    assert.equal(key.inputs.enableKeyRotation, true);
    assert.deepEqual(get(TABLE, "tbl-cmk-table").inputs.serverSideEncryption, {
      enabled: true,
      kmsKeyArn: key.outputs.arn,
    });
  });

  it("sets deletion protection when asked", async () => {
    const { get } = await record(() => new DataTable("tbl-protect", args({ deletionProtection: true })));
    assert.equal(get(TABLE, "tbl-protect-table").inputs.deletionProtectionEnabled, true);
  });

  it("takes provisioned capacity, TTL, a stream and GSIs", async () => {
    const { get } = await record(
      () =>
        new DataTable(
          "tbl-full",
          args({
            billing: { mode: "provisioned", readCapacity: 5, writeCapacity: 5 },
            ttlAttribute: "expiresAt",
            stream: "NEW_AND_OLD_IMAGES",
            attributes: [{ name: "email", type: "S" }],
            globalSecondaryIndexes: [
              { name: "byEmail", hashKey: "email", readCapacity: 1, writeCapacity: 1 },
            ],
          }),
        ),
    );
    const table = get(TABLE, "tbl-full-table").inputs;
    assert.equal(table.billingMode, "PROVISIONED");
    assert.equal(table.readCapacity, 5);
    assert.deepEqual(table.ttl, { attributeName: "expiresAt", enabled: true });
    assert.equal(table.streamEnabled, true);
    assert.equal(table.streamViewType, "NEW_AND_OLD_IMAGES");
    assert.deepEqual(table.globalSecondaryIndexes, [
      { name: "byEmail", hashKey: "email", projectionType: "ALL", readCapacity: 1, writeCapacity: 1 },
    ]);
  });

  it("grants read as exact actions on the table and its indexes only", async () => {
    const { get } = await record(() => {
      const table = new DataTable("tbl-read", args());
      table.grantRead(fn("tbl-read-fn"));
      return table;
    });
    const arn = get(TABLE, "tbl-read-table").outputs.arn;
    assert.deepEqual(policyStatements(get(ROLE_POLICY, "tbl-read-fn-tbl-read-table-read")), [
      {
        Effect: "Allow",
        Sid: "TableAccess",
        Action: [
          "dynamodb:BatchGetItem",
          "dynamodb:ConditionCheckItem",
          "dynamodb:DescribeTable",
          "dynamodb:GetItem",
          "dynamodb:Query",
          "dynamodb:Scan",
        ],
        Resource: [arn, `${arn}/index/*`],
      },
    ]);
  });

  it("grants write without any read action", async () => {
    const { get } = await record(() => {
      const table = new DataTable("tbl-write", args());
      table.grantWrite(fn("tbl-write-fn"));
      return table;
    });
    const [statement] = policyStatements(get(ROLE_POLICY, "tbl-write-fn-tbl-write-table-write"));
    assert.deepEqual(statement.Action, [
      "dynamodb:BatchWriteItem",
      "dynamodb:ConditionCheckItem",
      "dynamodb:DeleteItem",
      "dynamodb:PutItem",
      "dynamodb:UpdateItem",
    ]);
  });

  it("adds kms:Decrypt and kms:GenerateDataKey on the table's key to read-write grants", async () => {
    const { get } = await record(() => {
      const table = new DataTable("tbl-kms", args({ encryption: "customer-managed" }));
      table.grantReadWrite(fn("tbl-kms-fn"));
      return table;
    });
    const statements = policyStatements(get(ROLE_POLICY, "tbl-kms-fn-tbl-kms-table-readwrite"));
    assert.equal((statements[0].Action as string[]).length, 10);
    assert.deepEqual(statements[1], {
      Effect: "Allow",
      Sid: "TableKey",
      Action: ["kms:Decrypt", "kms:GenerateDataKey"],
      Resource: [get(KEY, "tbl-kms-key").outputs.arn],
    });
  });

  it("grants only kms:Decrypt with read access", async () => {
    const { get } = await record(() => {
      const table = new DataTable("tbl-kms-read", args({ encryption: "customer-managed" }));
      table.grantRead(fn("tbl-kms-read-fn"));
      return table;
    });
    assert.deepEqual(
      policyStatements(get(ROLE_POLICY, "tbl-kms-read-fn-tbl-kms-read-table-read"))[1].Action,
      ["kms:Decrypt"],
    );
  });

  it("rejects a GSI key that is not a declared attribute", () => {
    assert.throws(
      () =>
        new DataTable(
          "tbl-bad-gsi",
          args({ globalSecondaryIndexes: [{ name: "byEmail", hashKey: "email" }] }),
        ),
      /DataTable tbl-bad-gsi: globalSecondaryIndexes byEmail: key email must be declared in attributes/,
    );
  });

  it("rejects provisioned billing without positive capacity", () => {
    assert.throws(
      () =>
        new DataTable(
          "tbl-bad-capacity",
          args({ billing: { mode: "provisioned", readCapacity: 0, writeCapacity: 5 } }),
        ),
      /billing.readCapacity must be a positive integer \(got 0\)/,
    );
  });
});
