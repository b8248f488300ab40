import { randomUUID } from "node:crypto";
import type { APIGatewayProxyEvent, APIGatewayProxyResult, Context } from "aws-lambda";

const ACCOUNT_ID = "123456789012";
const API_ID = "a1b2c3d4e5";
const STAGE = "dev";
const REGION = "us-east-1";
const USER_AGENT = "aws-sdk-js/3.0.0 ua/2.1 os/linux lang/js md/nodejs#22.11.0";

export interface ApiRequest {
  httpMethod: "GET" | "POST" | "PUT" | "DELETE";
  /** The API Gateway resource, with `{name}` placeholders filled from `pathParameters`. */
  resource: string;
  pathParameters?: Record<string, string>;
  queryStringParameters?: Record<string, string>;
  body?: string;
  isBase64Encoded?: boolean;
}

/**
 * An event shaped as API Gateway's REST API sends it to a Lambda proxy integration, from a caller
 * signing with SigV4 (the users routes use IAM auth).
 */
export function apiGatewayEvent(request: ApiRequest): APIGatewayProxyEvent {
  const path = request.resource.replace(/\{(\w+)\}/g, (_, name: string) =>
    encodeURIComponent(request.pathParameters?.[name] ?? ""),
  );
  const requestId = randomUUID();
  const headers: Record<string, string> = {
    Accept: "application/json",
    Host: `${API_ID}.execute-api.${REGION}.amazonaws.com`,
    "User-Agent": USER_AGENT,
    "X-Amz-Date": "20250101T120000Z",
    "X-Amzn-Trace-Id": "Root=1-67750f00-0123456789abcdef01234567",
    "X-Forwarded-For": "203.0.113.10",
    "X-Forwarded-Port": "443",
    "X-Forwarded-Proto": "https",
    ...(request.body === undefined ? {} : { "Content-Type": "application/json" }),
  };
  const query = request.queryStringParameters;
  return {
    resource: request.resource,
    path,
    httpMethod: request.httpMethod,
    headers,
    multiValueHeaders: Object.fromEntries(Object.entries(headers).map(([name, value]) => [name, [value]])),
    queryStringParameters: query ?? null,
    multiValueQueryStringParameters: query
      ? Object.fromEntries(Object.entries(query).map(([name, value]) => [name, [value]]))
      : null,
    pathParameters: request.pathParameters ?? null,
    stageVariables: null,
    requestContext: {
      accountId: ACCOUNT_ID,
      apiId: API_ID,
      authorizer: null,
      domainName: `${API_ID}.execute-api.${REGION}.amazonaws.com`,
      domainPrefix: API_ID,
      extendedRequestId: "AbCdEfGhIjKlMnO=",
      httpMethod: request.httpMethod,
      identity: {
        accessKey: "ASIAEXAMPLEACCESSKEY",
        accountId: ACCOUNT_ID,
        apiKey: null,
        apiKeyId: null,
        caller: "AROAEXAMPLEROLEID:ci",
        clientCert: null,
        cognitoAuthenticationProvider: null,
        cognitoAuthenticationType: null,
        cognitoIdentityId: null,
        cognitoIdentityPoolId: null,
        principalOrgId: null,
        sourceIp: "203.0.113.10",
        user: "AROAEXAMPLEROLEID:ci",
        userAgent: USER_AGENT,
        userArn: `arn:aws:sts::${ACCOUNT_ID}:assumed-role/ci/ci`,
      },
      path: `/${STAGE}${path}`,
      protocol: "HTTP/1.1",
      requestId,
      requestTime: "01/Jan/2025:12:00:00 +0000",
      requestTimeEpoch: 1735732800000,
      resourceId: "abc123",
      resourcePath: request.resource,
      stage: STAGE,
    },
    body: request.body ?? null,
    isBase64Encoded: request.isBase64Encoded ?? false,
  };
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
