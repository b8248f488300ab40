/**
 * The local API Gateway's rules, each against a real HTTP server on loopback: routing, the event
 * handed to the function (compared with events captured from deployed APIs), response mapping,
 * throttling and API keys. Functions are stubs here, so each rule is seen alone.
 */
import { strict as assert } from "node:assert";
import * as fs from "node:fs";
import * as http from "node:http";
import * as path from "node:path";
import type { APIGatewayProxyEvent } from "aws-lambda";
import type { InvokeResult } from "../../automation/local/functions";
import { LocalGateway, mapProxyResult, routeRequest } from "../../automation/local/gateway";
import type { LocalApi, LocalRoute } from "../../automation/local/model";

const route = (
  resource: string,
  method: string,
  functionName: string,
  extra: Partial<LocalRoute> = {},
): LocalRoute => ({
  resource,
  method,
  authorization: "NONE",
  apiKeyRequired: false,
  functionName,
  ...extra,
});

const ROUTES: LocalRoute[] = [
  route("/users", "GET", "list"),
  route("/users/{userId}", "GET", "get"),
  route("/users/me", "GET", "me"),
  route("/files/{proxy+}", "ANY", "files"),
  route("/{proxy+}", "ANY", "fallback"),
  route("/keyed", "GET", "keyed", { apiKeyRequired: true }),
];

const ok = (body: unknown): InvokeResult => ({
  functionName: "stub",
  requestId: "r",
  payload: JSON.stringify(body),
  timedOut: false,
  durationMs: 1,
  cold: false,
  logs: [],
});

describe("routing as API Gateway routes", () => {
  it("prefers a literal segment over a path parameter", () => {
    assert.equal(routeRequest(ROUTES, "GET", "/users/me")?.route.functionName, "me");
    assert.equal(routeRequest(ROUTES, "GET", "/users/42")?.route.functionName, "get");
  });

  it("prefers a deeper resource's {proxy+} over the root's", () => {
    const routed = routeRequest(ROUTES, "DELETE", "/files/a/b.txt");
    assert.equal(routed?.route.functionName, "files");
    assert.deepEqual(routed?.pathParameters, { proxy: "a/b.txt" });
  });

  it("falls back to ANY on a greedy resource for any method and depth", () => {
    assert.equal(routeRequest(ROUTES, "PATCH", "/x/y/z")?.route.functionName, "fallback");
  });

  it("finds no route for a method the best resource does not declare", () => {
    assert.equal(
      routeRequest(
        ROUTES.filter((r) => r.functionName !== "fallback"),
        "POST",
        "/users/42",
      ),
      undefined,
    );
  });
});

describe("mapping a proxy result as API Gateway maps it", () => {
  it("merges headers and multiValueHeaders, the multi-value ones winning", () => {
    const mapped = mapProxyResult(
      JSON.stringify({
        statusCode: 201,
        headers: { A: "1", B: "x" },
        multiValueHeaders: { B: ["y", "z"] },
        body: "hi",
      }),
    );
    assert.equal(mapped.statusCode, 201);
    assert.deepEqual(mapped.headers, { A: "1", B: ["y", "z"] });
    assert.equal(mapped.body.toString(), "hi");
  });

  it("decodes a base64 body when isBase64Encoded", () => {
    const mapped = mapProxyResult(
      JSON.stringify({
        statusCode: 200,
        body: Buffer.from([0, 255, 1]).toString("base64"),
        isBase64Encoded: true,
      }),
    );
    assert.deepEqual([...mapped.body], [0, 255, 1]);
  });

  for (const [why, payload] of [
    ["a result that is not an object", "42"],
    ["a missing statusCode", JSON.stringify({ body: "x" })],
    ["a body that is not a string", JSON.stringify({ statusCode: 200, body: { a: 1 } })],
    ["headers that are not an object", JSON.stringify({ statusCode: 200, headers: "x" })],
  ] as const) {
    it(`answers 502 Internal server error for ${why}`, () => {
      const mapped = mapProxyResult(payload);
      assert.equal(mapped.statusCode, 502);
      assert.deepEqual(JSON.parse(mapped.body.toString()), { message: "Internal server error" });
      assert.ok(mapped.malformed);
    });
  }
});

