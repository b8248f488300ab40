import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import pg from "pg";
import { MIGRATIONS, migrate } from "../../automation/service/jobs/pg-schema";
import { PgJobStore } from "../../automation/service/jobs/pg-store";
import { databaseFile, JobStore } from "../../automation/service/jobs/store";
import { openService } from "../../automation/service/service";
import { startTestPostgres, type TestPostgres } from "../helpers/service-postgres";
import { storeContract } from "./store-contract";

describe("job store contract: SQLite", () => {
  const dirs: string[] = [];
  after(() => {
    for (const dir of dirs) fs.rmSync(dir, { recursive: true, force: true });
  });
  storeContract(async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "platform-contract-"));
    dirs.push(dir);
    return new JobStore(databaseFile(dir));
  });
});

describe("job store contract: PostgreSQL", function () {
  this.timeout(60_000);
  let server: TestPostgres | undefined;
  before(async function () {
    const started = await startTestPostgres();
    if ("missing" in started) {
      console.log(`      skipped: ${started.missing}`);
      this.skip();
    }
    server = started as TestPostgres;
  });
  after(() => server?.stop());

  storeContract(async () => PgJobStore.open({ url: await server!.createDatabase(), leaseMs: 5_000 }));

  describe("migrations", () => {
    it("applies each migration once when two replicas start at once", async () => {
      const url = await server!.createDatabase();
      const pools = [new pg.Pool({ connectionString: url }), new pg.Pool({ connectionString: url })];
      try {
        const applied = await Promise.all(pools.map((pool) => migrate(pool)));
        assert.deepEqual(applied.flat().sort(), MIGRATIONS.map((migration) => migration.version).sort());
        const { rows } = await pools[0].query("SELECT version FROM platform_migrations ORDER BY version");
        assert.deepEqual(
          rows.map((row) => row.version),
          MIGRATIONS.map((migration) => migration.version),
        );
        assert.deepEqual(await migrate(pools[1]), [], "a later start applies nothing");
      } finally {
        await Promise.all(pools.map((pool) => pool.end()));
      }
    });

    it("names the database, without its password, when it cannot connect", async () => {
      await assert.rejects(
        PgJobStore.open({ url: `postgres://platform:hunter2@127.0.0.1:${server!.port}/no_such_db` }),
        (error: Error) =>
          error.name === "DatabaseOpenError" &&
          error.message.includes("no_such_db") &&
          !error.message.includes("hunter2"),
      );
    });
  });
});

describe("choosing the job store", () => {
  it("rejects a PLATFORM_DATABASE_URL that is not a PostgreSQL URL, naming the variable and the form", async () => {
    await assert.rejects(
      openService({ databaseUrl: "mysql://db/jobs", driftSchedule: false }),
      /PLATFORM_DATABASE_URL must be a PostgreSQL URL \(postgres:\/\/user:password@host:port\/database\)/,
    );
  });

  it("rejects a lease out of range, naming PLATFORM_REPLICA_LEASE_MS and the range", async () => {
    for (const replicaLeaseMs of [10, Number.NaN, 7_200_000]) {
      await assert.rejects(
        openService({ databaseUrl: "postgres://db/jobs", replicaLeaseMs, driftSchedule: false }),
        /PLATFORM_REPLICA_LEASE_MS must be a whole number of milliseconds from 300 to 3600000/,
      );
    }
  });
});
