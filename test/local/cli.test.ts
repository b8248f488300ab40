/**
 * `platform event` and `platform invoke` as a developer uses them, in real processes joined by a
 * shell pipe (as `sam local generate-event ... | sam local invoke -e -`): the event this stack's API
 * would send, handed to the function through standard input.
 */
import { strict as assert } from "node:assert";
import { spawnSync } from "node:child_process";
import * as path from "node:path";
import { PROJECT_DIR } from "../../automation/plan/plan";

const CLI = `${JSON.stringify(process.execPath)} --import tsx ${JSON.stringify(path.join(PROJECT_DIR, "automation/cli.ts"))}`;
const shell = (command: string) =>
  spawnSync("sh", ["-c", command], { cwd: PROJECT_DIR, encoding: "utf8", timeout: 120_000 });

describe("platform event | platform invoke", function () {
  this.timeout(150_000);

  it("invokes the routed function with the event piped from platform event, and prints its result", () => {
    const run = shell(`${CLI} event GET /users/abc | ${CLI} invoke get --event - --in-memory`);
    assert.equal(run.status, 0, run.stderr);
    const result = JSON.parse(run.stdout) as { statusCode: number; body: string };
    assert.equal(result.statusCode, 404);
    assert.deepEqual(JSON.parse(result.body), { message: "User abc not found" });
  });

  it("refuses an event on standard input that is not JSON, with exit code 2", () => {
    const run = shell(`echo 'not json' | ${CLI} invoke get --event - --in-memory`);
    assert.equal(run.status, 2);
    assert.match(run.stderr, /the event in standard input is not JSON/);
  });
});
