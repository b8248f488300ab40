import * as assert from "node:assert/strict";
import { handler } from "../../../functions/health";

describe("health handler", () => {
  it("answers 200 with status ok as JSON", async () => {
    const result = await handler();

    assert.equal(result.statusCode, 200);
    assert.equal(result.headers?.["Content-Type"], "application/json");
    assert.deepEqual(JSON.parse(result.body), { status: "ok" });
  });
});
