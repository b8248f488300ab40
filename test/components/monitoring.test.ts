import * as assert from "node:assert/strict";
import { DataTable } from "../../components/data-table";
import { Monitoring, type MonitoringArgs } from "../../components/monitoring";
import { ServerlessApi } from "../../components/serverless-api";
import { healthFunction, record, testNaming } from "../helpers/pulumi";

const ALARM = "aws:cloudwatch/metricAlarm:MetricAlarm";

function build(name: string, overrides: Partial<MonitoringArgs> = {}) {
  const naming = testNaming("dev");
  const fn = healthFunction(`${name}-fn`, naming);
  const api = new ServerlessApi(`${name}-api`, {
    naming,
    routes: { "GET /health": { function: fn, auth: "public" } },
    throttle: { rateLimit: 10, burstLimit: 20 },
    logRetentionDays: 1,
  });
  const table = new DataTable(`${name}-table`, { naming, hashKey: { name: "id", type: "S" } });
  const monitoring = new Monitoring(`${name}-mon`, {
    naming,
    functions: [{ function: fn }],
    apis: [api],
    tables: [table],
    alarmEmails: ["oncall@example.com"],
    ...overrides,
  });
  return { monitoring, fn, naming };
}

describe("Monitoring", () => {
  it("notifies an encrypted SNS topic with an email subscription per address", async () => {
    const { get, ofType } = await record(() => build("mon-topic").monitoring);
    assert.equal(get("aws:sns/topic:Topic", "mon-topic-mon-alerts").inputs.kmsMasterKeyId, "alias/aws/sns");
    const subscriptions = ofType("aws:sns/topicSubscription:TopicSubscription");
    assert.deepEqual(
      subscriptions.map((s) => [s.inputs.protocol, s.inputs.endpoint]),
      [["email", "oncall@example.com"]],
    );
  });

  it("alarms on errors of the function's live alias, wired to the topic", async () => {
    const { get } = await record(() => build("mon-errors").monitoring);
    const alarm = get(ALARM, "mon-errors-mon-mon-errors-fn-errors").inputs;
    const topicArn = get("aws:sns/topic:Topic", "mon-errors-mon-alerts").outputs.arn;
    assert.equal(alarm.namespace, "AWS/Lambda");
    assert.equal(alarm.metricName, "Errors");
    assert.equal(alarm.statistic, "Sum");
    assert.equal(alarm.period, 60);
    assert.equal(alarm.threshold, 1);
    assert.equal(alarm.treatMissingData, "notBreaching");
    assert.deepEqual(alarm.alarmActions, [topicArn]);
    const dimensions = alarm.dimensions as Record<string, string>;
    assert.equal(dimensions.Resource, `${dimensions.FunctionName}:live`);
    assert.match(String(alarm.alarmDescription), /CodeDeploy rolls a canary back on this alarm/);
  });

  it("exposes the errors alarm names as rollback alarms", async () => {
    const { component, get } = await record(() => build("mon-rollback").monitoring);
    const name = await new Promise((resolve) => component.rollbackAlarms["mon-rollback-fn"].apply(resolve));
    assert.equal(name, get(ALARM, "mon-rollback-mon-mon-rollback-fn-errors").inputs.name);
  });

  it("alarms when p99 duration passes 80% of the timeout", async () => {
    const { get } = await record(() => build("mon-duration").monitoring);
    const alarm = get(ALARM, "mon-duration-mon-mon-duration-fn-duration-p99").inputs;
    assert.equal(alarm.extendedStatistic, "p99");
    assert.equal(alarm.threshold, 8000);
  });

  it("alarms on throttles of every function", async () => {
    const { get } = await record(() => build("mon-throttles").monitoring);
    assert.equal(get(ALARM, "mon-throttles-mon-mon-throttles-fn-throttles").inputs.metricName, "Throttles");
  });

  it("alarms on iterator age only for stream consumers", async () => {
    const plain = await record(() => build("mon-iter-a").monitoring);
    assert.equal(plain.ofType(ALARM).filter((a) => a.name.endsWith("iterator-age")).length, 0);
    const consumer = await record(() => {
      const { fn, naming } = build("mon-iter-b");
      return new Monitoring("mon-iter-b-consumer", {
        naming,
        functions: [{ function: fn, streamConsumer: true }],
      });
    });
    assert.equal(
      consumer.get(ALARM, "mon-iter-b-consumer-mon-iter-b-fn-iterator-age").inputs.metricName,
      "IteratorAge",
    );
  });

  it("alarms on the API's 5XX count and p99 latency", async () => {
    const { get } = await record(() => build("mon-api").monitoring);
    const errors = get(ALARM, "mon-api-mon-mon-api-api-5xx").inputs;
    assert.equal(errors.metricName, "5XXError");
    assert.equal((errors.dimensions as Record<string, string>).Stage, "dev");
    assert.equal(get(ALARM, "mon-api-mon-mon-api-api-latency-p99").inputs.extendedStatistic, "p99");
  });

  it("alarms on table throttles and sums system errors over the operations", async () => {
    const { get } = await record(() => build("mon-table").monitoring);
    assert.equal(
      get(ALARM, "mon-table-mon-mon-table-table-read-throttles").inputs.metricName,
      "ReadThrottleEvents",
    );
    assert.equal(
      get(ALARM, "mon-table-mon-mon-table-table-write-throttles").inputs.metricName,
      "WriteThrottleEvents",
    );
    const queries = get(ALARM, "mon-table-mon-mon-table-table-system-errors").inputs.metricQueries as {
      id: string;
      expression?: string;
      metric?: { metricName: string; dimensions: Record<string, string> };
    }[];
    assert.match(String(queries[0].expression), /^SUM\(\[m0,m1,.*\]\)$/);
    assert.ok(
      queries.slice(1).every((q) => q.metric?.metricName === "SystemErrors" && q.metric.dimensions.Operation),
    );
  });

  it("gives every alarm an action, a description and a missing-data treatment", async () => {
    const { ofType } = await record(() => build("mon-all").monitoring);
    const alarms = ofType(ALARM);
    assert.ok(alarms.length >= 8);
    for (const alarm of alarms) {
      assert.ok((alarm.inputs.alarmActions as string[]).length > 0, `${alarm.name} has no action`);
      assert.ok(String(alarm.inputs.alarmDescription).length > 20, `${alarm.name} has no description`);
      assert.equal(alarm.inputs.treatMissingData, "notBreaching", alarm.name);
    }
  });

  it("draws a dashboard of invocations, errors, duration, throttles, concurrency, API and table metrics", async () => {
    const { get, component } = await record(() => build("mon-dash").monitoring);
    const body = JSON.parse(
      String(get("aws:cloudwatch/dashboard:Dashboard", "mon-dash-mon-dashboard").inputs.dashboardBody),
    );
    const titles = body.widgets
      .map((w: { properties: { title?: string } }) => w.properties.title)
      .filter(Boolean);
    for (const title of [
      "Invocations",
      "Errors",
      "Duration p50",
      "Duration p99",
      "Throttles",
      "Concurrent executions",
    ]) {
      assert.ok(titles.includes(title), `no ${title} widget`);
    }
    assert.ok(titles.some((t: string) => /latency/.test(t)));
    assert.ok(titles.some((t: string) => /4XX \/ 5XX/.test(t)));
    assert.ok(titles.some((t: string) => /consumed capacity/.test(t)));
    const url = await new Promise((resolve) => component.dashboardUrl.apply(resolve));
    assert.match(
      String(url),
      /^https:\/\/us-east-1\.console\.aws\.amazon\.com\/cloudwatch\/home\?region=us-east-1#dashboards:name=/,
    );
  });

  it("saves Logs Insights queries for errors, duration and cold starts over the functions' log groups", async () => {
    const { ofType, get } = await record(() => build("mon-queries").monitoring);
    const queries = ofType("aws:cloudwatch/queryDefinition:QueryDefinition");
    assert.deepEqual(queries.map((q) => String(q.inputs.name).split("/")[1]).sort(), [
      "cold-starts",
      "duration-stats",
      "recent-errors",
    ]);
    const logGroup = get("aws:cloudwatch/logGroup:LogGroup", "mon-queries-fn-logs").inputs.name;
    assert.ok(queries.every((q) => (q.inputs.logGroupNames as string[]).includes(String(logGroup))));
  });

  it("creates a monthly budget alerting at the threshold only when asked", async () => {
    const without = await record(() => build("mon-nobudget").monitoring);
    assert.deepEqual(without.ofType("aws:budgets/budget:Budget"), []);
    const withBudget = await record(
      () => build("mon-budget", { budget: { monthlyLimitUsd: 500, thresholdPercent: 80 } }).monitoring,
    );
    const budget = withBudget.get("aws:budgets/budget:Budget", "mon-budget-mon-budget").inputs;
    assert.equal(budget.limitAmount, "500.00");
    assert.equal((budget.notifications as { threshold: number }[])[0].threshold, 80);
  });

  it("rejects an invalid alarm email", () => {
    assert.throws(
      () => build("mon-bad", { alarmEmails: ["not-an-email"] }),
      /Monitoring mon-bad-mon: alarmEmails has an invalid address "not-an-email"/,
    );
  });
});
