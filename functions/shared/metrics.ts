import type { Context } from "aws-lambda";

/**
 * Custom metrics as CloudWatch Embedded Metric Format (EMF) lines on stdout: Lambda ships stdout to
 * the function's log group and CloudWatch Logs extracts the metrics, so no `cloudwatch:PutMetricData`
 * grant and no call on the request path are needed
 * (https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Specification.html).
 *
 * Pure (no SDK): the components import the names below so that the alarms and the handlers agree.
 */

/** The environment variable that names the metrics' namespace; `ServerlessFunction` sets it to the app's name. */
export const METRICS_NAMESPACE_ENV = "PLATFORM_METRICS_NAMESPACE";
/** The namespace when `PLATFORM_METRICS_NAMESPACE` is unset (a function run outside the platform). */
export const DEFAULT_METRICS_NAMESPACE = "ServerlessPlatform";
/**
 * One per 5xx response an `apiHandler` route returns: the invocation succeeded, so Lambda's `Errors`
 * stays 0, and this is what the canary's rollback alarm watches instead.
 */
export const SERVER_ERRORS_METRIC = "ServerErrors";

/** Lambda's own dimensions for a function's metrics by alias or version (`Resource` = `name:qualifier`). */
export interface FunctionDimensions {
  FunctionName: string;
  Resource: string;
}

/**
 * The function and the alias (or version) it was invoked through, from `invokedFunctionArn`
 * (`arn:aws:lambda:region:account:function:name[:qualifier]`), as Lambda names them in its own
 * metrics: `Resource` is `name:qualifier`, or the name alone when the ARN is unqualified or
 * `$LATEST`. Undefined when neither the ARN nor `context.functionName` names a function.
 */
export function functionDimensions(
  context: Partial<Context> | null | undefined,
): FunctionDimensions | undefined {
  const arn = context?.invokedFunctionArn;
  const parts = typeof arn === "string" ? arn.split(":") : [];
  if (parts.length >= 7 && parts[0] === "arn" && parts[5] === "function" && parts[6] !== "") {
    const [functionName, qualifier] = [parts[6], parts[7]];
    const qualified = qualifier !== undefined && qualifier !== "" && qualifier !== "$LATEST";
    return {
      FunctionName: functionName,
      Resource: qualified ? `${functionName}:${qualifier}` : functionName,
    };
  }
  const name = context?.functionName;
  return typeof name === "string" && name !== "" ? { FunctionName: name, Resource: name } : undefined;
}

/** The namespace the metrics go to: `PLATFORM_METRICS_NAMESPACE`, else `ServerlessPlatform`. */
export function metricsNamespace(env: NodeJS.ProcessEnv = process.env): string {
  const configured = env[METRICS_NAMESPACE_ENV];
  return configured !== undefined && configured !== "" ? configured : DEFAULT_METRICS_NAMESPACE;
}

/**
 * The EMF document counting one server error (`ServerErrors`, Count, 1) by `FunctionName` and
 * `Resource`. `statusCode` and `functionVersion` ride along as plain members: searchable in Logs
 * Insights, not dimensions (a dimension per version would split the alarm's metric).
 */
export function serverErrorDocument(
  dimensions: FunctionDimensions,
  details: { statusCode: number; functionVersion?: string },
  options: { namespace?: string; timestampMs?: number } = {},
): Record<string, unknown> {
  return {
    _aws: {
      Timestamp: options.timestampMs ?? Date.now(),
      CloudWatchMetrics: [
        {
          Namespace: options.namespace ?? metricsNamespace(),
          Dimensions: [["FunctionName", "Resource"]],
          Metrics: [{ Name: SERVER_ERRORS_METRIC, Unit: "Count" }],
        },
      ],
    },
    FunctionName: dimensions.FunctionName,
    Resource: dimensions.Resource,
    [SERVER_ERRORS_METRIC]: 1,
    statusCode: details.statusCode,
    ...(details.functionVersion !== undefined ? { functionVersion: details.functionVersion } : {}),
  };
}

/**
 * Writes one `ServerErrors` EMF line for a 5xx answered on `context`'s invocation. Straight to
 * stdout, not `console.log`: with Lambda's JSON log format the runtime wraps console output in a
 * record of its own, which CloudWatch would not read as EMF. Never throws: a metric must not turn
 * a response into a failed invocation. Writes nothing when the context names no function.
 */
export function recordServerError(
  context: Partial<Context> | null | undefined,
  statusCode: number,
  write: (line: string) => unknown = (line) => process.stdout.write(line),
): void {
  try {
    const dimensions = functionDimensions(context);
    if (!dimensions) return;
    const version = context?.functionVersion;
    const document = serverErrorDocument(dimensions, {
      statusCode,
      functionVersion: typeof version === "string" ? version : undefined,
    });
    write(`${JSON.stringify(document)}\n`);
  } catch {
    // A broken stdout or a hostile context: the response still goes out.
  }
}
