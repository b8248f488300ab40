import * as pulumi from "@pulumi/pulumi";
import { ApiGatewayAccountSettings } from "./account-settings";
import { CanaryDeployment, type DeployedFunction, type SmokeTest } from "./canary-deployment";
import { DataTable } from "./data-table";
import { Monitoring } from "./monitoring";
import type { NamingContext } from "./naming";
import { ServerlessApi } from "./serverless-api";
import { ServerlessFunction } from "./serverless-function";
import type { Settings } from "./settings";

export interface PlatformArgs {
  /** The stack's validated settings (`loadSettings()`). */
  settings: Settings;
}

/**
 * The users API's routes: handler module, route, the table access it needs, and the harmless smoke
 * request a PreTraffic hook sends to a new version before it takes traffic (its method and route
 * template come from `route`). Exported for the hook/handler contract test, which reads this list.
 */
export const USER_ROUTES: readonly {
  name: string;
  entry: string;
  route: string;
  access: "read" | "write";
  smoke: Omit<SmokeTest, "method" | "resource">;
}[] = [
  {
    name: "list",
    entry: "functions/users/list.ts",
    route: "GET /users",
    access: "read",
    smoke: { path: "/users?limit=1", expectStatus: 200, expectBody: '"items"' },
  },
  {
    name: "get",
    entry: "functions/users/get.ts",
    route: "GET /users/{userId}",
    access: "read",
    smoke: { path: "/users/__smoke__", expectStatus: 404 },
  },
  {
    // An invalid body is rejected before any write: the smoke test never creates a user.
    name: "create",
    entry: "functions/users/create.ts",
    route: "POST /users",
    access: "write",
    smoke: { path: "/users", body: "{}", expectStatus: 400, expectBody: "name is required" },
  },
  {
    name: "update",
    entry: "functions/users/update.ts",
    route: "PUT /users/{userId}",
    access: "write",
    // The 400 must be the body's (the path is valid): a path rejected for its parameter would pass too.
    smoke: { path: "/users/__smoke__", body: "{}", expectStatus: 400, expectBody: "name is required" },
  },
  {
    name: "delete",
    entry: "functions/users/delete.ts",
    route: "DELETE /users/{userId}",
    access: "write",
    smoke: { path: "/users/__smoke__", expectStatus: 404 },
  },
];

/** The public smoke path: canary hooks and rollout health checks call it. */
export const HEALTH_PATH = "/health";

/**
 * One region of the platform: the users table, the users API functions and their routes.
 *
 * @example
 * const platform = new Platform("users", { settings: loadSettings() });
 * export const apiUrl = platform.apiUrl;
 */
export class Platform extends pulumi.ComponentResource {
  static readonly type = "platform:index:Platform";

  readonly table: DataTable;
  readonly functions: Record<string, ServerlessFunction>;
  readonly api: ServerlessApi;
  readonly monitoring: Monitoring;
  readonly deployment: CanaryDeployment;
  readonly apiUrl: pulumi.Output<string>;
  readonly tableName: pulumi.Output<string>;
  readonly functionNames: pulumi.Output<Record<string, string>>;
  readonly functionArns: pulumi.Output<Record<string, string>>;
  readonly dashboardUrl: pulumi.Output<string>;

