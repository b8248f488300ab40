import * as assert from "node:assert/strict";
import { DynamoDBDocumentClient, GetCommand } from "@aws-sdk/lib-dynamodb";
import type { APIGatewayProxyEvent } from "aws-lambda";
import { type AwsClientStub, mockClient } from "aws-sdk-client-mock";
import iamAuthEvent from "../../fixtures/events/apigw-rest-iam-auth.json";
import { apiGatewayEvent, lambdaContext } from "../support/api-gateway";
import { createUsersTable, type LocalDynamoDb, sharedLocalDynamoDb } from "../support/local-dynamodb";
import { loadUsersRoutes, type UsersRoutes } from "../support/users-routes";

const ada = { userId: "ada", name: "Ada Lovelace", email: "ada@example.com" };

/**
 * `POST /users` as a deployed API sends it: the captured IAM-signed event (stage `prod`, called on
 * its execute-api URL, so `requestContext.path` is `/prod/users` while `path` is `/users`).
 */
function capturedPost(body: unknown): APIGatewayProxyEvent {
  const event = structuredClone(iamAuthEvent) as unknown as APIGatewayProxyEvent;
  event.resource = "/users";
  event.path = "/users";
  event.requestContext.resourcePath = "/users";
  event.requestContext.path = `/${event.requestContext.stage}/users`;
  event.headers = { ...event.headers, "Content-Type": "application/json" };
  event.body = JSON.stringify(body);
  return event;
}

/** What a client that follows `Location` gets: the header must name a path the API serves. */
describe("users: reading back what was just created", () => {
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

  describe("Location of a created user", () => {
    it("keeps the stage of an execute-api URL, from a captured API Gateway event", async () => {
      const result = await routes.create(capturedPost(ada), lambdaContext());

      assert.equal(result.statusCode, 201);
      assert.equal(result.headers?.Location, "/prod/users/ada");
    });

    it("keeps a custom domain's base path, the path the client used", async () => {
      const event = capturedPost(ada);
      event.requestContext.path = "/people/users";

      const result = await routes.create(event, lambdaContext());

      assert.equal(result.headers?.Location, "/people/users/ada");
    });

    it("falls back to /users/<id> for an event without requestContext.path", async () => {
      const event = capturedPost(ada);
      (event.requestContext as { path?: string }).path = undefined;

      const result = await routes.create(event, lambdaContext());

      assert.equal(result.statusCode, 201);
      assert.equal(result.headers?.Location, "/users/ada");
    });
  });

  describe("GET /users/{userId}", () => {
    // dynalite is always consistent, so the test looks at the request the handler sends.
    // Stubbed in the hook, not at load: the stub replaces send() for every document client in the process.
    let documentClient: AwsClientStub<DynamoDBDocumentClient>;

    before(() => {
      documentClient = mockClient(DynamoDBDocumentClient);
    });
    after(() => documentClient.restore());

    it("reads the user with a strongly consistent GetItem", async () => {
      documentClient.on(GetCommand).resolves({ Item: { ...ada, createdAt: "x", updatedAt: "x" } });

      const result = await routes.get(
        apiGatewayEvent({
          httpMethod: "GET",
          resource: "/users/{userId}",
          pathParameters: { userId: "ada" },
        }),
        lambdaContext(),
      );

      assert.equal(result.statusCode, 200);
      const [read] = documentClient.commandCalls(GetCommand);
      assert.equal(read.args[0].input.ConsistentRead, true);
    });
  });
});