describe("a local API stage over HTTP", () => {
  let gateway: LocalGateway;
  let url: string;
  let next: (functionName: string, event: APIGatewayProxyEvent) => InvokeResult = () =>
    ok({ statusCode: 200, body: "" });
  const events: APIGatewayProxyEvent[] = [];
  const api: LocalApi = {
    restApiId: "a1b2c3d4e5",
    name: "test-api",
    stageName: "dev",
    routes: ROUTES,
    binaryMediaTypes: ["image/png"],
  };

  before(async () => {
    gateway = new LocalGateway({
      api,
      region: "us-east-1",
      accountId: "123456789012",
      invoke: async (functionName, event) => {
        events.push(event as APIGatewayProxyEvent);
        return next(functionName, event as APIGatewayProxyEvent);
      },
      credentials: { accessKeyId: "AKIDLOCAL", secretAccessKey: "secret" },
      apiKey: "the-local-key",
    });
    url = await gateway.listen(0);
  });
  after(async () => gateway.close());
  beforeEach(() => {
    events.length = 0;
    next = () => ok({ statusCode: 200, body: "" });
  });

  it("sends the function an event with the same keys as one captured from a deployed API", async () => {
    await fetch(`${url}/users/42?x=1`);
    const captured = JSON.parse(
      fs.readFileSync(path.join(__dirname, "../fixtures/events/apigw-rest-iam-auth.json"), "utf8"),
    ) as Record<string, unknown>;
    const event = events[0] as unknown as Record<string, unknown>;
    assert.deepEqual(Object.keys(event).sort(), Object.keys(captured).sort());
    const context = (key: Record<string, unknown>) =>
      Object.keys(key.requestContext as object)
        .filter((k) => k !== "authorizer")
        .sort();
    assert.deepEqual(context(event), context(captured));
  });

  it("gives the template as resource, the path, its parameters and the stage", async () => {
    await fetch(`${url}/users/ada%20l`);
    const [event] = events;
    assert.equal(event.resource, "/users/{userId}");
    assert.equal(event.path, "/users/ada%20l");
    assert.deepEqual(event.pathParameters, { userId: "ada l" });
    assert.equal(event.requestContext.stage, "dev");
    assert.equal(event.requestContext.path, "/dev/users/ada%20l");
  });

  it("serves a path with the stage prefix, as an execute-api URL has it, giving the same event", async () => {
    const answer = await fetch(`${url}/dev/users/ada?x=1`);
    assert.equal(answer.status, 200);
    const [event] = events;
    assert.equal(event.resource, "/users/{userId}");
    assert.equal(event.path, "/users/ada");
    assert.deepEqual(event.pathParameters, { userId: "ada" });
    assert.deepEqual(event.queryStringParameters, { x: "1" });
    assert.equal(event.requestContext.path, "/dev/users/ada");
  });

  it("routes what follows the stage prefix, not the prefix itself, to a greedy resource", async () => {
    await fetch(`${url}/dev/nowhere/deep`);
    const [event] = events;
    assert.equal(event.resource, "/{proxy+}");
    assert.deepEqual(event.pathParameters, { proxy: "nowhere/deep" });
  });

  it("keeps every value of a repeated header and query parameter, the single-value maps holding the last", async () => {
    // Two header lines of one name (fetch would join them into one line).
    await new Promise<void>((resolve, reject) => {
      http
        .get(`${url}/users?tag=a&tag=b`, { headers: { "X-Tag": ["one", "two"] } }, (response) => {
          response.resume();
          response.on("end", resolve);
        })
        .on("error", reject);
    });
    const [event] = events;
    assert.deepEqual(event.multiValueQueryStringParameters, { tag: ["a", "b"] });
    assert.equal(event.queryStringParameters?.tag, "b");
    assert.deepEqual(event.multiValueHeaders["X-Tag"], ["one", "two"]);
    assert.equal(event.headers["X-Tag"], "two");
  });

  it("base64-encodes a body of a binary media type and passes text as it is", async () => {
    await fetch(`${url}/files/a.png`, {
      method: "PUT",
      headers: { "content-type": "image/png" },
      body: Buffer.from([0, 1, 254]),
    });
    await fetch(`${url}/files/a.txt`, {
      method: "PUT",
      headers: { "content-type": "text/plain" },
      body: "héllo",
    });
    assert.equal(events[0].isBase64Encoded, true);
    assert.deepEqual([...Buffer.from(events[0].body ?? "", "base64")], [0, 1, 254]);
    assert.equal(events[1].isBase64Encoded, false);
    assert.equal(events[1].body, "héllo");
  });

  it("answers 502 when the function throws, and 504 when it times out", async () => {
    next = () => ({
      ...ok(null),
      payload: undefined,
      error: { errorType: "Error", errorMessage: "boom", trace: [] },
    });
    assert.equal((await fetch(`${url}/users`)).status, 502);
    next = () => ({
      ...ok(null),
      payload: undefined,
      timedOut: true,
      error: { errorType: "Sandbox.Timedout", errorMessage: "t", trace: [] },
    });
    const timedOut = await fetch(`${url}/users`);
    assert.equal(timedOut.status, 504);
    assert.deepEqual(await timedOut.json(), { message: "Endpoint request timed out" });
  });

  it("refuses a method that needs an API key without x-api-key, and serves it with the key", async () => {
    const without = await fetch(`${url}/keyed`);
    assert.equal(without.status, 403);
    assert.deepEqual(await without.json(), { message: "Forbidden" });
    const withKey = await fetch(`${url}/keyed`, { headers: { "x-api-key": "the-local-key" } });
    assert.equal(withKey.status, 200);
    assert.equal(events.at(-1)?.requestContext.identity.apiKey, "the-local-key");
  });

  it("answers 429 Too Many Requests beyond the stage's burst", async () => {
    gateway.update({ api: { ...api, throttle: { rateLimit: 1, burstLimit: 3 } } });
    try {
      const statuses = [];
      for (let i = 0; i < 5; i += 1) statuses.push((await fetch(`${url}/users`)).status);
      assert.deepEqual(statuses, [200, 200, 200, 429, 429]);
    } finally {
      gateway.update({ api });
    }
  });
});
