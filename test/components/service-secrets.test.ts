import * as assert from "node:assert/strict";
import { ServiceSecrets } from "../../components/service-secrets";
import { healthFunction, policyStatements, record, testNaming } from "../helpers/pulumi";

const PARAMETERS = { "webhook-key": "/orders/webhook-signing-key", other: "/orders/other" };

describe("ServiceSecrets", () => {
  it("creates a rotating KMS key with an alias and no parameter (no value in the program)", async () => {
    const naming = testNaming();
    const { get, resources } = await record(
      () => new ServiceSecrets("sec-key", { naming, parameters: PARAMETERS }),
    );

    assert.equal(get("aws:kms/key:Key", "sec-key-key").inputs.enableKeyRotation, true);
    assert.equal(
      get("aws:kms/alias:Alias", "sec-key-key-alias").inputs.name,
      `alias/${naming.app}-test-sec-key`,
    );
    assert.deepEqual(
      resources.filter((r) => r.type === "aws:ssm/parameter:Parameter"),
      [],
    );
  });

  it("grants exactly ssm:GetParameter on the one parameter and kms:Decrypt on its key through SSM", async () => {
    const { get } = await record(() => {
      const secrets = new ServiceSecrets("sec-grant", { naming: testNaming(), parameters: PARAMETERS });
      secrets.grantRead(healthFunction("sec-grant-fn"), "webhook-key");
      return secrets;
    });

    assert.deepEqual(
      policyStatements(get("aws:iam/rolePolicy:RolePolicy", "sec-grant-fn-sec-grant-webhook-key-read")),
      [
        {
          Sid: "ReadParameter",
          Effect: "Allow",
          Action: ["ssm:GetParameter"],
          Resource: ["arn:aws:ssm:us-east-1:123456789012:parameter/orders/webhook-signing-key"],
        },
        {
          Sid: "DecryptThroughSsm",
          Effect: "Allow",
          Action: ["kms:Decrypt"],
          Resource: [get("aws:kms/key:Key", "sec-grant-key").outputs.arn],
          Condition: { StringEquals: { "kms:ViaService": "ssm.us-east-1.amazonaws.com" } },
        },
      ],
    );
  });

  it("rejects a grant on a parameter it does not hold, naming the ones it has", async () => {
    await record(() => {
      const secrets = new ServiceSecrets("sec-miss", { naming: testNaming(), parameters: PARAMETERS });
      assert.throws(
        () => secrets.grantRead(healthFunction("sec-miss-fn"), "nope"),
        /ServiceSecrets sec-miss: no parameter nope \(its parameters: webhook-key, other\)/,
      );
    });
  });

  it("rejects a parameter name without a leading slash, naming the key", async () => {
    await record(() =>
      assert.throws(
        () => new ServiceSecrets("sec-bad", { naming: testNaming(), parameters: { key: "orders/key" } }),
        /ServiceSecrets sec-bad: parameters.key must be an SSM parameter name starting with "\/" \(got "orders\/key"\)/,
      ),
    );
  });
});
