import * as aws from "@pulumi/aws";
import {
  apigatewayMethodAuthorization,
  apigatewayStageAccessLogging,
  apigatewayStageThrottling,
  apigatewayStageTracing,
} from "../../policy/apigateway";
import { changed, happyStack, stageArgs, without } from "./factories";
import { assertNoViolations, assertViolation, resourceArgs, stackArgs, UNKNOWN } from "./util";

const stage = (change: Partial<ReturnType<typeof stageArgs>>) =>
  resourceArgs(aws.apigateway.Stage, { ...stageArgs(), ...change });

describe("policy apigateway-stage-tracing", () => {
  it("passes X-Ray tracing", async () => {
    await assertNoViolations(apigatewayStageTracing, stage({}));
  });

  it("fails when tracing is off or unset", async () => {
    await assertViolation(
      apigatewayStageTracing,
      stage({ xrayTracingEnabled: false }),
      "must set xrayTracingEnabled",
    );
    await assertViolation(
      apigatewayStageTracing,
      stage({ xrayTracingEnabled: undefined }),
      "must set xrayTracingEnabled",
    );
  });
});

describe("policy apigateway-stage-access-logging", () => {
  it("passes access log settings, even with a destination unknown during preview", async () => {
    await assertNoViolations(apigatewayStageAccessLogging, stage({}));
    await assertNoViolations(
      apigatewayStageAccessLogging,
      stage({ accessLogSettings: { destinationArn: UNKNOWN, format: "$context.requestId" } }),
    );
  });

  it("fails when there are no access log settings", async () => {
    await assertViolation(
      apigatewayStageAccessLogging,
      stage({ accessLogSettings: undefined }),
      "must set accessLogSettings",
    );
  });

  it("fails when the format is empty", async () => {
    await assertViolation(
      apigatewayStageAccessLogging,
      stage({ accessLogSettings: { destinationArn: "arn:aws:logs:us-east-1:1:log-group:x", format: "" } }),
      "and a format",
    );
  });
});

describe("policy apigateway-stage-throttling", () => {
  const policy = apigatewayStageThrottling;

  it("passes a stage with throttling method settings", async () => {
    await assertNoViolations(policy, stackArgs(happyStack()));
  });

  it("fails when the stage has no method settings", async () => {
    await assertViolation(
      policy,
      stackArgs(without(happyStack(), "api-settings")),
      "API Gateway stage api-stage must be throttled",
      {
        resourceName: "api-stage",
      },
    );
  });

  it("fails when the method settings set no burst limit", async () => {
    const stack = changed(happyStack(), "api-settings", {
      settings: { metricsEnabled: true, throttlingRateLimit: 100 },
    });
    await assertViolation(policy, stackArgs(stack), "must be throttled");
  });

  it("fails when the method settings are for another stage", async () => {
    const stack = changed(happyStack(), "api-settings", { stageName: "dev" }).map((resource) =>
      resource.name === "api-settings" ? { ...resource, propertyDependencies: {} } : resource,
    );
    await assertViolation(policy, stackArgs(stack), "must be throttled");
  });

  it("matches the method settings by dependency when the REST API id is unknown during preview", async () => {
    const stack = changed(changed(happyStack(), "api-stage", { restApi: UNKNOWN }), "api-settings", {
      restApi: UNKNOWN,
    });
    await assertNoViolations(policy, stackArgs(stack));
  });
});

describe("policy apigateway-method-authorization", () => {
  const policy = apigatewayMethodAuthorization;

  it("passes IAM-authorized methods and the public /health route", async () => {
    await assertNoViolations(policy, stackArgs(happyStack()));
  });

  it("fails when a method outside publicRoutes has authorization NONE, naming its route", async () => {
    const stack = changed(happyStack(), "get-user-method", { authorization: "NONE" });
    await assertViolation(policy, stackArgs(stack), '(GET /users/{userId}) has authorization "NONE"', {
      resourceName: "get-user-method",
    });
  });

  it("passes a method that requires an API key", async () => {
    const stack = changed(happyStack(), "get-user-method", { authorization: "NONE", apiKeyRequired: true });
    await assertNoViolations(policy, stackArgs(stack));
  });

  it("fails /health when publicRoutes no longer lists it, and passes routes listed as METHOD /path", async () => {
    await assertViolation(policy, stackArgs(happyStack(), { publicRoutes: [] }), "GET /health");
    const stack = changed(happyStack(), "get-user-method", { authorization: "NONE" });
    await assertNoViolations(policy, stackArgs(stack, { publicRoutes: ["/health", "GET /users/{userId}"] }));
  });

  it("finds the path through dependencies when ids are unknown during preview", async () => {
    let stack = changed(happyStack(), "get-user-method", { authorization: "NONE", resourceId: UNKNOWN });
    stack = changed(stack, "api-users-id", { parentId: UNKNOWN, id: UNKNOWN });
    stack = changed(stack, "api-users", { parentId: UNKNOWN, id: UNKNOWN });
    await assertViolation(policy, stackArgs(stack), "(GET /users/{userId})");
  });

  it("reports an advisory when the path of an unauthorized method is unknown", async () => {
    const stack = changed(happyStack(), "get-user-method", {
      authorization: "NONE",
      resourceId: UNKNOWN,
    }).map((r) => (r.name === "get-user-method" ? { ...r, propertyDependencies: {} } : r));
    await assertViolation(policy, stackArgs(stack), "Could not check during preview", { level: "advisory" });
  });
});
