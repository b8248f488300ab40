import { randomUUID } from "node:crypto";
import type { APIGatewayProxyEvent, APIGatewayProxyResult, Context } from "aws-lambda";
import { apiGatewayEvent as buildApiGatewayEvent } from "../../../functions/shared/api-gateway-event";

const ACCOUNT_ID = "123456789012";
const API_ID = "a1b2c3d4e5";
const STAGE = "dev";
const REGION = "us-east-1";
const USER_AGENT = "aws-sdk-js/3.0.0 ua/2.1 os/linux lang/js md/nodejs#22.11.0";

export interface ApiRequest {
  httpMethod: "GET" | "POST" | "PUT" | "DELETE";
  /** The API Gateway resource (route template); `{name}` placeholders are filled from `pathParameters`. */
  resource: string;
  pathParameters?: Record<string, string>;
  queryStringParameters?: Record<string, string>;
  /** Text as is; bytes arrive base64-encoded with `isBase64Encoded`, as API Gateway sends binary bodies. */
  body?: string | Uint8Array;
}

/** `/users/{userId}` + `{ userId: "a b" }` -> `/users/a%20b`: the path a client would request. */
export function requestPath(
  request: Pick<ApiRequest, "resource" | "pathParameters" | "queryStringParameters">,
) {
  const path = request.resource.replace(/\{(\w+)(\+?)\}/g, (_, name: string, greedy: string) => {
    const value = request.pathParameters?.[name] ?? "";
    return greedy ? value.split("/").map(encodeURIComponent).join("/") : encodeURIComponent(value);
  });
  const query = Object.entries(request.queryStringParameters ?? {})
    .map(([name, value]) => `${encodeURIComponent(name)}=${encodeURIComponent(value)}`)
    .join("&");
  return query ? `${path}?${query}` : path;
}

/**
 * An event shaped as API Gateway's REST API sends it to a Lambda proxy integration, from a caller
 * signing with SigV4 (the users routes use IAM auth), built by the shared builder the hooks use.
 */
export function apiGatewayEvent(request: ApiRequest): APIGatewayProxyEvent {
  return buildApiGatewayEvent({
    resource: request.resource,
    httpMethod: request.httpMethod,
    path: requestPath(request),
    headers: {
      Accept: "application/json",
      "User-Agent": USER_AGENT,
      "X-Amz-Date": "20250101T120000Z",
      "X-Forwarded-For": "203.0.113.10",
      ...(request.body === undefined ? {} : { "Content-Type": "application/json" }),
    },
    body: request.body,
    stage: STAGE,
    apiId: API_ID,
    accountId: ACCOUNT_ID,
    region: REGION,
    identity: {
      accessKey: "ASIAEXAMPLEACCESSKEY",
      accountId: ACCOUNT_ID,
      caller: "AROAEXAMPLEROLEID:ci",
      userArn: `arn:aws:sts::${ACCOUNT_ID}:assumed-role/ci/ci`,
    },
    requestTime: Date.UTC(2025, 0, 1, 12, 0, 0),
  });
}

/** The context Lambda's Node.js runtime passes a 256 MB, 10 s function invoked through its `live` alias. */
export function lambdaContext(functionName = "users-dev-handler"): Context {
  const startedAt = Date.now();
  const fail = () => {
    throw new Error("the legacy callback API is not used by promise handlers");
  };
  return {
    callbackWaitsForEmptyEventLoop: true,
    functionName,
    functionVersion: "7",
    invokedFunctionArn: `arn:aws:lambda:${REGION}:${ACCOUNT_ID}:function:${functionName}:live`,
    memoryLimitInMB: "256",
    awsRequestId: randomUUID(),
    logGroupName: `/aws/lambda/${functionName}`,
    logStreamName: `2025/01/01/[7]${randomUUID().replaceAll("-", "")}`,
    getRemainingTimeInMillis: () => Math.max(0, 10_000 - (Date.now() - startedAt)),
    done: fail,
    fail,
    succeed: fail,
  };
}

/** The parsed JSON body of a response, after checking that it says it is JSON. */
export function jsonBody(result: APIGatewayProxyResult): unknown {
  if (result.headers?.["Content-Type"] !== "application/json") {
    throw new Error(`expected a JSON response, got Content-Type ${String(result.headers?.["Content-Type"])}`);
  }
  return JSON.parse(result.body);
}
