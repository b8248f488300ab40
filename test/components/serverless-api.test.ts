import * as assert from "node:assert/strict";
import { ServerlessApi, type ServerlessApiArgs } from "../../components/serverless-api";
import { healthFunction, record, testNaming } from "../helpers/pulumi";

const T = {
  restApi: "aws:apigateway/restApi:RestApi",
  resource: "aws:apigateway/resource:Resource",
  method: "aws:apigateway/method:Method",
  integration: "aws:apigateway/integration:Integration",
  permission: "aws:lambda/permission:Permission",
  deployment: "aws:apigateway/deployment:Deployment",
  stage: "aws:apigateway/stage:Stage",
  methodSettings: "aws:apigateway/methodSettings:MethodSettings",
  usagePlan: "aws:apigateway/usagePlan:UsagePlan",
  apiKey: "aws:apigateway/apiKey:ApiKey",
  alias: "aws:lambda/alias:Alias",
  logGroup: "aws:cloudwatch/logGroup:LogGroup",
};

function fn(name: string, timeoutSeconds = 10) {
  return healthFunction(name, testNaming(), { timeoutSeconds });
}

function api(name: string, routes: ServerlessApiArgs["routes"], overrides: Partial<ServerlessApiArgs> = {}) {
  return new ServerlessApi(name, {
    naming: testNaming("dev"),
    routes,
    throttle: { rateLimit: 50, burstLimit: 100 },
    logRetentionDays: 7,
    ...overrides,
  });
}

