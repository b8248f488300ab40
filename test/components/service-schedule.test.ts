import * as assert from "node:assert/strict";
import { ServiceSchedule } from "../../components/service-schedule";
import { healthFunction, policyStatements, record, testNaming } from "../helpers/pulumi";

const SCHEDULE = "aws:scheduler/schedule:Schedule";
const ALARM = "aws:cloudwatch/metricAlarm:MetricAlarm";

function schedule(name: string, overrides: Partial<ConstructorParameters<typeof ServiceSchedule>[1]> = {}) {
  return new ServiceSchedule(name, {
    naming: testNaming(),
    target: healthFunction(`${name}-fn`),
    expression: "rate(1 hour)",
    ...overrides,
  });
}

describe("ServiceSchedule", () => {
  it("invokes the target's live alias with the schedule's role, in a group of its own", async () => {
    const { get } = await record(() => schedule("sch-target"));

    const inputs = get(SCHEDULE, "sch-target-schedule").inputs;
    const target = inputs.target as Record<string, unknown>;
    assert.equal(target.arn, get("aws:lambda/alias:Alias", "sch-target-fn-alias").outputs.arn);
    assert.equal(target.roleArn, get("aws:iam/role:Role", "sch-target-role").outputs.arn);
    assert.equal(
      inputs.groupName,
      get("aws:scheduler/scheduleGroup:ScheduleGroup", "sch-target-group").outputs.name,
    );
    assert.equal(inputs.scheduleExpression, "rate(1 hour)");
    assert.deepEqual(inputs.flexibleTimeWindow, { mode: "OFF" });
  });

  it("retries with the given policy and sends what fails to an encrypted dead-letter queue", async () => {
    const { get } = await record(() =>
      schedule("sch-retry", { maximumRetryAttempts: 4, maximumEventAgeSeconds: 600 }),
    );

    const target = get(SCHEDULE, "sch-retry-schedule").inputs.target as Record<string, unknown>;
    const dlq = get("aws:sqs/queue:Queue", "sch-retry-dlq");
    assert.deepEqual(target.retryPolicy, { maximumRetryAttempts: 4, maximumEventAgeInSeconds: 600 });
    assert.deepEqual(target.deadLetterConfig, { arn: dlq.outputs.arn });
    assert.equal(dlq.inputs.sqsManagedSseEnabled, true);
  });

  it("lets its role invoke exactly the live alias and send exactly to its dead-letter queue", async () => {
    const { get } = await record(() => schedule("sch-role"));

    assert.deepEqual(policyStatements(get("aws:iam/rolePolicy:RolePolicy", "sch-role-invoke")), [
      {
        Sid: "InvokeLiveAlias",
        Effect: "Allow",
        Action: ["lambda:InvokeFunction"],
        Resource: [get("aws:lambda/alias:Alias", "sch-role-fn-alias").outputs.arn],
      },
      {
        Sid: "SendToDeadLetterQueue",
        Effect: "Allow",
        Action: ["sqs:SendMessage"],
        Resource: [get("aws:sqs/queue:Queue", "sch-role-dlq").outputs.arn],
      },
    ]);
  });

  it("lets only EventBridge Scheduler of the stack's account assume its role", async () => {
    const { get } = await record(() => schedule("sch-trust"));

    const [statement] = policyStatements(get("aws:iam/role:Role", "sch-trust-role"), "assumeRolePolicy");
    assert.deepEqual(statement.Principal, { Service: "scheduler.amazonaws.com" });
    assert.deepEqual(statement.Condition, { StringEquals: { "aws:SourceAccount": "123456789012" } });
  });

  it("alarms on invocations that failed every retry and on its dead-letter queue's depth", async () => {
    const { get } = await record(() =>
      schedule("sch-alarm").createAlarms("arn:aws:sns:us-east-1:123456789012:t"),
    );

    const failed = get(ALARM, "sch-alarm-failed-invocations").inputs;
    const metrics = (failed.metricQueries as { metric?: { metricName: string; namespace: string } }[])
      .flatMap((query) => (query.metric ? [`${query.metric.namespace} ${query.metric.metricName}`] : []))
      .sort();
    assert.deepEqual(metrics, [
      "AWS/Scheduler InvocationDroppedCount",
      "AWS/Scheduler InvocationsFailedToBeSentToDeadLetterCount",
      "AWS/Scheduler InvocationsSentToDeadLetterCount",
    ]);
    assert.equal(failed.threshold, 0);
    assert.equal(get(ALARM, "sch-alarm-dlq-depth").inputs.metricName, "ApproximateNumberOfMessagesVisible");
  });

  it("counts invocations that could not even be sent to the dead-letter queue, by the schedule's group", async () => {
    const { get } = await record(() =>
      schedule("sch-unsent").createAlarms("arn:aws:sns:us-east-1:123456789012:t"),
    );
    const queries = get(ALARM, "sch-unsent-failed-invocations").inputs.metricQueries as {
      id: string;
      expression?: string;
      metric?: { metricName: string; dimensions: Record<string, string>; stat: string };
    }[];
    const unsent = queries.find((q) => q.metric?.metricName === "InvocationsFailedToBeSentToDeadLetterCount");
    assert.deepEqual(unsent?.metric?.dimensions, {
      ScheduleGroup: get("aws:scheduler/scheduleGroup:ScheduleGroup", "sch-unsent-group").inputs.name,
    });
    assert.equal(unsent?.metric?.stat, "Sum");
    assert.match(String(queries.find((q) => q.expression)?.expression), new RegExp(`\\b${unsent?.id}\\b`));
  });

  it("alarms when Lambda cannot send a run that failed in the target to the dead-letter queue", async () => {
    const { get } = await record(() =>
      schedule("sch-dest").createAlarms("arn:aws:sns:us-east-1:123456789012:t"),
    );
    const alarm = get(ALARM, "sch-dest-destination-failures").inputs;
    assert.deepEqual(
      [alarm.namespace, alarm.metricName, alarm.statistic, alarm.comparisonOperator, alarm.threshold],
      ["AWS/Lambda", "DestinationDeliveryFailures", "Sum", "GreaterThanThreshold", 0],
    );
    assert.deepEqual(alarm.dimensions, {
      FunctionName: get("aws:lambda/function:Function", "sch-dest-fn-function").inputs.name,
    });
    assert.deepEqual(alarm.alarmActions, ["arn:aws:sns:us-east-1:123456789012:t"]);
  });

  it("rejects more retries than Scheduler allows, naming the field and the range", async () => {
    await record(() =>
      assert.throws(
        () => schedule("sch-bad", { maximumRetryAttempts: 200 }),
        /ServiceSchedule sch-bad: maximumRetryAttempts must be an integer from 0 to 185 \(got 200\)/,
      ),
    );
  });

  it("sends a run that failed in the function to its dead-letter queue: an on-failure destination on the live alias", async () => {
    const { get } = await record(() => schedule("sch-async", { maximumEventAgeSeconds: 600 }));

    // Scheduler invokes Lambda asynchronously: its own DLQ only gets invocations Lambda refused.
    const config = get(
      "aws:lambda/functionEventInvokeConfig:FunctionEventInvokeConfig",
      "sch-async-target-failures",
    );
    const dlq = get("aws:sqs/queue:Queue", "sch-async-dlq");
    assert.equal(
      config.inputs.functionName,
      get("aws:lambda/function:Function", "sch-async-fn-function").outputs.name,
    );
    assert.equal(config.inputs.qualifier, "live");
    assert.deepEqual(config.inputs.destinationConfig, { onFailure: { destination: dlq.outputs.arn } });
    assert.equal(config.inputs.maximumRetryAttempts, 2);
    assert.equal(config.inputs.maximumEventAgeInSeconds, 600);
  });

  it("lets the target's role send exactly to the dead-letter queue, before the destination is set", async () => {
    const { get, resources } = await record(() => schedule("sch-grant"));

    const grant = get("aws:iam/rolePolicy:RolePolicy", "sch-grant-fn-sch-grant-failures");
    assert.equal(grant.inputs.role, get("aws:iam/role:Role", "sch-grant-fn-role").id);
    assert.deepEqual(policyStatements(grant), [
      {
        Sid: "SendFailedScheduledRuns",
        Effect: "Allow",
        Action: ["sqs:SendMessage"],
        Resource: [get("aws:sqs/queue:Queue", "sch-grant-dlq").outputs.arn],
      },
    ]);
    const config = resources.find((r) => r.name === "sch-grant-target-failures");
    assert.ok(config?.dependencies.includes(grant.urn), "the destination is set before the role may send");
  });

  it("refuses a target that already has asynchronous failure handling, naming why", async () => {
    await record(() =>
      assert.throws(
        () =>
          schedule("sch-twice", {
            target: healthFunction("sch-twice-fn", testNaming(), { asyncFailure: { deadLetterQueue: true } }),
          }),
        /ServiceSchedule sch-twice: its target already has asynchronous failure handling/,
      ),
    );
  });
});