  constructor(name: string, args: PlatformArgs, opts?: pulumi.ComponentResourceOptions) {
    super(Platform.type, name, {}, opts);
    const { settings } = args;
    const naming: NamingContext = { app: settings.app, stage: settings.stage, region: settings.region };

    const accountSettings = settings.manageAccountSettings
      ? new ApiGatewayAccountSettings(`${name}-account`, { naming }, { parent: this })
      : undefined;

    this.table = new DataTable(
      `${name}-table`,
      {
        naming,
        hashKey: { name: "userId", type: "S" },
        encryption: settings.table.encryption,
        deletionProtection: settings.table.deletionProtection,
        pointInTimeRecovery: true,
      },
      { parent: this },
    );

    const functionArgs = (entry: string) => ({
      naming,
      entry,
      memoryMb: settings.lambda.memoryMb,
      timeoutSeconds: settings.lambda.timeoutSeconds,
      logRetentionDays: settings.logRetentionDays,
      architecture: settings.lambda.architecture,
      runtime: settings.lambda.runtime,
      provisionedConcurrency: settings.lambda.provisionedConcurrency,
      lambdaInsightsLayerArn: settings.monitoring.lambdaInsightsLayerArn,
      // CodeDeploy moves the live alias; Pulumi only creates it.
      trafficShiftedByCodeDeploy: true,
    });

    this.functions = {};
    const smokeTests: Record<string, SmokeTest> = {};
    const routes: Record<string, { function: ServerlessFunction; auth?: "public" }> = {};
    for (const route of USER_ROUTES) {
      const fn = new ServerlessFunction(
        `${name}-${route.name}`,
        { ...functionArgs(route.entry), environment: { TABLE_NAME: this.table.name } },
        { parent: this },
      );
      if (route.access === "read") this.table.grantRead(fn);
      else this.table.grantWrite(fn);
      this.functions[route.name] = fn;
      // The hook sends what API Gateway would: the route's method and template, the smoke path.
      const [method, resource] = route.route.split(" ");
      smokeTests[route.name] = { ...route.smoke, method, resource };
      routes[route.route] = { function: fn };
    }
    // The health function does no I/O and needs no provisioned concurrency.
    const health = new ServerlessFunction(
      `${name}-health`,
      { ...functionArgs("functions/health/index.ts"), provisionedConcurrency: 0, memoryMb: 128 },
      { parent: this },
    );
    this.functions.health = health;
    smokeTests.health = { resource: HEALTH_PATH, path: HEALTH_PATH, expectStatus: 200, expectBody: '"ok"' };
    routes[`GET ${HEALTH_PATH}`] = { function: health, auth: "public" };

    this.api = new ServerlessApi(
      `${name}-api`,
      {
        naming,
        routes,
        defaultAuth: settings.api.auth,
        throttle: settings.api.throttle,
        logRetentionDays: settings.logRetentionDays,
        accountSettings,
      },
      { parent: this },
    );

    this.monitoring = new Monitoring(
      `${name}-monitoring`,
      {
        naming,
        alarmEmails: settings.monitoring.alarmEmails,
        functions: Object.values(this.functions).map((fn) => ({ function: fn })),
        apis: [this.api],
        tables: [this.table],
        budget: settings.monitoring.budget,
      },
      { parent: this },
    );

    // AllAtOnce shifts at once and needs no smoke test first; gradual shifts test the new version.
    const withHooks = settings.deployment.type !== "AllAtOnce";
    const deployed: Record<string, DeployedFunction> = {};
    for (const [key, fn] of Object.entries(this.functions)) {
      deployed[key] = {
        function: fn,
        alarms: [this.monitoring.rollbackAlarms[fn.logicalName]],
        preTraffic: withHooks ? smokeTests[key] : undefined,
      };
    }
    this.deployment = new CanaryDeployment(
      `${name}-deploy`,
      {
        naming,
        deploymentType: settings.deployment.type,
        functions: deployed,
        hookSettings: {
          logRetentionDays: settings.logRetentionDays,
          architecture: settings.lambda.architecture,
          runtime: settings.lambda.runtime,
        },
      },
      { parent: this },
    );

    this.apiUrl = this.api.url;
    this.dashboardUrl = this.monitoring.dashboardUrl;
    this.tableName = this.table.name;
    this.functionNames = pulumi.output(
      Object.fromEntries(Object.entries(this.functions).map(([key, fn]) => [key, fn.function.name])),
    );
    this.functionArns = pulumi.output(
      Object.fromEntries(Object.entries(this.functions).map(([key, fn]) => [key, fn.arn])),
    );
    this.registerOutputs({
      apiUrl: this.apiUrl,
      tableName: this.tableName,
      functionNames: this.functionNames,
      functionArns: this.functionArns,
      dashboardUrl: this.dashboardUrl,
    });
  }
}