describe("ServerlessApi", () => {
  it("builds one resource per path segment, shared between routes", async () => {
    const { ofType } = await record(() => {
      const list = fn("api-tree-list");
      const get = fn("api-tree-get");
      return api("api-tree", { "GET /users": { function: list }, "GET /users/{userId}": { function: get } });
    });
    assert.deepEqual(
      ofType(T.resource)
        .map((r) => r.inputs.pathPart)
        .sort(),
      ["users", "{userId}"],
    );
  });

  it("integrates each route with its function's live alias by AWS_PROXY", async () => {
    const { get } = await record(() => api("api-proxy", { "GET /users": { function: fn("api-proxy-fn") } }));
    const integration = get(T.integration, "api-proxy-get-users-integration").inputs;
    assert.equal(integration.type, "AWS_PROXY");
    assert.equal(integration.integrationHttpMethod, "POST");
    assert.equal(integration.uri, get(T.alias, "api-proxy-fn-alias").outputs.invokeArn);
    assert.match(String(integration.uri), /:live\/invocations$/);
  });

  it("scopes the invoke permission to this API, the route and the live alias", async () => {
    const { get } = await record(() =>
      api("api-perm", { "GET /users/{userId}": { function: fn("api-perm-fn") } }),
    );
    const permission = get(T.permission, "api-perm-api-perm-fn-invoke").inputs;
    const executionArn = get(T.restApi, "api-perm-api").outputs.executionArn;
    assert.equal(permission.principal, "apigateway.amazonaws.com");
    assert.equal(permission.qualifier, "live");
    assert.equal(permission.action, "lambda:InvokeFunction");
    assert.equal(permission.sourceArn, `${executionArn}/*/GET/users/*`);
  });

  it("creates one permission per function even when it serves several routes", async () => {
    const { ofType } = await record(() => {
      const shared = fn("api-shared-fn");
      return api("api-shared", { "GET /a": { function: shared }, "POST /a": { function: shared } });
    });
    const permissions = ofType(T.permission);
    assert.equal(permissions.length, 1);
    assert.match(
      String(permissions[0].inputs.sourceArn),
      /^arn:aws:execute-api:us-east-1:123456789012:[0-9a-f]{10}\/\*\/\*\/\*$/,
    );
  });

  it("requires IAM auth unless a route is declared public", async () => {
    const { get } = await record(() =>
      api("api-auth", {
        "GET /private": { function: fn("api-auth-private") },
        "GET /health": { function: fn("api-auth-health"), auth: "public" },
      }),
    );
    assert.equal(get(T.method, "api-auth-get-private-method").inputs.authorization, "AWS_IAM");
    assert.equal(get(T.method, "api-auth-get-health-method").inputs.authorization, "NONE");
  });

  it("creates a usage plan and key for apiKey routes", async () => {
    const { get, ofType } = await record(() =>
      api("api-keys", { "GET /keyed": { function: fn("api-keys-fn") } }, { defaultAuth: "apiKey" }),
    );
    const method = get(T.method, "api-keys-get-keyed-method").inputs;
    assert.equal(method.apiKeyRequired, true);
    assert.equal(method.authorization, "NONE");
    assert.deepEqual(ofType(T.usagePlan)[0].inputs.throttleSettings, { rateLimit: 50, burstLimit: 100 });
    assert.equal(ofType(T.apiKey).length, 1);
  });

  it("creates no usage plan when no route uses API keys", async () => {
    const { ofType } = await record(() => api("api-nokeys", { "GET /x": { function: fn("api-nokeys-fn") } }));
    assert.deepEqual(ofType(T.usagePlan), []);
  });

  it("traces, access-logs as JSON and throttles the stage, with method metrics", async () => {
    const { get } = await record(() => api("api-stage", { "GET /x": { function: fn("api-stage-fn") } }));
    const stage = get(T.stage, "api-stage-stage").inputs;
    const logGroup = get(T.logGroup, "api-stage-access-logs");
    assert.equal(stage.xrayTracingEnabled, true);
    const access = stage.accessLogSettings as { destinationArn: string; format: string };
    assert.equal(access.destinationArn, logGroup.outputs.arn);
    assert.equal(JSON.parse(access.format).requestId, "$context.requestId");
    assert.equal(logGroup.inputs.retentionInDays, 7);
    const settings = get(T.methodSettings, "api-stage-method-settings").inputs;
    assert.equal(settings.methodPath, "*/*");
    assert.deepEqual(settings.settings, {
      metricsEnabled: true,
      loggingLevel: "ERROR",
      dataTraceEnabled: false,
      throttlingRateLimit: 50,
      throttlingBurstLimit: 100,
    });
  });

  it("gives an unchanged program the same deployment trigger", async () => {
    // The same program twice (same names, same naming): what a `pulumi up` with no change runs.
    const naming = testNaming("dev");
    const program = () =>
      api("api-same", { "GET /x": { function: healthFunction("api-same-fn", naming) } }, { naming });
    const first = (await record(program)).get(T.deployment, "api-same-deployment").inputs.triggers;
    const second = (await record(program)).get(T.deployment, "api-same-deployment").inputs.triggers;
    assert.match(String((first as { redeployment: string }).redeployment), /^[0-9a-f]{64}$/);
    assert.deepEqual(second, first);
  });

  it("redeploys when the routes change", async () => {
    const naming = testNaming("dev");
    const program = (routes: string[]) => () =>
      api("api-routes", Object.fromEntries(routes.map((r) => [r, { function: fn("api-routes-fn") }])), {
        naming,
      });
    const one = (await record(program(["GET /x"]))).get(T.deployment, "api-routes-deployment");
    const two = (await record(program(["GET /x", "POST /x"]))).get(T.deployment, "api-routes-deployment");
    assert.notDeepEqual(two.inputs.triggers, one.inputs.triggers);
  });

  it("redeploys when an integration's alias ARN changes though the routes do not", async () => {
    const naming = testNaming("dev");
    const program = (alias: string) => () =>
      api(
        "api-alias",
        {
          "GET /x": {
            function: healthFunction("api-alias-fn", naming, { transform: { alias: { name: alias } } }),
          },
        },
        { naming },
      );
    const live = await record(program("live"));
    const blue = await record(program("blue"));
    assert.notEqual(
      blue.get(T.integration, "api-alias-get-x-integration").inputs.uri,
      live.get(T.integration, "api-alias-get-x-integration").inputs.uri,
    );
    assert.notDeepEqual(
      blue.get(T.deployment, "api-alias-deployment").inputs.triggers,
      live.get(T.deployment, "api-alias-deployment").inputs.triggers,
    );
  });

  it("makes the invoke permission name the alias and wait for it", async () => {
    const { get } = await record(() => api("api-wait", { "GET /x": { function: fn("api-wait-fn") } }));
    const permission = get(T.permission, "api-wait-api-wait-fn-invoke");
    const alias = get(T.alias, "api-wait-fn-alias");
    assert.equal(permission.inputs.qualifier, alias.inputs.name);
    assert.ok(permission.dependencies.includes(alias.urn), "the permission does not wait for the alias");
  });

  it("creates the stage's execution log group with the stack's retention before the stage", async () => {
    const { get } = await record(() => api("api-exec", { "GET /x": { function: fn("api-exec-fn") } }));
    const restApiId = get(T.restApi, "api-exec-api").id;
    const logGroup = get(T.logGroup, "api-exec-execution-logs");
    assert.equal(logGroup.inputs.name, `API-Gateway-Execution-Logs_${restApiId}/dev`);
    assert.equal(logGroup.inputs.retentionInDays, 7);
    const stage = get(T.stage, "api-exec-stage");
    assert.ok(
      stage.dependencies.includes(logGroup.urn),
      "the stage does not wait for its execution log group",
    );
  });

  it("deploys only after every method, integration and invoke permission exists", async () => {
    const { get, ofType } = await record(() =>
      api("api-order", { "GET /x": { function: fn("api-order-fn") } }),
    );
    const deployment = get(T.deployment, "api-order-deployment");
    for (const r of [...ofType(T.method), ...ofType(T.integration), ...ofType(T.permission)]) {
      assert.ok(deployment.dependencies.includes(r.urn), `deployment does not wait for ${r.name}`);
    }
  });

  it("rejects a function whose timeout exceeds API Gateway's 29 s", () => {
    assert.throws(
      () => api("api-slow", { "GET /slow": { function: fn("api-slow-fn", 60) } }),
      /ServerlessApi api-slow: route "GET \/slow": function .*api-slow-fn has timeoutSeconds 60, but API Gateway allows at most 29/,
    );
  });

  it("rejects a malformed route key", () => {
    assert.throws(
      () => api("api-badroute", { "FETCH /x": { function: fn("api-badroute-fn") } }),
      /route "FETCH \/x" must be "METHOD \/path" with METHOD one of GET, POST/,
    );
  });

  it("rejects public as the default auth", () => {
    assert.throws(
      () =>
        api(
          "api-badauth",
          { "GET /x": { function: fn("api-badauth-fn") } },
          { defaultAuth: "public" as "iam" },
        ),
      /defaultAuth must be "iam" or "apiKey": public routes must be declared one by one/,
    );
  });
});
