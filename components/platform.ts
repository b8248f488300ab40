import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import type { ServiceDeclaration } from "../functions/shared/service-declaration";
import { ApiGatewayAccountSettings } from "./account-settings";
import { PROJECT_ROOT } from "./bundle";
import { CanaryDeployment, type DeployedFunction, type SmokeTest } from "./canary-deployment";
import type { DataTable } from "./data-table";
import { type MonitoredFunction, Monitoring } from "./monitoring";
import type { NamingContext } from "./naming";
import { type Route, ServerlessApi } from "./serverless-api";
import { ServerlessFunction } from "./serverless-function";
import { type AlarmSource, buildService } from "./service-builder";
import type { ServiceQueue } from "./service-queue";
import { validateServices } from "./service-validation";
import type { Settings } from "./settings";
import { roleBoundaryTransformation } from "./transform";

export interface PlatformArgs {
  /** The stack's validated settings (`loadSettings()`). */
  settings: Settings;
  /**
   * The services the platform builds, each a declaration (functions/<service>/service.ts). All are
   * validated before anything is created.
   * @example [usersService, ordersService]
   */
  services: readonly ServiceDeclaration[];
  /** Where handler files are looked up. @default the project root */
  projectRoot?: string;
}

/** The public smoke path: canary hooks and rollout health checks call it. */
export const HEALTH_PATH = "/health";

/**
 * One region of the platform: the stage's REST API (with `GET /health`), every declared service
 * (tables, functions, routes, queues, ...), their monitoring and their canary deployment. The
 * platform's name prefixes what the services share (API, health function, monitoring, deployment);
 * each service's pieces are prefixed with the service's name.
 *
 * With `platform:roleBoundary` set, every IAM role below it carries that permissions boundary (one
 * transformation, over any component's or transform's own value); unset, the default, no role has
 * one. The pipeline's deploy role creates no role without the pipeline's application boundary, so
 * the stages it rolls out set it, while a developer's own stack leaves it unset.
 *
 * @example
 * const platform = new Platform("users", { settings: loadSettings(), services: [usersService] });
 * export const apiUrl = platform.apiUrl;
 */
export class Platform extends pulumi.ComponentResource {
  static readonly type = "platform:index:Platform";

  /** The first declared table (the users table), for the `tableName` output; undefined with none. */
  readonly table?: DataTable;
  /** Every table, by `<service>/<table>`. */
  readonly tables: Record<string, DataTable> = {};
  /** Every function, by its key relative to the platform (`get`, `health`, `orders-create`). */
  readonly functions: Record<string, ServerlessFunction>;
  /** The stage's shared REST API. */
  readonly api: ServerlessApi;
  /** REST APIs of services that declare `api: { own: true }`, by service name. */
  readonly serviceApis: Record<string, ServerlessApi> = {};
  readonly monitoring: Monitoring;
  readonly deployment: CanaryDeployment;
  readonly apiUrl: pulumi.Output<string>;
  readonly tableName: pulumi.Output<string | undefined>;
  readonly functionNames: pulumi.Output<Record<string, string>>;
  readonly functionArns: pulumi.Output<Record<string, string>>;
  readonly dashboardUrl: pulumi.Output<string>;

