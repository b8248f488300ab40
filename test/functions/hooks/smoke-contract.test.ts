import * as assert from "node:assert/strict";
import * as path from "node:path";
import {
  CodeDeployClient,
  GetApplicationRevisionCommand,
  GetDeploymentCommand,
  PutLifecycleEventHookExecutionStatusCommand,
} from "@aws-sdk/client-codedeploy";
import { PutItemCommand } from "@aws-sdk/client-dynamodb";
import {
  InvokeCommand,
  type InvokeCommandInput,
  type InvokeCommandOutput,
  LambdaClient,
} from "@aws-sdk/client-lambda";
import type { APIGatewayProxyEvent } from "aws-lambda";
import { type AwsClientStub, mockClient } from "aws-sdk-client-mock";
import type { RecordedResource } from "../../../automation/plan/mocks";
import { Platform } from "../../../components/platform";
import { functionKey } from "../../../components/service-builder";
import { serviceRoutes } from "../../../components/service-validation";
import { buildAppSpec } from "../../../components/traffic-shift";
import type { ApiHandler } from "../../../functions/shared/handler";
import { usersService } from "../../../functions/users/service";
import { record, testSettings } from "../../helpers/pulumi";
import { lambdaContext } from "../support/api-gateway";
import {
  createUsersTable,
  handlerEnvironment,
  type LocalDynamoDb,
  setEnvironment,
  sharedLocalDynamoDb,
} from "../support/local-dynamodb";

const PROJECT_ROOT = path.resolve(__dirname, "..", "..", "..");
const PLATFORM = "smoke-contract";
const FUNCTION = "aws:lambda/function:Function";
/** The versions of the deployment the hook tests: the second update of each function. */
const CURRENT_VERSION = "1";
/** The users declaration's routes, keyed as the Platform keys the functions. */
const USER_ROUTES = serviceRoutes(usersService).map((route) => ({
  name: functionKey(PLATFORM, usersService.name, route.function),
  route: `${route.method} ${route.resource}`,
  entry: route.handler,
}));
const TARGET_VERSION = "2";

/** What the hook of one route runs with, taken from the Platform as the program declares it. */
interface RouteUnderTest {
  name: string;
  /** `GET /users/{userId}`, as platform.ts declares the route. */
  route: string;
  entry: string;
  /** The hook function's environment, as CanaryDeployment sets it. */
  hookEnvironment: Record<string, string>;
  /** `METHOD /template` of every API Gateway method integrated with the route's function. */
  apiRoutes: string[];
  appSpec: string;
  applicationName: string;
}

/** `METHOD /template` of each integration in the recorded REST API, by the function it invokes. */
function apiRoutesByFunction(resources: RecordedResource[]): Map<string, string[]> {
  const paths = new Map<string, string>();
  for (const api of resources.filter((r) => r.type === "aws:apigateway/restApi:RestApi")) {
    paths.set(String(api.outputs.rootResourceId), "");
  }
  const apiResources = resources.filter((r) => r.type === "aws:apigateway/resource:Resource");
  // Parents are registered before children, but resolve in passes to depend on no order.
  for (let pass = 0; pass < apiResources.length; pass++) {
    for (const resource of apiResources) {
      const parent = paths.get(String(resource.inputs.parentId));
      if (parent !== undefined) paths.set(String(resource.id), `${parent}/${resource.inputs.pathPart}`);
    }
  }
  const routes = new Map<string, string[]>();
  for (const integration of resources.filter((r) => r.type === "aws:apigateway/integration:Integration")) {
    const functionName = /:function:([^:/]+)(:[^/]+)?\/invocations$/.exec(
      String(integration.inputs.uri),
    )?.[1];
    const template = paths.get(String(integration.inputs.resourceId));
    if (!functionName || template === undefined) continue;
    const route = `${integration.inputs.httpMethod} ${template || "/"}`;
    routes.set(functionName, [...(routes.get(functionName) ?? []), route]);
  }
  return routes;
}

/**
 * The contract between the canary smoke hook and the handlers: for every route of the users API,
 * the real hook code, configured as the CanaryDeployment component configures its hook function,
 * sends its request to the real handler of that route (in process, against dynalite) and must get
 * the status platform.ts expects. Only CodeDeploy and the Lambda Invoke API are faked, at the SDK.
 */
