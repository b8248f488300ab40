/**
 * The local cloud's DynamoDB data folder: LevelDB has one opener, so a second cloud on the same
 * folder is refused with a message naming the holder, instead of dynalite failing later, uncaught.
 */
import { strict as assert } from "node:assert";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { applyTables, lockDataDir, startDynamoDb } from "../../automation/local/tables";

describe("the local cloud's data folder", () => {
  let dir: string;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "platform-tables-"));
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  it("refuses a second DynamoDB on a folder in use, naming the process that holds it", async () => {
    const first = await startDynamoDb({ dataDir: dir, region: "us-east-1" });
    try {
      await assert.rejects(
        startDynamoDb({ dataDir: dir, region: "us-east-1" }),
        new RegExp(`in use by process ${process.pid} .*--in-memory`),
      );
    } finally {
      await first.close();
    }
    const again = await startDynamoDb({ dataDir: dir, region: "us-east-1" });
    await again.close();
  });

  it("creates a table with TTL, saying that dynalite does not enforce it", async () => {
    const db = await startDynamoDb({ region: "us-east-1" });
    try {
      const changes = await applyTables(db.client, [
        {
          name: "ttl-table",
          hashKey: "id",
          attributes: [{ name: "id", type: "S" }],
          globalSecondaryIndexes: [],
          ttlAttribute: "expiresAt",
        },
      ]);
      assert.deepEqual(changes, [
        "table ttl-table created",
        "table ttl-table: TTL on expiresAt is not enforced locally (dynalite has no TTL)",
      ]);
    } finally {
      await db.close();
    }
  });

  it("takes over the lock of a process that is gone", () => {
    const gone = spawnSync(process.execPath, ["-e", "process.stdout.write(String(process.pid))"], {
      encoding: "utf8",
    });
    fs.writeFileSync(`${fs.realpathSync(dir)}.lock`, gone.stdout);
    const release = lockDataDir(dir);
    assert.equal(fs.readFileSync(`${fs.realpathSync(dir)}.lock`, "utf8"), String(process.pid));
    release();
  });
});
