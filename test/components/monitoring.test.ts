import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import * as pulumi from "@pulumi/pulumi";
import type { RecordedResource } from "../../automation/plan/mocks";
import { DataTable } from "../../components/data-table";
import { LOGS_INSIGHTS_QUERIES, Monitoring, type MonitoringArgs } from "../../components/monitoring";
import type { NamingContext } from "../../components/naming";
import { ServerlessApi } from "../../components/serverless-api";
import { healthFunction, mockRuntime, policyStatements, record, testNaming } from "../helpers/pulumi";

const ALARM = "aws:cloudwatch/metricAlarm:MetricAlarm";
const KEY = "aws:kms/key:Key";
const TOPIC = "aws:sns/topic:Topic";
const TOPIC_POLICY = "aws:sns/topicPolicy:TopicPolicy";

interface Statement {
  Sid?: string;
  Principal: { Service?: string; AWS?: string };
  Action: string | string[];
  Condition?: { StringEquals?: Record<string, string>; ArnLike?: Record<string, string> };
}

const byService = (statements: Record<string, unknown>[], service: string) =>
  (statements as unknown as Statement[]).filter((s) => s.Principal.Service === service);

/** IAM's ArnLike: `*` matches any run of characters, `?` one character. */
function arnLike(pattern: string, arn: string): boolean {
  const escaped = pattern.replace(/[.+^$(){}|[\]\\]/g, "\\$&");
  return new RegExp(`^${escaped.replace(/\*/g, ".*").replace(/\?/g, ".")}$`).test(arn);
}

const alarmArn = (alarm: RecordedResource, naming: NamingContext, accountId: string) =>
  `arn:aws:cloudwatch:${naming.region}:${accountId}:alarm:${alarm.inputs.name}`;

/** The values of outputs, once resolved. */
function resolved<T>(outputs: pulumi.Output<T>[]): Promise<T[]> {
  return new Promise((resolve) => pulumi.all(outputs).apply((values) => resolve(values as T[])));
}

