/**
 * The local cloud's DynamoDB: an embedded dynalite (a DynamoDB-protocol server) on loopback, with
 * every table of the plan: key schema, global secondary indexes, TTL. Data is kept in a folder
 * (LevelDB) unless the cloud runs in memory.
 */
import * as fs from "node:fs";
import type { Server } from "node:net";
import {
  type AttributeDefinition,
  CreateTableCommand,
  DeleteTableCommand,
  DescribeTableCommand,
  DynamoDBClient,
  ListTablesCommand,
  ResourceNotFoundException,
  type TableDescription,
  UpdateTimeToLiveCommand,
} from "@aws-sdk/client-dynamodb";
import type { LocalTable } from "./model";

interface DynaliteOptions {
  path?: string;
  createTableMs: number;
  deleteTableMs: number;
  updateTableMs: number;
}

// dynalite ships no type declarations.
const dynalite = require("dynalite") as (options: DynaliteOptions) => Server;

/** The credentials every local client and function uses: the local cloud checks none of them. */
export const LOCAL_CREDENTIALS = {
  accessKeyId: "LOCALCLOUDACCESSKEY1",
  secretAccessKey: "local-cloud-secret-key",
};

export interface LocalDynamoDb {
  endpoint: string;
  client: DynamoDBClient;
  close(): Promise<void>;
}

/** Data folders this process holds (a second cloud on one folder is refused like another process's). */
const heldByThisProcess = new Set<string>();

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}

/**
 * Takes the data folder for this process: LevelDB allows one opener, and dynalite fails later and
 * uncaught when it is not the one. A lock file names the holder; a dead holder's lock is taken over.
 * Returns the release function.
 */
export function lockDataDir(dataDir: string): () => void {
  const resolved = fs.realpathSync(dataDir);
  const lockFile = `${resolved}.lock`;
  const refuse = (pid: number) =>
    new Error(
      `the local data in ${resolved} is in use by process ${pid} (another platform dev or service): stop it, or use --in-memory`,
    );
  if (heldByThisProcess.has(resolved)) throw refuse(process.pid);
  for (let attempt = 0; attempt < 2; attempt += 1) {
    try {
      fs.writeFileSync(lockFile, String(process.pid), { flag: "wx" });
      heldByThisProcess.add(resolved);
      return () => {
        heldByThisProcess.delete(resolved);
        fs.rmSync(lockFile, { force: true });
      };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
      const holder = Number(fs.readFileSync(lockFile, "utf8"));
      if (Number.isInteger(holder) && holder > 0 && holder !== process.pid && processAlive(holder))
        throw refuse(holder);
      fs.rmSync(lockFile, { force: true }); // the holder is gone
    }
  }
  throw new Error(`cannot lock ${resolved}`);
}

/** Starts dynalite on 127.0.0.1 (a free port unless given); data in `dataDir`, or in memory. */
export async function startDynamoDb(options: {
  dataDir?: string;
  port?: number;
  region: string;
  /** The server does not keep the process alive. */
  unref?: boolean;
}): Promise<LocalDynamoDb> {
  if (options.dataDir) fs.mkdirSync(options.dataDir, { recursive: true });
  const release = options.dataDir ? lockDataDir(options.dataDir) : () => {};
  const server = dynalite({ path: options.dataDir, createTableMs: 0, deleteTableMs: 0, updateTableMs: 0 });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port ?? 0, "127.0.0.1", () => {
      server.off("error", reject);
      resolve();
    });
  }).catch((error: unknown) => {
    release();
    throw error;
  });
  if (options.unref) server.unref();
  const address = server.address();
  if (address === null || typeof address === "string") throw new Error("dynalite is not listening on TCP");
  const endpoint = `http://127.0.0.1:${address.port}`;
  const client = new DynamoDBClient({ endpoint, region: options.region, credentials: LOCAL_CREDENTIALS });
  return {
    endpoint,
    client,
    close: async () => {
      client.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      (server as Server & { closeAllConnections?: () => void }).closeAllConnections?.();
      release();
    },
  };
}

