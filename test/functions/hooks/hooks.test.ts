import * as assert from "node:assert/strict";
import {
  CodeDeployClient,
  GetApplicationRevisionCommand,
  GetDeploymentCommand,
  PutLifecycleEventHookExecutionStatusCommand,
} from "@aws-sdk/client-codedeploy";
import {
  GetAliasCommand,
  InvokeCommand,
  type InvokeCommandOutput,
  LambdaClient,
  ResourceNotFoundException,
} from "@aws-sdk/client-lambda";
import type { APIGatewayProxyEvent } from "aws-lambda";
import { type AwsClientStub, mockClient } from "aws-sdk-client-mock";
import { handler as postTraffic } from "../../../functions/hooks/post-traffic";
import { handler as preTraffic } from "../../../functions/hooks/pre-traffic";
import { readSmokeConfig } from "../../../functions/hooks/smoke";
import { logger } from "../../../functions/shared/logger";

const EVENT = { DeploymentId: "d-HOOKTEST1", LifecycleEventHookExecutionId: "eyJlbmNyeXB0ZWREYXRhIjoiMSJ9" };
const TARGET = "platform-prod-users-list";

/** The AppSpec the TrafficShift provider writes for version 3 -> 4. */
const APPSPEC = JSON.stringify({
  version: "0.0",
  Resources: [
    {
      [TARGET]: {
        Type: "AWS::Lambda::Function",
        Properties: { Name: TARGET, Alias: "live", CurrentVersion: "3", TargetVersion: "4" },
      },
    },
  ],
  Hooks: [{ BeforeAllowTraffic: "CodeDeployHook_pre" }, { AfterAllowTraffic: "CodeDeployHook_post" }],
});

const SMOKE_ENV = [
  "TARGET_FUNCTION",
  "SMOKE_PATH",
  "SMOKE_RESOURCE",
  "SMOKE_METHOD",
  "SMOKE_BODY",
  "SMOKE_EXPECT_STATUS",
  "SMOKE_EXPECT_BODY",
];

/** A Lambda Invoke payload: the JSON the target function returned. */
function payload(value: unknown): InvokeCommandOutput["Payload"] {
  return new TextEncoder().encode(JSON.stringify(value)) as InvokeCommandOutput["Payload"];
}

