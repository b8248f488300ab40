import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import {
  type ApiGatewayRequest,
  apiGatewayEvent,
  formatRequestTime,
  matchRoute,
  parseRouteTemplate,
} from "../../../functions/shared/api-gateway-event";

const FIXTURES = path.resolve(__dirname, "..", "..", "fixtures", "events");
const fixture = (name: string): Record<string, unknown> =>
  JSON.parse(fs.readFileSync(path.join(FIXTURES, name), "utf8"));
/** What the function receives: the event as JSON (absent and undefined fields are the same). */
const asReceived = (event: unknown) => JSON.parse(JSON.stringify(event));

/** Every key path of a JSON value (`requestContext.identity.caller`), to compare shapes. */
function keyPaths(value: unknown, prefix = ""): string[] {
  if (value === null || typeof value !== "object" || Array.isArray(value)) return [prefix];
  return Object.entries(value).flatMap(([key, child]) =>
    key.includes("-") || /^[A-Z]/.test(key) ? [`${prefix}.${key}`] : keyPaths(child, `${prefix}.${key}`),
  );
}

/** The IAM-signed request captured in apigw-rest-iam-auth.json, as the client and API Gateway saw it. */
const IAM_REQUEST: ApiGatewayRequest = {
  resource: "/iam",
  httpMethod: "POST",
  path: "/iam",
  headers: fixture("apigw-rest-iam-auth.json").multiValueHeaders as Record<string, string[]>,
  stage: "prod",
  apiId: "puhdx84jy9",
  accountId: "123456789012",
  region: "eu-west-1",
  identity: {
    accountId: "123456789012",
    accessKey: "ABCAXZWZ5ZDPIFV7JHWH",
    caller: "ABCAXZWZ5ZDPNIH6C6ODK:aamorosi",
    userArn: "arn:aws:sts::123456789012:assumed-role/Admin/aamorosi",
  },
  requestId: "89f9261a-2765-4d49-b72e-f76726991e44",
  requestTime: 1718636305078,
  resourceId: "f6ylys",
  extendedRequestId: "ZhFKtGnnDoEEMig=",
  deploymentId: "v99qix",
};

