import type { Server } from "node:net";
import { CreateTableCommand, DescribeTableCommand, DynamoDBClient } from "@aws-sdk/client-dynamodb";

interface DynaliteOptions {
  createTableMs: number;
  deleteTableMs: number;
  updateTableMs: number;
}

// dynalite ships no type declarations.
const dynalite = require("dynalite") as (options: DynaliteOptions) => Server;

/** A DynamoDB-protocol server in this process, on a free loopback port. */
export interface LocalDynamoDb {
  endpoint: string;
  client: DynamoDBClient;
  stop(): Promise<void>;
}

export async function startLocalDynamoDb(): Promise<LocalDynamoDb> {
  const server = dynalite({ createTableMs: 0, deleteTableMs: 0, updateTableMs: 0 });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", resolve);
  });
  const address = server.address();
  if (address === null || typeof address === "string") throw new Error("dynalite is not listening on TCP");
  const endpoint = `http://127.0.0.1:${address.port}`;
  const client = new DynamoDBClient({
    endpoint,
    region: "us-east-1",
    credentials: { accessKeyId: "test", secretAccessKey: "test" },
  });
  return {
    endpoint,
    client,
    stop: async () => {
      client.destroy();
      await new Promise<void>((resolve, reject) =>
        server.close((error) => (error ? reject(error) : resolve())),
      );
    },
  };
}

let shared: Promise<LocalDynamoDb> | undefined;

/**
 * The test process's one dynalite, for every test that runs handler modules: a handler creates its
 * SDK client once, at load, and the client keeps the endpoint it first resolved, so all test files
 * must send it to the same server. Each test makes its own table. Stopped after the whole run.
 */
export function sharedLocalDynamoDb(): Promise<LocalDynamoDb> {
  shared ??= startLocalDynamoDb();
  return shared;
}

// A root hook (registered while mocha loads the test files), so that the server outlives every file.
if (typeof after === "function") {
  after(async () => {
    if (shared) await (await shared).stop();
  });
}

/** The environment a handler module needs, set before it loads, to talk to `db` and log nothing. */
export function handlerEnvironment(db: LocalDynamoDb): Record<string, string | undefined> {
  return {
    AWS_ENDPOINT_URL_DYNAMODB: db.endpoint,
    AWS_REGION: "us-east-1",
    AWS_ACCESS_KEY_ID: "test",
    AWS_SECRET_ACCESS_KEY: "test",
    AWS_SESSION_TOKEN: undefined,
    AWS_PROFILE: undefined,
    TABLE_NAME: undefined,
    POWERTOOLS_LOG_LEVEL: "SILENT",
  };
}

let tableCount = 0;

/** Creates a users table as the Platform's DataTable defines it and waits until it is ACTIVE. */
export async function createUsersTable(client: DynamoDBClient): Promise<string> {
  tableCount += 1;
  const tableName = `users-test-${tableCount}`;
  await client.send(
    new CreateTableCommand({
      TableName: tableName,
      AttributeDefinitions: [{ AttributeName: "userId", AttributeType: "S" }],
      KeySchema: [{ AttributeName: "userId", KeyType: "HASH" }],
      BillingMode: "PAY_PER_REQUEST",
    }),
  );
  for (;;) {
    const { Table } = await client.send(new DescribeTableCommand({ TableName: tableName }));
    if (Table?.TableStatus === "ACTIVE") return tableName;
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

/** Sets environment variables and returns a function that puts back what was there before. */
export function setEnvironment(variables: Record<string, string | undefined>): () => void {
  const previous = Object.fromEntries(Object.keys(variables).map((name) => [name, process.env[name]]));
  const apply = (values: Record<string, string | undefined>) => {
    for (const [name, value] of Object.entries(values)) {
      if (value === undefined) delete process.env[name];
      else process.env[name] = value;
    }
  };
  apply(variables);
  return () => apply(previous);
}