describe("CodeDeploy hooks", () => {
  let codeDeploy: AwsClientStub<CodeDeployClient>;
  let lambda: AwsClientStub<LambdaClient>;
  let savedEnv: Record<string, string | undefined>;
  let savedLogLevel: string;

  const reportedStatus = () => {
    const reports = codeDeploy.commandCalls(PutLifecycleEventHookExecutionStatusCommand);
    assert.equal(reports.length, 1, "reports exactly once");
    return reports[0].args[0].input.status;
  };
  const invokedEvent = (): APIGatewayProxyEvent =>
    JSON.parse(
      Buffer.from(lambda.commandCalls(InvokeCommand)[0].args[0].input.Payload as Uint8Array).toString(),
    );

  before(() => {
    codeDeploy = mockClient(CodeDeployClient);
    lambda = mockClient(LambdaClient);
    savedLogLevel = logger.getLevelName();
    logger.setLogLevel("SILENT");
  });
  after(() => {
    codeDeploy.restore();
    lambda.restore();
    logger.setLogLevel(savedLogLevel as Parameters<typeof logger.setLogLevel>[0]);
  });

  beforeEach(() => {
    // Prepare: a deployment of version 3 -> 4 whose new version answers GET /health with 200.
    savedEnv = Object.fromEntries(SMOKE_ENV.map((key) => [key, process.env[key]]));
    for (const key of SMOKE_ENV) delete process.env[key];
    process.env.TARGET_FUNCTION = TARGET;
    codeDeploy.reset();
    lambda.reset();
    codeDeploy.on(GetDeploymentCommand, { deploymentId: EVENT.DeploymentId }).resolves({
      deploymentInfo: {
        applicationName: "platform-prod-deploy",
        revision: { revisionType: "AppSpecContent", appSpecContent: { sha256: "0a1b2c" } },
      },
    });
    codeDeploy
      .on(GetApplicationRevisionCommand, { applicationName: "platform-prod-deploy" })
      .resolves({ revision: { revisionType: "String", string: { content: APPSPEC } } });
    codeDeploy.on(PutLifecycleEventHookExecutionStatusCommand).resolves({});
    lambda.on(GetAliasCommand).resolves({ Name: "live", FunctionVersion: "4" });
    lambda.on(InvokeCommand).resolves({
      StatusCode: 200,
      Payload: payload({ statusCode: 200, headers: {}, body: JSON.stringify({ status: "ok" }) }),
    });
  });
  afterEach(() => {
    for (const [key, value] of Object.entries(savedEnv)) {
      if (value === undefined) delete process.env[key];
      else process.env[key] = value;
    }
  });

  it("reports Succeeded with the event's deployment and execution ids when the smoke test passes", async () => {
    const status = await preTraffic(EVENT);

    assert.equal(status, "Succeeded");
    const [report] = codeDeploy.commandCalls(PutLifecycleEventHookExecutionStatusCommand);
    assert.deepEqual(report.args[0].input, {
      deploymentId: "d-HOOKTEST1",
      lifecycleEventHookExecutionId: "eyJlbmNyeXB0ZWREYXRhIjoiMSJ9",
      status: "Succeeded",
    });
  });

  it("pre-traffic invokes the AppSpec's target version synchronously, since the alias is still on the old one", async () => {
    await preTraffic(EVENT);

    const [invoke] = lambda.commandCalls(InvokeCommand);
    assert.equal(invoke.args[0].input.FunctionName, TARGET);
    assert.equal(invoke.args[0].input.Qualifier, "4");
    assert.equal(invoke.args[0].input.InvocationType, "RequestResponse");
    assert.equal(lambda.commandCalls(GetAliasCommand).length, 0);
  });

  it("sends an API Gateway proxy event for GET SMOKE_PATH, query string included", async () => {
    process.env.SMOKE_PATH = "/users?limit=1";
    process.env.SMOKE_RESOURCE = "/users";

    await preTraffic(EVENT);

    const event = invokedEvent();
    assert.equal(event.httpMethod, "GET");
    assert.equal(event.path, "/users");
    assert.deepEqual(event.queryStringParameters, { limit: "1" });
    assert.deepEqual(event.multiValueQueryStringParameters, { limit: ["1"] });
    assert.equal(event.body, null);
    assert.equal(event.isBase64Encoded, false);
    assert.equal(event.requestContext.httpMethod, "GET");
    assert.equal(event.requestContext.requestId, "smoke-d-HOOKTEST1");
    assert.equal(event.requestContext.identity.sourceIp, "127.0.0.1");
  });

  it("sends SMOKE_RESOURCE as the resource and the path parameters matched from SMOKE_PATH", async () => {
    process.env.SMOKE_METHOD = "DELETE";
    process.env.SMOKE_PATH = "/users/__smoke__";
    process.env.SMOKE_RESOURCE = "/users/{userId}";

    await preTraffic(EVENT);

    const event = invokedEvent();
    assert.equal(event.resource, "/users/{userId}");
    assert.equal(event.path, "/users/__smoke__");
    assert.deepEqual(event.pathParameters, { userId: "__smoke__" });
    assert.equal(event.requestContext.resourcePath, "/users/{userId}");
    assert.equal(event.requestContext.httpMethod, "DELETE");
    assert.equal(event.requestContext.path, `/${event.requestContext.stage}/users/__smoke__`);
  });

  it("sends the body as JSON text with its Content-Type, in single and multi-value headers", async () => {
    process.env.SMOKE_METHOD = "POST";
    process.env.SMOKE_PATH = "/users";
    process.env.SMOKE_RESOURCE = "/users";
    process.env.SMOKE_BODY = "{}";

    await preTraffic(EVENT);

    const event = invokedEvent();
    assert.equal(event.body, "{}");
    assert.equal(event.headers["Content-Type"], "application/json");
    assert.deepEqual(event.multiValueHeaders["Content-Type"], ["application/json"]);
  });

  it("reports Failed without invoking when SMOKE_PATH does not match SMOKE_RESOURCE", async () => {
    process.env.SMOKE_PATH = "/users/__smoke__";
    process.env.SMOKE_RESOURCE = "/users";

    const status = await preTraffic(EVENT);

    assert.equal(status, "Failed");
    assert.equal(lambda.commandCalls(InvokeCommand).length, 0);
  });

  it("refuses a SMOKE_PATH that does not match SMOKE_RESOURCE, naming both", () => {
    assert.throws(
      () =>
        readSmokeConfig({
          TARGET_FUNCTION: TARGET,
          SMOKE_PATH: "/users/a/b",
          SMOKE_RESOURCE: "/users/{userId}",
        }),
      /SMOKE_PATH \/users\/a\/b does not match SMOKE_RESOURCE \/users\/\{userId\}/,
    );
  });

  it("refuses a SMOKE_PATH without SMOKE_RESOURCE, since the template cannot be guessed", () => {
    assert.throws(
      () => readSmokeConfig({ TARGET_FUNCTION: TARGET, SMOKE_PATH: "/users/__smoke__" }),
      /SMOKE_RESOURCE is not set: it must be the route's path template/,
    );
  });

  it("refuses a SMOKE_RESOURCE that is not a route template, naming it", () => {
    assert.throws(
      () => readSmokeConfig({ TARGET_FUNCTION: TARGET, SMOKE_PATH: "/users", SMOKE_RESOURCE: "users" }),
      /SMOKE_RESOURCE: Route template "users" must start with \//,
    );
  });

  it("smoke-tests /health by default", async () => {
    await preTraffic(EVENT);

    assert.equal(invokedEvent().path, "/health");
  });

  it("post-traffic invokes through the alias once it points at the target version", async () => {
    const status = await postTraffic(EVENT);

    assert.equal(status, "Succeeded");
    assert.deepEqual(lambda.commandCalls(GetAliasCommand)[0].args[0].input, {
      FunctionName: TARGET,
      Name: "live",
    });
    assert.equal(lambda.commandCalls(InvokeCommand)[0].args[0].input.Qualifier, "live");
  });

  it("post-traffic reports Failed when the alias is not on the target version", async () => {
    lambda.on(GetAliasCommand).resolves({ Name: "live", FunctionVersion: "3" });

    const status = await postTraffic(EVENT);

    assert.equal(status, "Failed");
    assert.equal(reportedStatus(), "Failed");
    assert.equal(lambda.commandCalls(InvokeCommand).length, 0);
  });

  it("reports Failed when the status code is not SMOKE_EXPECT_STATUS", async () => {
    lambda.on(InvokeCommand).resolves({
      StatusCode: 200,
      Payload: payload({ statusCode: 500, body: JSON.stringify({ message: "Internal server error" }) }),
    });

    await preTraffic(EVENT);

    assert.equal(reportedStatus(), "Failed");
  });

  it("accepts the status code SMOKE_EXPECT_STATUS names", async () => {
    process.env.SMOKE_EXPECT_STATUS = "404";
    lambda.on(InvokeCommand).resolves({
      StatusCode: 200,
      Payload: payload({ statusCode: 404, body: JSON.stringify({ message: "Not found" }) }),
    });

    await preTraffic(EVENT);

    assert.equal(reportedStatus(), "Succeeded");
  });

  it("reports Failed when the body does not contain SMOKE_EXPECT_BODY", async () => {
    process.env.SMOKE_EXPECT_BODY = '"status":"ok"';
    lambda.on(InvokeCommand).resolves({
      StatusCode: 200,
      Payload: payload({ statusCode: 200, body: JSON.stringify({ status: "degraded" }) }),
    });

    await preTraffic(EVENT);

    assert.equal(reportedStatus(), "Failed");
  });

  it("reports Failed, and returns normally, when the invoke throws", async () => {
    lambda.on(InvokeCommand).rejects(
      new ResourceNotFoundException({
        $metadata: { httpStatusCode: 404 },
        message: `Function not found: arn:aws:lambda:eu-west-1:123456789012:function:${TARGET}:4`,
      }),
    );

    const status = await preTraffic(EVENT);

    assert.equal(status, "Failed");
    assert.equal(reportedStatus(), "Failed");
  });

  it("reports Failed when the function raised an error (FunctionError in the response)", async () => {
    lambda.on(InvokeCommand).resolves({
      StatusCode: 200,
      FunctionError: "Unhandled",
      Payload: payload({ errorType: "TypeError", errorMessage: "Cannot read properties of undefined" }),
    });

    await preTraffic(EVENT);

    assert.equal(reportedStatus(), "Failed");
  });

  it("reports Failed when the deployment's AppSpec does not deploy TARGET_FUNCTION", async () => {
    process.env.TARGET_FUNCTION = "platform-prod-users-get";

    await preTraffic(EVENT);

    assert.equal(reportedStatus(), "Failed");
    assert.equal(lambda.commandCalls(InvokeCommand).length, 0);
  });

  it("throws when the status cannot be reported, so that Lambda retries the hook", async () => {
    codeDeploy.on(PutLifecycleEventHookExecutionStatusCommand).rejects(new Error("Rate exceeded"));

    await assert.rejects(preTraffic(EVENT), /Rate exceeded/);
  });
});
