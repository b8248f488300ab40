/**
 * The canary's handled-5xx rollback alarm and the handler that feeds it, together: the dev plan's
 * own `ServerErrors` alarm on a function's `live` alias, and the metric line the real bundled
 * handler writes when it answers 500 in the local cloud, invoked through the alias as API Gateway
 * invokes it. If the two disagree on namespace, metric or dimensions, the alarm never fires on AWS.
 */
import { strict as assert } from "node:assert";
import { DeleteTableCommand } from "@aws-sdk/client-dynamodb";
import { LocalCloud } from "../../automation/local/cloud";
import type { RequestRecord } from "../../automation/local/gateway";
import { signedFetch } from "./support";

describe("the handled-5xx alarm of the dev plan and the metric its handler writes", function () {
  this.timeout(120_000);
  let cloud: LocalCloud;
  const records: RequestRecord[] = [];

  before(async () => {
    cloud = await LocalCloud.start({
      stack: "dev",
      inMemory: true,
      onRequest: (record) => records.push(record),
    });
    // Without its table, GET /users/{userId} fails inside the handler, which answers a JSON 500.
    const users = cloud.model.tables.find((t) => t.name.endsWith("-users-table"));
    await cloud.dynamoDb.client.send(new DeleteTableCommand({ TableName: users?.name }));
  });
  after(async () => cloud?.close());

  it("writes, on a 500, the metric the function's rollback alarm watches, with the alarm's dimensions", async () => {
    const response = await signedFetch(
      cloud.url,
      { method: "GET", path: "/users/ada" },
      cloud.credentials,
      cloud.model.region,
    );
    assert.equal(response.status, 500);
    const record = records.find((r) => r.path === "/users/ada");
    const metricLines = (record?.logs ?? [])
      .map((line) => {
        try {
          return JSON.parse(line) as Record<string, unknown> & {
            _aws?: {
              CloudWatchMetrics: { Namespace: string; Dimensions: string[][]; Metrics: { Name: string }[] }[];
            };
          };
        } catch {
          return undefined;
        }
      })
      .filter((doc) => doc?._aws);
    assert.equal(
      metricLines.length,
      1,
      `one metric line in the function's logs:\n${record?.logs.join("\n")}`,
    );
    const [doc] = metricLines;
    const [directive] = doc?._aws?.CloudWatchMetrics ?? [];

    const functionName = record?.functionName ?? "";
    const alarm = cloud.plan.resources.find(
      (r) =>
        r.type === "aws:cloudwatch/metricAlarm:MetricAlarm" &&
        r.inputs.metricName === directive.Metrics[0].Name &&
        (r.inputs.dimensions as Record<string, string> | undefined)?.FunctionName === functionName,
    );
    assert.ok(alarm, `the plan alarms on ${directive.Metrics[0].Name} of ${functionName}`);
    assert.equal(directive.Namespace, alarm.inputs.namespace);
    const dimensions = alarm.inputs.dimensions as Record<string, string>;
    assert.deepEqual(directive.Dimensions, [Object.keys(dimensions).sort()]);
    for (const [name, value] of Object.entries(dimensions)) assert.equal(doc?.[name], value, name);
    // The alarm is one of the function's deployment group's rollback alarms.
    const group = cloud.plan.resources.find(
      (r) =>
        r.type === "aws:codedeploy/deploymentGroup:DeploymentGroup" &&
        JSON.stringify(r.inputs.alarmConfiguration ?? {}).includes(String(alarm.inputs.name)),
    );
    assert.ok(group, `a deployment group rolls back on ${alarm.inputs.name}`);
  });
});
