import * as assert from "node:assert/strict";
import { physicalName } from "../../components/naming";
import { AWS_REGIONS } from "../../components/settings";

const context = { app: "platform", stage: "prod", region: "eu-west-1" };

describe("physicalName", () => {
  it("joins app, stage and name", () => {
    assert.equal(physicalName(context, "users-list"), "platform-prod-users-list");
  });

  it("appends the region to account-global names", () => {
    assert.equal(
      physicalName(context, "users-list-role", { global: true }),
      "platform-prod-users-list-role-eu-west-1",
    );
  });

  it("truncates to the limit with a stable hash", () => {
    const long = "a-very-long-function-name-that-goes-on-and-on-and-on-forever";
    const name = physicalName(context, long);
    assert.equal(name.length, 64);
    assert.match(name, /^platform-prod-a-very-long-.*-[0-9a-f]{7}$/);
    assert.equal(physicalName(context, long), name);
  });

  it("keeps truncated names of different inputs distinct", () => {
    const a = physicalName(context, `${"x".repeat(60)}-a`);
    const b = physicalName(context, `${"x".repeat(60)}-b`);
    assert.notEqual(a, b);
  });

  it("gives the region stacks of one stage different role names", () => {
    const east = physicalName({ ...context, region: "us-east-1" }, "users-list-role", { global: true });
    const west = physicalName({ ...context, region: "us-west-2" }, "users-list-role", { global: true });
    assert.notEqual(east, west);
  });

  it("never exceeds the limit it is given, for the longest app, stage and names in every region", () => {
    // The longest app (20) and stage (10) the settings accept; a service (24) and function (24) name.
    const longest = { app: "a".repeat(20), stage: "s".repeat(10) };
    const name = `${"v".repeat(24)}-${"f".repeat(24)}-schedule-failed`;
    // The limits the components pass: CodeStar connection 32, hook 49, IAM/Lambda/Scheduler 64,
    // SQS 80, CodeDeploy/CodePipeline/Budgets 100, IAM policy/API 128, CodeBuild 150, alarms 255.
    for (const region of [...AWS_REGIONS, "us-gov-west-1", "cn-northwest-1"]) {
      for (const maxLength of [32, 49, 64, 80, 100, 128, 150, 255, 256]) {
        for (const global of [false, true]) {
          const physical = physicalName({ ...longest, region }, name, { maxLength, global });
          assert.ok(physical.length <= maxLength, `${physical} (${region}, ${maxLength}, global ${global})`);
        }
      }
    }
  });
});