describe("API Gateway REST proxy events", () => {
  describe("against events captured from a deployed API", () => {
    it("builds the captured IAM-signed event, key for key and value for value", () => {
      const event = apiGatewayEvent(IAM_REQUEST);

      assert.deepStrictEqual(asReceived(event), fixture("apigw-rest-iam-auth.json"));
    });

    it("builds the captured Lambda-authorizer event, authorizer context included", () => {
      const captured = fixture("apigw-rest-lambda-authorizer.json");
      const context = captured.requestContext as Record<string, unknown>;

      const event = apiGatewayEvent({
        resource: "/lambda-token",
        httpMethod: "POST",
        path: "/lambda-token",
        headers: captured.multiValueHeaders as Record<string, string[]>,
        stage: "prod",
        apiId: "puhdx84jy9",
        region: "eu-west-1",
        authorizer: { principalId: "user", integrationLatency: 422, tenantId: "tenant-1" },
        requestId: "3c177581-2d03-4af4-9b68-5924083f37fe",
        requestTime: 1718635961959,
        resourceId: String(context.resourceId),
        extendedRequestId: String(context.extendedRequestId),
        deploymentId: "v99qix",
      });

      assert.deepStrictEqual(asReceived(event), captured);
    });

    it("adds the headers API Gateway adds, and derives ids shaped like the captured ones", () => {
      const captured = fixture("apigw-rest-iam-auth.json");
      const clientHeaders = Object.fromEntries(
        Object.entries(IAM_REQUEST.headers!).filter(
          ([name]) => !/^(host|x-forwarded-|x-amzn-trace-id)/i.test(name),
        ),
      );

      const event = asReceived(
        apiGatewayEvent({
          ...IAM_REQUEST,
          headers: clientHeaders,
          identity: { ...IAM_REQUEST.identity, sourceIp: "15.248.3.126" },
          resourceId: undefined,
          extendedRequestId: undefined,
          deploymentId: undefined,
        }),
      );

      assert.deepEqual(keyPaths(event).sort(), keyPaths(captured).sort());
      assert.equal(event.headers.Host, "puhdx84jy9.execute-api.eu-west-1.amazonaws.com");
      assert.equal(event.headers["X-Forwarded-For"], "15.248.3.126");
      assert.equal(event.headers["X-Forwarded-Port"], "443");
      assert.equal(event.headers["X-Forwarded-Proto"], "https");
      assert.match(event.headers["X-Amzn-Trace-Id"], /^Root=1-66704f11-[0-9a-f]{24}$/);
      assert.match(event.requestContext.resourceId, /^[a-z0-9]{6}$/);
      assert.match(event.requestContext.deploymentId, /^[a-z0-9]{6}$/);
      assert.match(event.requestContext.extendedRequestId, /^[A-Za-z0-9+/]{15}=$/);
    });
  });

  describe("routing a path to its resource template", () => {
    it("gives {name} one path segment, percent-decoded", () => {
      assert.deepEqual(matchRoute("/users/{userId}", "/users/ada%20lovelace"), { userId: "ada lovelace" });
    });

    it("gives a last {name+} the rest of the path, without its leading slash", () => {
      assert.deepEqual(matchRoute("/{proxy+}", "/path/to/resource"), { proxy: "path/to/resource" });
      assert.deepEqual(matchRoute("/files/{key+}", "/files/a/b.txt?x=1"), { key: "a/b.txt" });
    });

    it("matches a template without parameters with no parameters", () => {
      assert.deepEqual(matchRoute("/users", "/users?limit=1"), {});
      assert.deepEqual(matchRoute("/", "/"), {});
    });

    it("does not match a path with a different literal, fewer or more segments, or an empty parameter", () => {
      assert.equal(matchRoute("/users/{userId}", "/groups/ada"), undefined);
      assert.equal(matchRoute("/users/{userId}", "/users"), undefined);
      assert.equal(matchRoute("/users/{userId}", "/users/"), undefined);
      assert.equal(matchRoute("/users/{userId}", "/users/ada/posts"), undefined);
      assert.equal(matchRoute("/users", "/Users"), undefined);
      assert.equal(matchRoute("/{proxy+}", "/"), undefined);
    });

    it("rejects a template API Gateway would not accept, naming the rule", () => {
      assert.throws(() => parseRouteTemplate("users"), /Route template "users" must start with \//);
      assert.throws(() => parseRouteTemplate("/users/"), /must not contain empty segments or end with \//);
      assert.throws(() => parseRouteTemplate("/{proxy+}/x"), /has \{proxy\+\} before its last segment/);
      assert.throws(
        () => parseRouteTemplate("/u-{id}"),
        /a parameter is \{name\} or \{name\+\}, a whole segment/,
      );
      assert.throws(() => parseRouteTemplate("/{id}/{id}"), /declares \{id\} twice/);
    });
  });

  describe("building the event", () => {
    const build = (overrides: Partial<ApiGatewayRequest> = {}) =>
      apiGatewayEvent({ resource: "/users/{userId}", httpMethod: "GET", path: "/users/ada", ...overrides });

    it("sets resource and resourcePath to the template, path to the concrete path, pathParameters from the match", () => {
      const event = build({ path: "/users/ada?fields=name" });

      assert.equal(event.resource, "/users/{userId}");
      assert.equal(event.requestContext.resourcePath, "/users/{userId}");
      assert.equal(event.path, "/users/ada");
      assert.deepEqual(event.pathParameters, { userId: "ada" });
      assert.equal(event.httpMethod, "GET");
      assert.equal(event.requestContext.httpMethod, "GET");
    });

    it("prefixes requestContext.path with the stage", () => {
      assert.equal(build({ stage: "dev" }).requestContext.path, "/dev/users/ada");
      assert.equal(build({ stage: "dev" }).requestContext.stage, "dev");
    });

    it("lists every value of a repeated query parameter, and keeps the last as the single value", () => {
      const event = build({ path: "/users/ada?tag=a&tag=b%20c&flag" });

      assert.deepEqual(event.multiValueQueryStringParameters, { tag: ["a", "b c"], flag: [""] });
      assert.deepEqual(event.queryStringParameters, { tag: "b c", flag: "" });
    });

    it("keeps query parameters named like Object.prototype members as plain parameters", () => {
      const event = build({ path: "/users/ada?constructor=a&toString=b&__proto__=c&__proto__=d" });

      assert.deepEqual(Object.entries(event.multiValueQueryStringParameters!), [
        ["constructor", ["a"]],
        ["toString", ["b"]],
        ["__proto__", ["c", "d"]],
      ]);
      assert.equal(Object.getOwnPropertyDescriptor(event.queryStringParameters, "__proto__")?.value, "d");
      assert.equal(Object.getPrototypeOf(event.queryStringParameters), Object.prototype);
    });

    it("keeps a header named __proto__ as a plain header", () => {
      const headers = JSON.parse('{"__proto__":"x","Accept":"*/*"}') as Record<string, string>;

      const event = build({ headers, gatewayHeaders: false });

      assert.deepEqual(Object.keys(event.multiValueHeaders), ["__proto__", "Accept"]);
      assert.deepEqual(Object.keys(event.headers), ["__proto__", "Accept"]);
      assert.equal(Object.getPrototypeOf(event.multiValueHeaders), Object.prototype);
    });

    it("sends null query parameters and path parameters when there are none", () => {
      const event = apiGatewayEvent({ resource: "/users", httpMethod: "GET", path: "/users" });

      assert.equal(event.queryStringParameters, null);
      assert.equal(event.multiValueQueryStringParameters, null);
      assert.equal(event.pathParameters, null);
    });

    it("lists every value of a repeated header, and keeps the last as the single value", () => {
      const event = build({ headers: { Accept: ["text/plain", "application/json"] } });

      assert.deepEqual(event.multiValueHeaders.Accept, ["text/plain", "application/json"]);
      assert.equal(event.headers.Accept, "application/json");
    });

    it("base64-encodes a binary body and says so; passes text as is", () => {
      const binary = build({ body: new Uint8Array([0, 255, 1]) });
      const text = build({ body: '{"a":1}' });

      assert.equal(binary.body, "AP8B");
      assert.equal(binary.isBase64Encoded, true);
      assert.equal(text.body, '{"a":1}');
      assert.equal(text.isBase64Encoded, false);
    });

    it("stamps the request time in API Gateway's format and as epoch milliseconds", () => {
      const event = build({ requestTime: Date.UTC(2025, 0, 5, 3, 4, 5, 678) });

      assert.equal(event.requestContext.requestTime, "05/Jan/2025:03:04:05 +0000");
      assert.equal(event.requestContext.requestTimeEpoch, 1736046245678);
      assert.equal(
        formatRequestTime(new Date(Date.UTC(2024, 11, 31, 23, 59, 59))),
        "31/Dec/2024:23:59:59 +0000",
      );
    });

    it("takes the caller's address from X-Forwarded-For and its agent from User-Agent", () => {
      const event = build({
        headers: { "X-Forwarded-For": "203.0.113.7, 130.176.0.1", "User-Agent": "curl/8" },
      });

      assert.equal(event.requestContext.identity.sourceIp, "203.0.113.7");
      assert.equal(event.requestContext.identity.userAgent, "curl/8");
    });

    it("refuses a path that does not match the template, naming both", () => {
      assert.throws(
        () => build({ path: "/users" }),
        /Path "\/users" does not match the route template "\/users\/\{userId\}"/,
      );
    });
  });
});
