import * as assert from "node:assert/strict";
import { physicalName } from "../../components/naming";

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
});