function build(name: string, overrides: Partial<MonitoringArgs> = {}, namingOverride?: NamingContext) {
  const naming = namingOverride ?? testNaming("dev");
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
  it("subscribes each alarm email address to the topic", async () => {
    const { ofType } = await record(() => build("mon-topic").monitoring);
    const subscriptions = ofType("aws:sns/topicSubscription:TopicSubscription");
    assert.deepEqual(
      subscriptions.map((s) => [s.inputs.protocol, s.inputs.endpoint]),
      [["email", "oncall@example.com"]],
    );
  });

  it("encrypts the topic with a rotated customer-managed key of its own, not alias/aws/sns", async () => {
    const { get } = await record(() => build("mon-key").monitoring);
    const key = get(KEY, "mon-key-mon-alerts-key");
    assert.equal(key.inputs.enableKeyRotation, true);
    assert.equal(get(TOPIC, "mon-key-mon-alerts").inputs.kmsMasterKeyId, key.outputs.arn);
    assert.equal(
      get("aws:kms/alias:Alias", "mon-key-mon-alerts-key-alias").inputs.targetKeyId,
      key.outputs.keyId,
    );
  });

  it("lets the account root administer the key", async () => {
    const { get } = await record(() => build("mon-root").monitoring);
    const { accountId } = await mockRuntime();
    const statements = policyStatements(get(KEY, "mon-root-mon-alerts-key")) as unknown as Statement[];
    const root = statements.find((s) => s.Principal.AWS === `arn:aws:iam::${accountId}:root`);
    assert.equal(root?.Action, "kms:*");
  });

  it("lets CloudWatch use the key for every alarm it creates, only for this account's alarms", async () => {
    const { component, get, ofType } = await record(() => build("mon-cw"));
    const { accountId } = await mockRuntime();
    const [statement] = byService(
      policyStatements(get(KEY, "mon-cw-mon-alerts-key")),
      "cloudwatch.amazonaws.com",
    );
    assert.deepEqual(statement.Action, ["kms:Decrypt", "kms:GenerateDataKey*"]);
    assert.equal(statement.Condition?.StringEquals?.["aws:SourceAccount"], accountId);
    const sourceArn = String(statement.Condition?.ArnLike?.["aws:SourceArn"]);
    const alarms = ofType(ALARM);
    assert.ok(alarms.length >= 8);
    for (const alarm of alarms) {
      assert.ok(
        arnLike(sourceArn, alarmArn(alarm, component.naming, accountId)),
        `${alarm.inputs.name} is not covered by ${sourceArn}`,
      );
    }
    assert.ok(
      !arnLike(sourceArn, `arn:aws:cloudwatch:${component.naming.region}:${accountId}:alarm:other-app-x`),
    );
  });

  it("lets CloudWatch alarms publish to the topic, only from this account", async () => {
    const { component, get, ofType } = await record(() => build("mon-pub"));
    const { accountId } = await mockRuntime();
    const policy = get(TOPIC_POLICY, "mon-pub-mon-alerts-policy");
    assert.equal(policy.inputs.arn, get(TOPIC, "mon-pub-mon-alerts").outputs.arn);
    const [statement] = byService(policyStatements(policy), "cloudwatch.amazonaws.com");
    assert.equal(statement.Action, "sns:Publish");
    assert.equal(statement.Condition?.StringEquals?.["aws:SourceAccount"], accountId);
    const sourceArn = String(statement.Condition?.ArnLike?.["aws:SourceArn"]);
    for (const alarm of ofType(ALARM)) {
      assert.ok(arnLike(sourceArn, alarmArn(alarm, component.naming, accountId)), String(alarm.inputs.name));
    }
  });

  it("lets Budgets use the key and publish when this stack has the budget", async () => {
    const { get } = await record(
      () => build("mon-bud", { budget: { monthlyLimitUsd: 100, thresholdPercent: 80 } }).monitoring,
    );
    const { accountId } = await mockRuntime();
    for (const resource of [
      get(KEY, "mon-bud-mon-alerts-key"),
      get(TOPIC_POLICY, "mon-bud-mon-alerts-policy"),
    ]) {
      const [statement] = byService(policyStatements(resource), "budgets.amazonaws.com");
      assert.ok(statement, `${resource.name} does not name budgets.amazonaws.com`);
      assert.equal(statement.Condition?.StringEquals?.["aws:SourceAccount"], accountId);
      assert.equal(statement.Condition?.ArnLike?.["aws:SourceArn"], `arn:aws:budgets::${accountId}:*`);
    }
    const [keyUse] = byService(policyStatements(get(KEY, "mon-bud-mon-alerts-key")), "budgets.amazonaws.com");
    assert.deepEqual(keyUse.Action, ["kms:Decrypt", "kms:GenerateDataKey*"]);
  });

  it("grants Budgets nothing when this stack has no budget", async () => {
    const { get } = await record(() => build("mon-nobud").monitoring);
    assert.deepEqual(
      byService(policyStatements(get(KEY, "mon-nobud-mon-alerts-key")), "budgets.amazonaws.com"),
      [],
    );
    assert.deepEqual(
      byService(policyStatements(get(TOPIC_POLICY, "mon-nobud-mon-alerts-policy")), "budgets.amazonaws.com"),
      [],
    );
  });

  it("subscribes nobody and warns, naming platform:alarmEmails, when there are no alarm emails", async () => {
    const warnings: string[] = [];
    const original = console.warn;
    console.warn = (message: unknown) => warnings.push(String(message));
    let subscriptions: RecordedResource[];
    try {
      subscriptions = (await record(() => build("mon-noemail", { alarmEmails: [] }).monitoring)).ofType(
        "aws:sns/topicSubscription:TopicSubscription",
      );
    } finally {
      console.warn = original;
    }
    assert.deepEqual(subscriptions, []);
    assert.ok(
      warnings.some((w) => /no alarm e-mail subscribers: set platform:alarmEmails/.test(w)),
      `no warning in ${JSON.stringify(warnings)}`,
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
    const names = await resolved(component.rollbackAlarms["mon-rollback-fn"]);
    assert.deepEqual(names, [get(ALARM, "mon-rollback-mon-mon-rollback-fn-errors").inputs.name]);
  });

  it("alarms on handled 5xx (ServerErrors) of an HTTP function's live alias, in the function's metrics namespace", async () => {
    const naming = testNaming("dev");
    const { get } = await record(() => {
      const fn = healthFunction("mon-5xx-fn", naming);
      return new Monitoring("mon-5xx-mon", {
        naming,
        alarmEmails: ["oncall@example.com"],
        functions: [{ function: fn, http: true }],
      });
    });
    const alarm = get(ALARM, "mon-5xx-mon-mon-5xx-fn-server-errors").inputs;
    const functionName = get("aws:lambda/function:Function", "mon-5xx-fn-function").inputs.name;
    const topicArn = get(TOPIC, "mon-5xx-mon-alerts").outputs.arn;
    assert.deepEqual(
      {
        namespace: alarm.namespace,
        metricName: alarm.metricName,
        dimensions: alarm.dimensions,
        statistic: alarm.statistic,
        period: alarm.period,
        comparisonOperator: alarm.comparisonOperator,
        threshold: alarm.threshold,
        evaluationPeriods: alarm.evaluationPeriods,
        treatMissingData: alarm.treatMissingData,
        alarmActions: alarm.alarmActions,
      },
      {
        namespace: naming.app,
        metricName: "ServerErrors",
        dimensions: { FunctionName: functionName, Resource: `${functionName}:live` },
        statistic: "Sum",
        period: 60,
        comparisonOperator: "GreaterThanThreshold",
        threshold: 0,
        evaluationPeriods: 1,
        treatMissingData: "notBreaching",
        alarmActions: [topicArn],
      },
    );
  });

  it("rolls an HTTP function's canary back on its handled 5xx alarm beside its errors alarm", async () => {
    const naming = testNaming("dev");
    const { component, get } = await record(() => {
      const fn = healthFunction("mon-5xxrb-fn", naming);
      return new Monitoring("mon-5xxrb-mon", {
        naming,
        alarmEmails: ["oncall@example.com"],
        functions: [{ function: fn, http: true }],
      });
    });
    assert.deepEqual(await resolved(component.rollbackAlarms["mon-5xxrb-fn"]), [
      get(ALARM, "mon-5xxrb-mon-mon-5xxrb-fn-errors").inputs.name,
      get(ALARM, "mon-5xxrb-mon-mon-5xxrb-fn-server-errors").inputs.name,
    ]);
  });

  it("sets no handled 5xx alarm on a function that does not serve HTTP", async () => {
    const { ofType } = await record(() => build("mon-no5xx").monitoring);
    assert.deepEqual(
      ofType(ALARM).filter((a) => a.inputs.metricName === "ServerErrors"),
      [],
    );
  });

  it("alarms on DestinationDeliveryFailures of a function with an on-failure destination", async () => {
    const naming = testNaming("dev");
    const { get } = await record(() => {
      const fn = healthFunction("mon-dest-fn", naming, {
        asyncFailure: { onFailureDestinationArn: "arn:aws:sqs:us-east-1:123456789012:failed" },
      });
      return new Monitoring("mon-dest-mon", {
        naming,
        alarmEmails: ["oncall@example.com"],
        functions: [{ function: fn }],
      });
    });
    const alarm = get(ALARM, "mon-dest-mon-mon-dest-fn-destination-failures").inputs;
    assert.equal(alarm.namespace, "AWS/Lambda");
    assert.equal(alarm.metricName, "DestinationDeliveryFailures");
    assert.deepEqual(alarm.dimensions, {
      FunctionName: get("aws:lambda/function:Function", "mon-dest-fn-function").inputs.name,
    });
    assert.deepEqual(
      [alarm.statistic, alarm.comparisonOperator, alarm.threshold],
      ["Sum", "GreaterThanThreshold", 0],
    );
    assert.deepEqual(alarm.alarmActions, [get(TOPIC, "mon-dest-mon-alerts").outputs.arn]);
  });

  it("alarms on DeadLetterErrors of a function with an asynchronous dead-letter queue", async () => {
    const naming = testNaming("dev");
    const { get } = await record(() => {
      const fn = healthFunction("mon-dle-fn", naming, { asyncFailure: { deadLetterQueue: true } });
      return new Monitoring("mon-dle-mon", {
        naming,
        alarmEmails: ["oncall@example.com"],
        functions: [{ function: fn }],
      });
    });
    const alarm = get(ALARM, "mon-dle-mon-mon-dle-fn-dead-letter-errors").inputs;
    assert.deepEqual([alarm.namespace, alarm.metricName], ["AWS/Lambda", "DeadLetterErrors"]);
  });

  it("sets no delivery failure alarms on a function without asynchronous failure handling", async () => {
    const { ofType } = await record(() => build("mon-nodest").monitoring);
    assert.deepEqual(
      ofType(ALARM)
        .map((a) => a.inputs.metricName)
        .filter((metric) => metric === "DestinationDeliveryFailures" || metric === "DeadLetterErrors"),
      [],
    );
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

  it("names the dashboard with the region, so that the region stacks of a stage keep their own", async () => {
    const names = await Promise.all(
      ["us-east-1", "eu-west-1"].map(async (region) => {
        const naming = { ...testNaming("prod"), app: "dashapp", region };
        const { get } = await record(() => build(`mon-dash-${region}`, {}, naming).monitoring);
        return String(
          get("aws:cloudwatch/dashboard:Dashboard", `mon-dash-${region}-mon-dashboard`).inputs.dashboardName,
        );
      }),
    );
    assert.notEqual(names[0], names[1]);
    assert.ok(names[0].endsWith("us-east-1") && names[1].endsWith("eu-west-1"), names.join(", "));
    for (const name of names) assert.match(name, /^[A-Za-z0-9_-]{1,255}$/);
  });

  it("queries platform.report fields that Lambda's JSON log format, which the functions use, documents", async () => {
    const { get, ofType } = await record(() => build("mon-json"));
    assert.equal(
      (
        get("aws:lambda/function:Function", "mon-json-fn-function").inputs.loggingConfig as {
          logFormat: string;
        }
      ).logFormat,
      "JSON",
    );
    const fixture = JSON.parse(
      fs.readFileSync(path.join(__dirname, "..", "fixtures", "lambda-logs", "platform-report.json"), "utf8"),
    ) as Record<"coldStart" | "warm", Record<string, unknown>>;
    const lookup = (event: Record<string, unknown>, field: string) =>
      field
        .split(".")
        .reduce<unknown>((value, part) => (value as Record<string, unknown> | undefined)?.[part], event);
    const reportQueries = ofType("aws:cloudwatch/queryDefinition:QueryDefinition")
      .map((q) => String(q.inputs.queryString))
      .filter((query) => query.includes("platform.report"));
    assert.equal(reportQueries.length, 3);
    for (const query of reportQueries) {
      const typeFilter = /filter type = "([^"]+)"/.exec(query);
      assert.equal(typeFilter?.[1], fixture.coldStart.type, query);
      const fields = [...new Set(query.match(/\brecord(?:\.[A-Za-z]+)+/g) ?? [])];
      assert.ok(fields.length > 0, query);
      for (const field of fields) {
        assert.equal(
          typeof lookup(fixture.coldStart, field),
          "number",
          `${field} is not in a platform.report record`,
        );
      }
      // Only cold starts carry initDurationMs: a query on it must select them with ispresent().
      if (fields.includes("record.metrics.initDurationMs")) {
        assert.equal(lookup(fixture.warm, "record.metrics.initDurationMs"), undefined);
        assert.match(query, /ispresent\(record\.metrics\.initDurationMs\)/);
      }
      assert.doesNotMatch(query, /@type|"REPORT"|@duration|@initDuration/);
    }
  });

  it("saves Logs Insights queries for errors, duration, cold starts and memory over the functions' log groups", async () => {
    const { ofType, get } = await record(() => build("mon-queries").monitoring);
    const queries = ofType("aws:cloudwatch/queryDefinition:QueryDefinition");
    assert.deepEqual(
      queries.map((q) => String(q.inputs.name).split("/")[1]).sort(),
      Object.keys(LOGS_INSIGHTS_QUERIES).sort(),
    );
    assert.deepEqual(Object.keys(LOGS_INSIGHTS_QUERIES).sort(), [
      "cold-starts",
      "duration-stats",
      "memory-usage",
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
