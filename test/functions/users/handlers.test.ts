import * as assert from "node:assert/strict";
import type { Logger } from "@aws-lambda-powertools/logger";
import { PutItemCommand } from "@aws-sdk/client-dynamodb";
import type { APIGatewayProxyResult } from "aws-lambda";
import type { ApiHandler } from "../../../functions/shared/handler";
import { type ApiRequest, apiGatewayEvent, jsonBody, lambdaContext } from "../support/api-gateway";
import {
  createUsersTable,
  handlerEnvironment,
  type LocalDynamoDb,
  setEnvironment,
  sharedLocalDynamoDb,
} from "../support/local-dynamodb";

/** The users handlers against dynalite: every route, every status, through the real SDK. */
describe("users API handlers", () => {
  let db: LocalDynamoDb;
  let restoreEnvironment: () => void;
  let routes: {
    list: ApiHandler;
    get: ApiHandler;
    create: ApiHandler;
    update: ApiHandler;
    remove: ApiHandler;
  };
  let logger: Logger;

  before(async () => {
    db = await sharedLocalDynamoDb();
    // Set before the handlers load: their SDK client and logger are created at module load.
    restoreEnvironment = setEnvironment(handlerEnvironment(db));
    routes = {
      list: (await import("../../../functions/users/list")).handler,
      get: (await import("../../../functions/users/get")).handler,
      create: (await import("../../../functions/users/create")).handler,
      update: (await import("../../../functions/users/update")).handler,
      remove: (await import("../../../functions/users/delete")).handler,
    };
    logger = (await import("../../../functions/shared/logger")).logger;
  });

  // A fresh table per test: no test sees another's users, and a list sees exactly what it seeded.
  beforeEach(async () => {
    process.env.TABLE_NAME = await createUsersTable(db.client);
  });

  after(() => {
    restoreEnvironment?.();
  });

  const invoke = (handler: ApiHandler, request: ApiRequest) =>
    handler(apiGatewayEvent(request), lambdaContext());
  const post = (body: unknown) =>
    invoke(routes.create, { httpMethod: "POST", resource: "/users", body: JSON.stringify(body) });
  const getUser = (userId: string) =>
    invoke(routes.get, { httpMethod: "GET", resource: "/users/{userId}", pathParameters: { userId } });
  const put = (userId: string, body: unknown) =>
    invoke(routes.update, {
      httpMethod: "PUT",
      resource: "/users/{userId}",
      pathParameters: { userId },
      body: JSON.stringify(body),
    });
  const list = (queryStringParameters?: Record<string, string>) =>
    invoke(routes.list, { httpMethod: "GET", resource: "/users", queryStringParameters });
  const seed = async (count: number) => {
    const userIds = Array.from({ length: count }, (_, index) => `user-${String(index).padStart(3, "0")}`);
    for (const userId of userIds) {
      const result = await post({ userId, name: `User ${userId}`, email: `${userId}@example.com` });
      assert.equal(result.statusCode, 201);
    }
    return userIds;
  };
  const messageOf = (result: APIGatewayProxyResult) => (jsonBody(result) as { message: string }).message;
  const alice = { userId: "alice", name: "Alice Liddell", email: "alice@example.com" };

  describe("POST /users", () => {
    it("creates the user and answers 201 with it and its Location", async () => {
      const result = await post(alice);

      assert.equal(result.statusCode, 201);
      // The test events come from stage dev: requestContext.path is /dev/users.
      assert.equal(result.headers?.Location, "/dev/users/alice");
      assert.deepEqual(jsonBody(result), jsonBody(await getUser("alice")));
    });

    it("stores createdAt and updatedAt as the same ISO timestamp", async () => {
      const before = Date.now();

      const user = jsonBody(await post(alice)) as { createdAt: string; updatedAt: string };

      assert.equal(user.createdAt, user.updatedAt);
      assert.equal(new Date(user.createdAt).toISOString(), user.createdAt);
      assert.ok(Date.parse(user.createdAt) >= before - 1000);
    });

    it("answers 409 and keeps the original when the userId is taken", async () => {
      await post(alice);

      const result = await post({ ...alice, name: "Impostor" });

      assert.equal(result.statusCode, 409);
      assert.deepEqual(jsonBody(result), { message: "User alice already exists" });
      assert.equal((jsonBody(await getUser("alice")) as { name: string }).name, "Alice Liddell");
    });

    it("answers 400 naming the field and the rule when a field is invalid", async () => {
      const result = await post({ ...alice, email: "not-an-email" });

      assert.equal(result.statusCode, 400);
      assert.match(messageOf(result), /^email must be an email address/);
    });

    it("answers 400 when the body has a field it does not know", async () => {
      const result = await post({ ...alice, admin: true });

      assert.equal(result.statusCode, 400);
      assert.match(messageOf(result), /"admin" is not an allowed field/);
    });

    it("answers 400 when the body is not valid JSON", async () => {
      const result = await invoke(routes.create, {
        httpMethod: "POST",
        resource: "/users",
        body: '{"userId":',
      });

      assert.equal(result.statusCode, 400);
      assert.deepEqual(jsonBody(result), { message: "Request body is not valid JSON" });
    });

    it("answers 413 when the body is over 16 KiB", async () => {
      const body = JSON.stringify({ ...alice, name: "x".repeat(16 * 1024) });

      const result = await invoke(routes.create, { httpMethod: "POST", resource: "/users", body });

      assert.equal(result.statusCode, 413);
      assert.deepEqual(jsonBody(result), { message: "Request body must be at most 16384 bytes" });
    });

    it("decodes a base64-encoded body", async () => {
      const body = new TextEncoder().encode(JSON.stringify(alice));

      const result = await invoke(routes.create, { httpMethod: "POST", resource: "/users", body });

      assert.equal(result.statusCode, 201);
    });

    it("validates the body before touching the table", async () => {
      process.env.TABLE_NAME = "no-such-table";

      const result = await post({ userId: "alice" });

      assert.equal(result.statusCode, 400);
      assert.match(messageOf(result), /name is required; email is required/);
    });
  });

  describe("GET /users/{userId}", () => {
    it("answers 200 with the stored user", async () => {
      await post(alice);

      const result = await getUser("alice");

      assert.equal(result.statusCode, 200);
      const { createdAt, updatedAt, ...fields } = jsonBody(result) as Record<string, string>;
      assert.deepEqual(fields, alice);
      assert.ok(createdAt && updatedAt);
    });

    it("answers 404 when the user does not exist", async () => {
      const result = await getUser("nobody");

      assert.equal(result.statusCode, 404);
      assert.deepEqual(jsonBody(result), { message: "User nobody not found" });
    });

    it("answers 400 when the path userId cannot be a user id", async () => {
      const result = await getUser("a".repeat(65));

      assert.equal(result.statusCode, 400);
      assert.match(messageOf(result), /^Path parameter userId must be/);
    });

    it("returns stored numbers as JSON numbers", async () => {
      await db.client.send(
        new PutItemCommand({
          TableName: process.env.TABLE_NAME,
          Item: { userId: { S: "counted" }, name: { S: "Counted" }, loginCount: { N: "42" } },
        }),
      );

      const user = jsonBody(await getUser("counted")) as { loginCount: unknown };

      assert.equal(user.loginCount, 42);
    });

    it("tags the invocation's log lines with the API Gateway request id", async () => {
      const event = apiGatewayEvent({
        httpMethod: "GET",
        resource: "/users/{userId}",
        pathParameters: { userId: "x" },
      });

      await routes.get(event, lambdaContext());

      assert.equal(logger.getCorrelationId(), event.requestContext.requestId);
    });
  });

  describe("PUT /users/{userId}", () => {
    it("replaces name and email and answers 200 with the updated user", async () => {
      const created = jsonBody(await post(alice)) as { createdAt: string };

      const result = await put("alice", { name: "Alice Kingsleigh", email: "alice@underland.example" });

      assert.equal(result.statusCode, 200);
      const updated = jsonBody(result) as Record<string, string>;
      assert.equal(updated.name, "Alice Kingsleigh");
      assert.equal(updated.email, "alice@underland.example");
      assert.equal(updated.createdAt, created.createdAt);
      assert.ok(updated.updatedAt >= created.createdAt);
      assert.deepEqual(jsonBody(await getUser("alice")), updated);
    });

    it("accepts a userId in the body that equals the path's", async () => {
      await post(alice);

      const result = await put("alice", { ...alice, name: "Alice L." });

      assert.equal(result.statusCode, 200);
    });

    it("answers 400 when the body's userId differs from the path's", async () => {
      await post(alice);

      const result = await put("alice", { ...alice, userId: "bob" });

      assert.equal(result.statusCode, 400);
      assert.match(messageOf(result), /^userId in the body must equal/);
    });

    it("answers 400 when a required field is missing", async () => {
      await post(alice);

      const result = await put("alice", { name: "Alice" });

      assert.equal(result.statusCode, 400);
      assert.deepEqual(jsonBody(result), { message: "email is required" });
    });

    it("answers 404 and creates nothing when the user does not exist", async () => {
      const result = await put("nobody", { name: "Nobody", email: "nobody@example.com" });

      assert.equal(result.statusCode, 404);
      assert.deepEqual(jsonBody(result), { message: "User nobody not found" });
      assert.equal((await getUser("nobody")).statusCode, 404);
    });
  });

  describe("DELETE /users/{userId}", () => {
    const remove = (userId: string) =>
      invoke(routes.remove, {
        httpMethod: "DELETE",
        resource: "/users/{userId}",
        pathParameters: { userId },
      });

    it("deletes the user and answers 204 with an empty body", async () => {
      await post(alice);

      const result = await remove("alice");

      assert.equal(result.statusCode, 204);
      assert.equal(result.body, "");
      assert.equal((await getUser("alice")).statusCode, 404);
    });

    it("answers 404 when the user does not exist", async () => {
      const result = await remove("nobody");

      assert.equal(result.statusCode, 404);
      assert.deepEqual(jsonBody(result), { message: "User nobody not found" });
    });
  });

  describe("GET /users", () => {
    type Page = { items: { userId: string }[]; nextToken?: string };

    it("pages through every user exactly once", async () => {
      const userIds = await seed(25);
      const pages: Page[] = [];

      let nextToken: string | undefined;
      do {
        const result = await list({ limit: "10", ...(nextToken ? { nextToken } : {}) });
        assert.equal(result.statusCode, 200);
        const page = jsonBody(result) as Page;
        pages.push(page);
        nextToken = page.nextToken;
      } while (nextToken && pages.length < 10);

      assert.deepEqual(
        pages.map((page) => page.items.length),
        [10, 10, 5],
      );
      const seen = pages.flatMap((page) => page.items.map((item) => item.userId));
      assert.deepEqual([...seen].sort(), userIds);
    });

    it("returns 20 users when no limit is given", async () => {
      await seed(25);

      const page = jsonBody(await list()) as Page;

      assert.equal(page.items.length, 20);
      assert.equal(typeof page.nextToken, "string");
    });

    it("omits nextToken on the last page", async () => {
      await seed(3);

      const page = jsonBody(await list({ limit: "10" })) as Page;

      assert.equal(page.items.length, 3);
      assert.equal("nextToken" in page, false);
    });

    it("answers 400 for a limit that is not an integer from 1 to 100", async () => {
      for (const limit of ["0", "101", "-1", "1.5", "ten", "", "1e2"]) {
        const result = await list({ limit });

        assert.equal(result.statusCode, 400, `limit=${limit}`);
        assert.deepEqual(jsonBody(result), {
          message: "Query parameter limit must be an integer from 1 to 100",
        });
      }
    });

    it("answers 400 for a nextToken that does not decode to a key", async () => {
      const encode = (value: string) => Buffer.from(value).toString("base64url");
      const tokens = [
        "***",
        "not base64!",
        encode("not json"),
        encode("[1]"),
        encode('{"userId":7}'),
        encode('{"userId":"a","x":1}'),
      ];
      for (const nextToken of tokens) {
        const result = await list({ nextToken });

        assert.equal(result.statusCode, 400, `nextToken=${nextToken}`);
        assert.match(messageOf(result), /^Query parameter nextToken/);
      }
    });
  });

  describe("failures", () => {
    it("answers 500 without the SDK's error when the table does not exist", async () => {
      process.env.TABLE_NAME = "no-such-table";

      const result = await getUser("alice");

      assert.equal(result.statusCode, 500);
      assert.equal(result.body, JSON.stringify({ message: "Internal server error" }));
      assert.equal(result.headers?.["Content-Type"], "application/json");
    });

    it("logs the error it hides behind a 500", async () => {
      process.env.TABLE_NAME = "no-such-table";
      const logged: unknown[][] = [];
      const logError = logger.error;
      logger.error = (...args: unknown[]) => {
        logged.push(args);
      };

      try {
        await getUser("alice");
      } finally {
        logger.error = logError;
      }

      assert.equal(logged.length, 1);
      assert.equal((logged[0][1] as Error).name, "ResourceNotFoundException");
    });

    it("answers 500 when TABLE_NAME is not set", async () => {
      delete process.env.TABLE_NAME;

      const result = await list();

      assert.equal(result.statusCode, 500);
      assert.deepEqual(jsonBody(result), { message: "Internal server error" });
    });
  });
});
