import * as assert from "node:assert/strict";
import { Platform } from "../../components/platform";
import { ordersService } from "../../functions/orders/service";
import type { ServiceDeclaration } from "../../functions/shared/service-declaration";
import { usersService } from "../../functions/users/service";
import { mockRuntime, record, testSettings } from "../helpers/pulumi";

const FUNCTION = "aws:lambda/function:Function";
const TABLE = "aws:dynamodb/table:Table";
const REST_API = "aws:apigateway/restApi:RestApi";
const INTEGRATION = "aws:apigateway/integration:Integration";
const ROLE = "aws:iam/role:Role";

/** A second service, named per test (logical names are unique per process under the mock runtime). */
function notes(name: string, overrides: Partial<ServiceDeclaration> = {}): ServiceDeclaration {
  return {
    name,
    api: { basePath: `/${name}` },
    tables: { [name]: { hashKey: { name: "noteId", type: "S" } } },
    functions: {
      read: {
        handler: "functions/health/index.ts",
        trigger: { type: "http", route: `GET /${name}/{noteId}`, smoke: { path: `/${name}/x` } },
        access: { tables: { [name]: "read" } },
        memoryMb: 256,
      },
    },
    ...overrides,
  };
}

describe("Platform", () => {
  it("builds every declared service: its tables and functions, named after the service", async () => {
    const { get, component } = await record(
      () =>
        new Platform("pf-build", {
          settings: testSettings({ app: "pfb" }),
          services: [usersService, notes("notes")],
        }),
    );
    assert.equal(get(TABLE, "users-table-table").inputs.name, "pfb-dev-users-table");
    assert.equal(get(TABLE, "notes-table-table").inputs.hashKey, "noteId");
    assert.equal(get(FUNCTION, "notes-read-function").inputs.name, "pfb-dev-notes-read");
    assert.deepEqual(Object.keys(component.functions).sort(), [
      "health",
      "notes-read",
      "users-create",
      "users-delete",
      "users-get",
      "users-list",
      "users-update",
    ]);
  });

  it("keys the functions of the service named like the platform without a prefix", async () => {
    const { component } = await record(
      () => new Platform("users", { settings: testSettings({ app: "pfk" }), services: [usersService] }),
    );
    assert.deepEqual(Object.keys(component.functions).sort(), [
      "create",
      "delete",
      "get",
      "health",
      "list",
      "update",
    ]);
  });

  it("gives each function its declared table's name in the declared environment variable", async () => {
    const { get } = await record(
      () => new Platform("pf-env", { settings: testSettings({ app: "pfe" }), services: [notes("envnotes")] }),
    );
    const { variables } = get(FUNCTION, "envnotes-read-function").inputs.environment as {
      variables: Record<string, string>;
    };
    assert.equal(variables.ENVNOTES_TABLE_NAME, "pfe-dev-envnotes-table");
  });

  it("applies a function's override of the stage's memory", async () => {
    const { get } = await record(
      () =>
        new Platform("pf-mem", {
          settings: testSettings({ app: "pfm", memoryMb: 1024 }),
          services: [notes("memnotes")],
        }),
    );
    assert.equal(get(FUNCTION, "memnotes-read-function").inputs.memorySize, 256);
    assert.equal(get(FUNCTION, "pf-mem-health-function").inputs.memorySize, 128);
  });

  it("serves every service on the stage's shared API, beside GET /health", async () => {
    const { ofType } = await record(
      () =>
        new Platform("pf-shared", { settings: testSettings({ app: "pfs" }), services: [notes("shared")] }),
    );
    assert.equal(ofType(REST_API).length, 1);
    assert.equal(ofType(INTEGRATION).length, 2);
  });

  it("gives a service that declares its own API a REST API of its own", async () => {
    const { get, component } = await record(
      () =>
        new Platform("pf-own", {
          settings: testSettings({ app: "pfo" }),
          services: [notes("ownapi", { api: { own: true } })],
        }),
    );
    assert.equal(get(REST_API, "ownapi-api-api").inputs.name, "pfo-dev-ownapi-api");
    assert.ok(component.serviceApis.ownapi);
  });

  it("validates the declarations before creating any resource", async () => {
    const runtime = await mockRuntime();
    const before = runtime.resources.length;
    const bad = notes("badnotes", { tables: {} });
    assert.throws(
      () => new Platform("pf-bad", { settings: testSettings({ app: "pfx" }), services: [bad] }),
      /service badnotes: functions\.read\.access\.tables\.badnotes: the service has no table badnotes/,
    );
    assert.equal(runtime.resources.length, before);
  });

  describe("canary rollback alarms", () => {
    const GROUP = "aws:codedeploy/deploymentGroup:DeploymentGroup";
    const ALARM = "aws:cloudwatch/metricAlarm:MetricAlarm";
    // One platform for these tests: building users and orders twice would be slow.
    const built = record(
      () =>
        new Platform("pf-canary", {
          settings: testSettings({ app: "pfc", deploymentType: "Canary10Percent5Minutes" }),
          services: [usersService, ordersService],
        }),
    );
    const groupAlarms = async (key: string) => {
      const { get } = await built;
      const group = get(GROUP, `pf-canary-deploy-${key}-group`).inputs;
      return (group.alarmConfiguration as { enabled: boolean; alarms: string[] }).alarms;
    };
    const alarmName = async (logicalName: string) => (await built).get(ALARM, logicalName).inputs.name;

    it("rolls users-create back on its handled 5xx alarm, beside its errors alarm", async () => {
      assert.deepEqual(await groupAlarms("users-create"), [
        await alarmName("pf-canary-monitoring-users-create-errors"),
        await alarmName("pf-canary-monitoring-users-create-server-errors"),
      ]);
    });

    it("watches the ServerErrors users-create writes: its namespace, function and live alias", async () => {
      const { get } = await built;
      const alarm = get(ALARM, "pf-canary-monitoring-users-create-server-errors").inputs;
      const fn = get(FUNCTION, "users-create-function").inputs;
      const { variables } = fn.environment as { variables: Record<string, string> };
      assert.deepEqual(
        [alarm.namespace, alarm.metricName, alarm.dimensions, alarm.statistic, alarm.period],
        [
          variables.PLATFORM_METRICS_NAMESPACE,
          "ServerErrors",
          { FunctionName: "pfc-dev-users-create", Resource: "pfc-dev-users-create:live" },
          "Sum",
          60,
        ],
      );
      assert.equal(fn.name, "pfc-dev-users-create");
      assert.equal(variables.PLATFORM_METRICS_NAMESPACE, "pfc");
    });

    it("notifies the alert topic from the handled 5xx alarm", async () => {
      const { get } = await built;
      const alarm = get(ALARM, "pf-canary-monitoring-users-create-server-errors").inputs;
      const topicArn = get("aws:sns/topic:Topic", "pf-canary-monitoring-alerts").outputs.arn;
      assert.deepEqual([alarm.alarmActions, alarm.okActions], [[topicArn], [topicArn]]);
    });

    it("does not roll a consumer back on its failure queue's depth: a message kept there for inspection would block its fix", async () => {
      assert.deepEqual(await groupAlarms("orders-fulfil"), [
        await alarmName("pf-canary-monitoring-orders-fulfil-errors"),
      ]);
      assert.deepEqual(await groupAlarms("orders-acknowledge"), [
        await alarmName("pf-canary-monitoring-orders-acknowledge-errors"),
      ]);
    });

    it("rolls the health function back on its errors alarm only: it cannot answer a handled 5xx", async () => {
      assert.deepEqual(await groupAlarms("health"), [
        await alarmName("pf-canary-monitoring-pf-canary-health-errors"),
      ]);
    });
  });

  describe("platform:roleBoundary", () => {
    const boundariesOf = async (name: string, roleBoundary?: string) => {
      const { ofType } = await record(
        () =>
          new Platform(name, {
            settings: testSettings({
              app: name,
              manageAccountSettings: "true",
              deploymentType: "Canary10Percent5Minutes",
              ...(roleBoundary === undefined ? {} : { roleBoundary }),
            }),
            services: [notes(`${name}n`)],
          }),
      );
      const roles = ofType(ROLE);
      // A function role, the API Gateway account role, CodeDeploy's role and a canary hook's role.
      assert.ok(roles.length >= 4, `roles: ${roles.map((r) => r.name).join(", ")}`);
      return roles.map((role) => role.inputs.permissionsBoundary);
    };

    it("gives every role the boundary named by a policy name, in the deploying account", async () => {
      const boundaries = await boundariesOf("pfrb", "pfrb-application-boundary");
      assert.deepEqual(
        new Set(boundaries),
        new Set(["arn:aws:iam::123456789012:policy/pfrb-application-boundary"]),
      );
    });

    it("gives every role the boundary named by a policy ARN, as given", async () => {
      const arn = "arn:aws:iam::210987654321:policy/teams/pfra-boundary";
      assert.deepEqual(new Set(await boundariesOf("pfra", arn)), new Set([arn]));
    });

    it("gives no role a boundary when unset", async () => {
      assert.deepEqual(new Set(await boundariesOf("pfru")), new Set([undefined]));
    });
  });
});
