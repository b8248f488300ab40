import * as assert from "node:assert/strict";
import type { APIGatewayProxyEvent, APIGatewayProxyResult, Context } from "aws-lambda";
import type { ApiHandler } from "../../../functions/shared/handler";
import { apiGatewayEvent, jsonBody, lambdaContext } from "../support/api-gateway";
import { createUsersTable, type LocalDynamoDb, sharedLocalDynamoDb } from "../support/local-dynamodb";
import { loadUsersRoutes, type UsersRoutes } from "../support/users-routes";

/**
 * The users handlers given events API Gateway would never send, or requests a hostile client would:
 * each gets a JSON answer naming what is wrong, never a thrown error (which Lambda turns into a 502).
 */
describe("users API handlers given hostile events", () => {
  let db: LocalDynamoDb;
  let routes: UsersRoutes;
  let restoreEnvironment: () => void;

  before(async () => {
    db = await sharedLocalDynamoDb();
    ({ routes, restore: restoreEnvironment } = await loadUsersRoutes(db));
  });

  beforeEach(async () => {
    process.env.TABLE_NAME = await createUsersTable(db.client);
  });

  after(() => restoreEnvironment?.());

  const alice = { userId: "alice", name: "Alice Liddell", email: "alice@example.com" };
  const messageOf = (result: APIGatewayProxyResult) => (jsonBody(result) as { message: string }).message;
  /** Resolves to the response, or fails the test with what the handler threw. */
  const answer = async (handler: ApiHandler, event: unknown, context: unknown = lambdaContext()) => {
    try {
      return await handler(event as APIGatewayProxyEvent, context as Context);
    } catch (error) {
      assert.fail(`the handler threw instead of answering: ${String(error)}`);
    }
  };
  const postEvent = (body: string | Uint8Array) =>
    apiGatewayEvent({ httpMethod: "POST", resource: "/users", body });
  const listEvent = (queryStringParameters: Record<string, string>) =>
    apiGatewayEvent({ httpMethod: "GET", resource: "/users", queryStringParameters });
  const apiRoutes = (): [string, ApiHandler][] => [
    ["list", routes.list],
    ["get", routes.get],
    ["create", routes.create],
    ["update", routes.update],
    ["remove", routes.remove],
  ];

  describe("malformed events", () => {
    it("answers a null or undefined event with a JSON 400 naming the event", async () => {
      for (const [name, handler] of apiRoutes()) {
        for (const event of [null, undefined]) {
          const result = await answer(handler, event);

          assert.equal(result.statusCode, 400, `${name} given ${event}`);
          assert.match(messageOf(result), /^event must be an API Gateway REST API proxy event/);
        }
      }
    });

    it("answers an event that is a number, a string or an array with a JSON 400", async () => {
      for (const event of [42, "GET /users", [listEvent({})]]) {
        const result = await answer(routes.list, event);

        assert.equal(result.statusCode, 400);
        assert.match(messageOf(result), /^event must be .* not (a number|a string|an array)$/);
      }
    });

    it("answers instead of throwing when reading the event's request id throws", async () => {
      const event = listEvent({});
      Object.defineProperty(event, "requestContext", {
        get() {
          throw new Error("no request context");
        },
      });

      const result = await answer(routes.list, event);

      assert.equal(result.statusCode, 500);
      assert.deepEqual(jsonBody(result), { message: "Internal server error" });
    });

    it("answers a valid request when Lambda passes no context", async () => {
      const result = await answer(routes.list, listEvent({}), null);

      assert.equal(result.statusCode, 200);
    });

    it("answers a query parameter that is not a string with 400 naming it", async () => {
      for (const [name, value] of [
        ["nextToken", 5],
        ["limit", 5],
      ] as const) {
        const event = { ...listEvent({}), queryStringParameters: { [name]: value } };

        const result = await answer(routes.list, event);

        assert.equal(result.statusCode, 400, name);
        assert.equal(messageOf(result), `queryStringParameters.${name} must be a string, not a number`);
      }
    });

    it("answers pathParameters that are not an object of strings with 400 naming them", async () => {
      const event = apiGatewayEvent({
        httpMethod: "GET",
        resource: "/users/{userId}",
        pathParameters: { userId: "alice" },
      });

      const result = await answer(routes.get, { ...event, pathParameters: ["alice"] });

      assert.equal(result.statusCode, 400);
      assert.equal(messageOf(result), "pathParameters must be null or an object of strings, not an array");
    });
  });

  describe("bodies", () => {
    it("answers a body that is not a string with 400 naming the body", async () => {
      for (const body of [42, true, { ...alice }, [alice]]) {
        const result = await answer(routes.create, { ...postEvent("{}"), body });

        assert.equal(result.statusCode, 400, JSON.stringify(body));
        assert.match(messageOf(result), /^Request body must be a string/);
      }
    });

    it("answers an isBase64Encoded that is not a boolean with 400 naming it", async () => {
      const event = { ...postEvent(JSON.stringify(alice)), isBase64Encoded: "false" };

      const result = await answer(routes.create, event);

      assert.equal(result.statusCode, 400);
      assert.equal(messageOf(result), "isBase64Encoded must be true or false, not a string");
    });

    it("answers a base64 body with a character outside the alphabet with 400, not what is left of it", async () => {
      const event = postEvent(new TextEncoder().encode(JSON.stringify(alice)));
      // Node's decoder would skip the `*` and the newline and decode the rest into a valid user.
      for (const body of [`${event.body!.slice(0, 8)}*${event.body!.slice(8)}`, `${event.body}\n`]) {
        const result = await answer(routes.create, { ...event, body });

        assert.equal(result.statusCode, 400, JSON.stringify(body));
        assert.match(messageOf(result), /^Request body is not valid base64 \(isBase64Encoded is true\)/);
      }
    });

    it("answers a base64 body that is not UTF-8 with 400", async () => {
      const json = new TextEncoder().encode(JSON.stringify({ ...alice, name: "Al?ce" }));
      json[json.indexOf("?".charCodeAt(0))] = 0xff;

      const result = await answer(routes.create, postEvent(json));

      assert.equal(result.statusCode, 400);
      assert.equal(messageOf(result), "Request body is not valid UTF-8");
    });

    it("answers a name of only invisible characters with 400 naming name", async () => {
      const body = JSON.stringify({ ...alice, name: "\u3164\u200b\u2800" });

      const result = await answer(routes.create, postEvent(body));

      assert.equal(result.statusCode, 400);
      assert.match(messageOf(result), /^name must be a non-blank string .* at least one visible character/);
    });

    it("answers a body of thousands of unknown keys with a message of under 1 KiB", async () => {
      const keys = Array.from({ length: 1500 }, (_, index) => [`k${index}`, 0]);
      const body = JSON.stringify({ ...alice, ...Object.fromEntries(keys) });
      assert.ok(body.length <= 16 * 1024);

      const result = await answer(routes.create, postEvent(body));

      assert.equal(result.statusCode, 400);
      assert.ok(result.body.length < 1024, `answer of ${result.body.length} characters`);
      assert.match(messageOf(result), /^"k0" is not an allowed field .*; 1495 more fields are not allowed$/);
    });
  });
});