describe("smoke hooks against the real handlers", () => {
  let db: LocalDynamoDb;
  let restoreEnvironment: () => void;
  let routes: RouteUnderTest[];
  let handlers: Map<string, ApiHandler>;
  let runSmokeHook: typeof import("../../../functions/hooks/smoke").runSmokeHook;
  let codeDeploy: AwsClientStub<CodeDeployClient>;
  let lambda: AwsClientStub<LambdaClient>;

  before(async () => {
    // Prepare: the Platform as a canary stage declares it, recorded under the mock runtime.
    const recorded = await record(
      () =>
        new Platform(PLATFORM, {
          settings: testSettings({ app: "contract", deploymentType: "Canary10Percent5Minutes" }),
          services: [usersService],
        }),
    );
    const platform = recorded.component;
    const apiRoutes = apiRoutesByFunction(recorded.resources);
    routes = USER_ROUTES.map((route) => {
      const hook = recorded.get(FUNCTION, `${PLATFORM}-deploy-${route.name}-pre-hook-function`);
      const hookEnvironment = (hook.inputs.environment as { variables: Record<string, string> }).variables;
      const shift = recorded.get(
        "pulumi-nodejs:dynamic/platform:TrafficShift",
        `${PLATFORM}-deploy-${route.name}-shift`,
      );
      const functionName = platform.functions[route.name].functionName;
      return {
        name: route.name,
        route: route.route,
        entry: route.entry,
        hookEnvironment,
        apiRoutes: apiRoutes.get(functionName) ?? [],
        applicationName: String(shift.inputs.applicationName),
        appSpec: buildAppSpec({
          functionName: String(shift.inputs.functionName),
          aliasName: String(shift.inputs.aliasName),
          currentVersion: CURRENT_VERSION,
          targetVersion: TARGET_VERSION,
          beforeAllowTrafficHook: String(shift.inputs.beforeAllowTrafficHook),
        }),
      };
    });

    db = await sharedLocalDynamoDb();
    // Set before the handlers load: their SDK client and logger are created at module load.
    restoreEnvironment = setEnvironment(handlerEnvironment(db));
    handlers = new Map();
    for (const route of routes) {
      const module = (await import(path.join(PROJECT_ROOT, route.entry))) as { handler: ApiHandler };
      handlers.set(route.hookEnvironment.TARGET_FUNCTION, module.handler);
    }
    ({ runSmokeHook } = await import("../../../functions/hooks/smoke"));
    const { logger } = await import("../../../functions/shared/logger");
    logger.setLogLevel("SILENT");

    codeDeploy = mockClient(CodeDeployClient);
    lambda = mockClient(LambdaClient);
  });

  after(() => {
    codeDeploy?.restore();
    lambda?.restore();
    restoreEnvironment?.();
  });

  /** Lambda's Invoke, answered by the handler of the invoked function on the AppSpec's target version. */
  async function invokeHandler(input: InvokeCommandInput): Promise<InvokeCommandOutput> {
    const handler = handlers.get(String(input.FunctionName));
    assert.ok(handler, `the hook invoked ${input.FunctionName}, which no route deploys`);
    assert.equal(input.Qualifier, TARGET_VERSION, "the pre-traffic hook invokes the new version");
    const event = JSON.parse(
      Buffer.from(input.Payload as Uint8Array).toString("utf8"),
    ) as APIGatewayProxyEvent;
    const encode = (value: unknown) =>
      new TextEncoder().encode(JSON.stringify(value)) as InvokeCommandOutput["Payload"];
    try {
      const result = await handler(event, lambdaContext(String(input.FunctionName)));
      return { StatusCode: 200, ExecutedVersion: TARGET_VERSION, Payload: encode(result), $metadata: {} };
    } catch (error) {
      const { name, message } = error as Error;
      return {
        StatusCode: 200,
        FunctionError: "Unhandled",
        Payload: encode({ errorType: name, errorMessage: message }),
        $metadata: {},
      };
    }
  }

  /** Runs the real pre-traffic hook of `route` with its deployed environment; returns what it reported. */
  async function runHook(route: RouteUnderTest): Promise<string | undefined> {
    const deploymentId = `d-${route.name.toUpperCase()}0001`;
    codeDeploy.reset();
    lambda.reset();
    codeDeploy.on(GetDeploymentCommand, { deploymentId }).resolves({
      deploymentInfo: {
        deploymentId,
        applicationName: route.applicationName,
        revision: { revisionType: "AppSpecContent", appSpecContent: { sha256: "0a1b2c" } },
      },
    });
    codeDeploy
      .on(GetApplicationRevisionCommand, { applicationName: route.applicationName })
      .resolves({ revision: { revisionType: "AppSpecContent", appSpecContent: { content: route.appSpec } } });
    codeDeploy.on(PutLifecycleEventHookExecutionStatusCommand).resolves({});
    lambda.on(InvokeCommand).callsFake(invokeHandler);
    const restoreHookEnvironment = setEnvironment(route.hookEnvironment);
    try {
      await runSmokeHook("pre", {
        DeploymentId: deploymentId,
        LifecycleEventHookExecutionId: "eyJ0ZXN0IjoxfQ==",
      });
    } finally {
      restoreHookEnvironment();
    }
    assert.equal(lambda.commandCalls(InvokeCommand).length, 1, "the hook invoked the function once");
    const reports = codeDeploy.commandCalls(PutLifecycleEventHookExecutionStatusCommand);
    assert.equal(reports.length, 1, "the hook reported once");
    return reports[0].args[0].input.status;
  }

  beforeEach(async () => {
    process.env.TABLE_NAME = await createUsersTable(db.client);
  });

  it("declares a pre-traffic hook for every route of the users API", () => {
    assert.deepEqual(
      routes.map((route) => route.name),
      USER_ROUTES.map((route) => route.name),
    );
    assert.ok(routes.length >= 5);
  });

  for (const { name, route } of USER_ROUTES) {
    it(`hook of ${route} sends the method and template of the route API Gateway has for its function`, () => {
      const underTest = routes.find((r) => r.name === name)!;
      const { SMOKE_METHOD, SMOKE_RESOURCE } = underTest.hookEnvironment;
      assert.deepEqual(underTest.apiRoutes, [route]);
      assert.equal(`${SMOKE_METHOD} ${SMOKE_RESOURCE}`, route);
    });

    it(`hook of ${route} reports Succeeded: the real handler answers the expected status`, async () => {
      const status = await runHook(routes.find((r) => r.name === name)!);

      assert.equal(status, "Succeeded");
    });
  }

  it("hook of GET /users/{userId} reports Failed when the handler answers another status than expected", async () => {
    // The smoke user exists, so the handler answers 200 where the smoke test expects 404.
    const get = routes.find((route) => route.route === "GET /users/{userId}")!;
    const userId = get.hookEnvironment.SMOKE_PATH.split("/").at(-1)!;
    await db.client.send(
      new PutItemCommand({
        TableName: process.env.TABLE_NAME,
        Item: { userId: { S: userId }, name: { S: "Smoke" }, email: { S: "smoke@example.com" } },
      }),
    );

    const status = await runHook(get);

    assert.equal(status, "Failed");
  });
});