/** What differs between a table as it exists locally and as the plan declares it. */
export function tableDifferences(planned: LocalTable, actual: TableDescription): string[] {
  const differences: string[] = [];
  const key = (type: string) => actual.KeySchema?.find((k) => k.KeyType === type)?.AttributeName;
  if (key("HASH") !== planned.hashKey)
    differences.push(`hash key is ${key("HASH")}, planned ${planned.hashKey}`);
  if (key("RANGE") !== planned.rangeKey) {
    differences.push(`range key is ${key("RANGE") ?? "none"}, planned ${planned.rangeKey ?? "none"}`);
  }
  const indexes = new Set((actual.GlobalSecondaryIndexes ?? []).map((gsi) => gsi.IndexName));
  for (const gsi of planned.globalSecondaryIndexes) {
    if (!indexes.has(gsi.name)) differences.push(`index ${gsi.name} is missing`);
    indexes.delete(gsi.name);
  }
  for (const extra of indexes) differences.push(`index ${extra} is not in the plan`);
  return differences;
}

async function describe(client: DynamoDBClient, name: string): Promise<TableDescription | undefined> {
  try {
    return (await client.send(new DescribeTableCommand({ TableName: name }))).Table;
  } catch (error) {
    if (error instanceof ResourceNotFoundException) return undefined;
    throw error;
  }
}

function createCommand(table: LocalTable): CreateTableCommand {
  const attributes: AttributeDefinition[] = table.attributes.map((a) => ({
    AttributeName: a.name,
    AttributeType: a.type,
  }));
  return new CreateTableCommand({
    TableName: table.name,
    BillingMode: "PAY_PER_REQUEST",
    AttributeDefinitions: attributes,
    KeySchema: [
      { AttributeName: table.hashKey, KeyType: "HASH" },
      ...(table.rangeKey ? [{ AttributeName: table.rangeKey, KeyType: "RANGE" as const }] : []),
    ],
    GlobalSecondaryIndexes:
      table.globalSecondaryIndexes.length > 0
        ? table.globalSecondaryIndexes.map((gsi) => ({
            IndexName: gsi.name,
            KeySchema: [
              { AttributeName: gsi.hashKey, KeyType: "HASH" as const },
              ...(gsi.rangeKey ? [{ AttributeName: gsi.rangeKey, KeyType: "RANGE" as const }] : []),
            ],
            Projection: { ProjectionType: gsi.projectionType as "ALL" | "KEYS_ONLY" | "INCLUDE" },
          }))
        : undefined,
  });
}

/**
 * Brings the local tables to the plan: creates missing tables, recreates one whose keys or indexes
 * differ (local data is disposable; the change is returned so that it can be said), deletes tables
 * the plan no longer has, and sets TTL. Returns one line per change.
 */
export async function applyTables(client: DynamoDBClient, tables: LocalTable[]): Promise<string[]> {
  const changes: string[] = [];
  for (const table of tables) {
    const existing = await describe(client, table.name);
    if (existing) {
      const differences = tableDifferences(table, existing);
      if (differences.length === 0) continue;
      await client.send(new DeleteTableCommand({ TableName: table.name }));
      changes.push(`table ${table.name} recreated: ${differences.join("; ")}`);
    } else {
      changes.push(`table ${table.name} created`);
    }
    await client.send(createCommand(table));
    if (table.ttlAttribute) {
      try {
        await client.send(
          new UpdateTimeToLiveCommand({
            TableName: table.name,
            TimeToLiveSpecification: { AttributeName: table.ttlAttribute, Enabled: true },
          }),
        );
      } catch (error) {
        // dynalite has no TTL: items keep their expiry attribute but are not deleted locally.
        if ((error as { name?: string }).name !== "UnknownOperationException") throw error;
        changes.push(
          `table ${table.name}: TTL on ${table.ttlAttribute} is not enforced locally (dynalite has no TTL)`,
        );
      }
    }
  }
  const planned = new Set(tables.map((t) => t.name));
  const { TableNames = [] } = await client.send(new ListTablesCommand({}));
  for (const name of TableNames) {
    if (planned.has(name)) continue;
    await client.send(new DeleteTableCommand({ TableName: name }));
    changes.push(`table ${name} deleted: not in the plan`);
  }
  return changes;
}

/** Differences between the local tables and the plan, for drift: one line each. */
export async function tableDrift(client: DynamoDBClient, tables: LocalTable[]): Promise<string[]> {
  const drift: string[] = [];
  for (const table of tables) {
    const existing = await describe(client, table.name);
    if (!existing) drift.push(`table ${table.name} is missing`);
    else
      for (const difference of tableDifferences(table, existing))
        drift.push(`table ${table.name}: ${difference}`);
  }
  const planned = new Set(tables.map((t) => t.name));
  const { TableNames = [] } = await client.send(new ListTablesCommand({}));
  for (const name of TableNames) if (!planned.has(name)) drift.push(`table ${name} is not in the plan`);
  return drift;
}