  constructor(name: string, args: PlatformArgs, opts?: pulumi.ComponentResourceOptions) {
    super(Platform.type, name, {}, withRoleBoundary(args.settings, opts));
    const { settings, services } = args;
    // Before any resource: a bad declaration fails the program with every problem listed.
    validateServices(services, args.projectRoot ?? PROJECT_ROOT);
    for (const service of services) {
      if ("own" in service.api && service.name === name) {
        throw new Error(
          `service ${service.name}: api: an own API would be named like the platform's shared API (${name}-api); use api.basePath`,
        );
      }
    }
    const naming: NamingContext = { app: settings.app, stage: settings.stage, region: settings.region };

    const accountSettings = settings.manageAccountSettings
      ? new ApiGatewayAccountSettings(`${name}-account`, { naming }, { parent: this })
      : undefined;

    this.functions = {};
    const smokeTests: Record<string, SmokeTest> = {};
    const routes: Record<string, Route> = {};
    const monitored: MonitoredFunction[] = [];
    const ownRoutes: Record<string, Record<string, Route>> = {};
    const queues: ServiceQueue[] = [];
    const alarmSources: AlarmSource[] = [];
    for (const service of services) {
      const built = buildService(service, { parent: this, platformName: name, naming, settings });
      for (const [key, table] of Object.entries(built.tables)) this.tables[`${service.name}/${key}`] = table;
      Object.assign(this.functions, built.functions);
      Object.assign(smokeTests, built.smokeTests);
      monitored.push(...built.monitored);
      queues.push(...Object.values(built.queues));
      alarmSources.push(...built.alarmSources);
      if ("own" in service.api) ownRoutes[service.name] = built.routes;
      else Object.assign(routes, built.routes);
    }
    this.table = Object.values(this.tables)[0];

    // The health function does no I/O and needs no provisioned concurrency.
    const health = new ServerlessFunction(
      `${name}-health`,
      {
        naming,
        entry: "functions/health/index.ts",
        memoryMb: 128,
        timeoutSeconds: settings.lambda.timeoutSeconds,
        logRetentionDays: settings.logRetentionDays,
        architecture: settings.lambda.architecture,
        runtime: settings.lambda.runtime,
        provisionedConcurrency: 0,
        lambdaInsightsLayerArn: settings.monitoring.lambdaInsightsLayerArn,
        trafficShiftedByCodeDeploy: true,
      },
      { parent: this },
    );
    this.functions.health = health;
    monitored.push({ function: health });
    smokeTests.health = { resource: HEALTH_PATH, path: HEALTH_PATH, expectStatus: 200, expectBody: '"ok"' };
    routes[`GET ${HEALTH_PATH}`] = { function: health, auth: "public" };

    const apiArgs = (apiRoutes: Record<string, Route>) => ({
      naming,
      routes: apiRoutes,
      defaultAuth: settings.api.auth,
      throttle: settings.api.throttle,
      logRetentionDays: settings.logRetentionDays,
      accountSettings,
    });
    this.api = new ServerlessApi(`${name}-api`, apiArgs(routes), { parent: this });
    for (const [service, serviceRoutes] of Object.entries(ownRoutes)) {
      this.serviceApis[service] = new ServerlessApi(`${service}-api`, apiArgs(serviceRoutes), {
        parent: this,
      });
    }

    this.monitoring = new Monitoring(
      `${name}-monitoring`,
      {
        naming,
        alarmEmails: settings.monitoring.alarmEmails,
        functions: monitored,
        apis: [this.api, ...Object.values(this.serviceApis)],
        tables: Object.values(this.tables),
        budget: settings.monitoring.budget,
      },
      { parent: this },
    );

    // A consumer's failure-queue depth alarms notify but do not roll back: a message left there
    // for inspection would keep them on and block every later deployment, the fix included.
    for (const source of [...queues, ...alarmSources]) source.createAlarms(this.monitoring.topic.arn);

    // AllAtOnce shifts at once and needs no smoke test first; gradual shifts test the new version.
    const withHooks = settings.deployment.type !== "AllAtOnce";
    const deployed: Record<string, DeployedFunction> = {};
    for (const [key, fn] of Object.entries(this.functions)) {
      deployed[key] = {
        function: fn,
        alarms: this.monitoring.rollbackAlarms[fn.logicalName],
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
    this.tableName = this.table ? this.table.name : pulumi.output(undefined);
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

/**
 * `platform:roleBoundary` as an ARN: an ARN as given, a policy name as the deploying account's
 * customer-managed policy of that name.
 */
export function roleBoundaryArn(boundary: string): pulumi.Input<string> {
  if (boundary.startsWith("arn:")) return boundary;
  const { accountId } = aws.getCallerIdentityOutput({});
  const { partition } = aws.getPartitionOutput({});
  return pulumi.interpolate`arn:${partition}:iam::${accountId}:policy/${boundary}`;
}

/** The platform's options, with the stack's role boundary on every role below it when one is set. */
function withRoleBoundary(
  settings: Settings,
  opts: pulumi.ComponentResourceOptions | undefined,
): pulumi.ComponentResourceOptions | undefined {
  if (settings.roleBoundary === undefined) return opts;
  const boundary = roleBoundaryTransformation(roleBoundaryArn(settings.roleBoundary));
  return { ...opts, transformations: [...(opts?.transformations ?? []), boundary] };
}
