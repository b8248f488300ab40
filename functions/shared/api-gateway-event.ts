import { createHash, randomUUID } from "node:crypto";
import type { APIGatewayEventIdentity, APIGatewayProxyEvent } from "aws-lambda";

/**
 * API Gateway REST API (payload format 1.0) Lambda proxy events, built the way API Gateway builds
 * them from a route template and a concrete request. The one place that knows this shape: the
 * CodeDeploy smoke hooks, the handler tests and the local API emulator all build their events
 * here, so that a handler tested against these events gets what a deployed API sends it.
 *
 * Checked against events captured from deployed APIs (test/fixtures/events/).
 */

/** One header value, or every value of a header sent several times. */
export type HeaderValues = string | readonly string[];

export interface ApiGatewayRequest {
  /**
   * The route's path template, as the API Gateway resource is declared: `{name}` matches one path
   * segment, a last `{name+}` the rest of the path.
   * @example "/users/{userId}"
   * @example "/{proxy+}"
   */
  resource: string;
  /** HTTP method of the request. @example "GET" */
  httpMethod: string;
  /**
   * The concrete path the client requested, percent-encoded as sent, with an optional query string.
   * @example "/users/alice?fields=name"
   */
  path: string;
  /** Request headers as the client sent them; a list for a header sent several times. @default {} */
  headers?: Record<string, HeaderValues>;
  /**
   * Request body: text as is, bytes base64-encoded with `isBase64Encoded` (what API Gateway does for
   * a binary media type). @default null
   */
  body?: string | Uint8Array | null;
  /** Stage name. @default "prod" */
  stage?: string;
  /** REST API id. @default "a1b2c3d4e5" */
  apiId?: string;
  /** Account that owns the API. @default "123456789012" */
  accountId?: string;
  /** Region of the API. @default "us-east-1" */
  region?: string;
  /**
   * The caller: `sourceIp` (@default the first `X-Forwarded-For` address, else "127.0.0.1"),
   * `userAgent` (@default the `User-Agent` header), and for IAM-signed requests `accountId`,
   * `accessKey`, `caller`, `user` (@default `caller`), `userArn`, `principalOrgId`. Every field not
   * given is null, as API Gateway sends it; `apiKey`, `apiKeyId` and `clientCert` appear only when given.
   */
  identity?: Partial<APIGatewayEventIdentity>;
  /** @default a random UUID */
  requestId?: string;
  /** When API Gateway received the request. @default now */
  requestTime?: Date | number;
  /** @default null */
  stageVariables?: Record<string, string> | null;
  /** What a Lambda or Cognito authorizer passed on. @default undefined (absent, as with IAM or no auth) */
  authorizer?: Record<string, unknown> | null;
  /** Id of the API resource. @default derived from the API id and the template */
  resourceId?: string;
  /** @default derived from the request id */
  extendedRequestId?: string;
  /** Id of the stage's deployment. @default derived from the API id and the stage */
  deploymentId?: string;
  /**
   * Add the headers API Gateway adds when the client did not send them: `Host`, `X-Amzn-Trace-Id`,
   * `X-Forwarded-For`, `X-Forwarded-Port`, `X-Forwarded-Proto`. @default true
   */
  gatewayHeaders?: boolean;
}

interface TemplateSegment {
  literal?: string;
  parameter?: string;
  greedy?: boolean;
}

const PARAMETER = /^\{([A-Za-z0-9_]+)(\+)?\}$/;

/**
 * The segments of a route template; throws, naming the template and the rule, when API Gateway
 * would not accept it as a resource path.
 */
export function parseRouteTemplate(template: string): TemplateSegment[] {
  const fail = (rule: string): never => {
    throw new Error(`Route template ${JSON.stringify(template)} ${rule}`);
  };
  if (typeof template !== "string" || !template.startsWith("/")) fail("must start with /");
  if (template === "/") return [];
  const parts = template.slice(1).split("/");
  const names = new Set<string>();
  return parts.map((part, index) => {
    if (part === "") fail("must not contain empty segments or end with /");
    const parameter = PARAMETER.exec(part);
    if (!parameter) {
      if (/[{}]/.test(part)) fail(`has segment "${part}": a parameter is {name} or {name+}, a whole segment`);
      return { literal: part };
    }
    const [, name, plus] = parameter;
    if (names.has(name)) fail(`declares {${name}} twice`);
    names.add(name);
    if (plus && index !== parts.length - 1) fail(`has {${name}+} before its last segment`);
    return { parameter: name, greedy: plus === "+" };
  });
}

/** Percent-decodes a path or query component; a malformed escape stays as sent. */
function decode(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}

function splitPath(path: string): { pathname: string; query: string } {
  const mark = path.indexOf("?");
  return mark < 0
    ? { pathname: path, query: "" }
    : { pathname: path.slice(0, mark), query: path.slice(mark + 1) };
}

/**
 * The path parameters API Gateway derives when `path` (a query string is ignored) is routed to the
 * resource `template`, percent-decoded; `{}` for a template without parameters; undefined when the
 * path does not match. Literal segments match exactly (case-sensitive), `{name}` one non-empty
 * segment, a last `{name+}` one or more segments.
 *
 * @example matchRoute("/users/{userId}", "/users/ada%20l") // { userId: "ada l" }
 */
export function matchRoute(template: string, path: string): Record<string, string> | undefined {
  const segments = parseRouteTemplate(template);
  const { pathname } = splitPath(path);
  if (!pathname.startsWith("/")) return undefined;
  const parts = pathname === "/" ? [] : pathname.slice(1).split("/");
  const parameters: Record<string, string> = {};
  for (const [index, segment] of segments.entries()) {
    if (segment.greedy) {
      const rest = parts.slice(index);
      if (rest.length === 0 || rest[0] === "") return undefined;
      parameters[segment.parameter!] = decode(rest.join("/"));
      return parameters;
    }
    const part = parts[index];
    if (part === undefined || part === "") return undefined;
    if (segment.literal !== undefined) {
      if (part !== segment.literal) return undefined;
    } else {
      parameters[segment.parameter!] = decode(part);
    }
  }
  return parts.length === segments.length ? parameters : undefined;
}

/**
 * Query string -> every value of each name, in order, percent-decoded (`+` stays `+`). Collected in a
 * Map: the names come from the client, and `constructor` or `__proto__` must stay plain names.
 */
function parseQuery(query: string): Record<string, string[]> {
  const values = new Map<string, string[]>();
  for (const pair of query.split("&")) {
    if (pair === "") continue;
    const equals = pair.indexOf("=");
    const name = decode(equals < 0 ? pair : pair.slice(0, equals));
    const value = equals < 0 ? "" : decode(pair.slice(equals + 1));
    values.set(name, [...(values.get(name) ?? []), value]);
  }
  // fromEntries defines own properties, so even `__proto__` becomes an ordinary key.
  return Object.fromEntries(values);
}

const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

/** API Gateway's `requestTime`: `17/Jun/2024:14:58:25 +0000` (UTC, CLF style). */
export function formatRequestTime(time: Date): string {
  const two = (value: number) => String(value).padStart(2, "0");
  return (
    `${two(time.getUTCDate())}/${MONTHS[time.getUTCMonth()]}/${time.getUTCFullYear()}:` +
    `${two(time.getUTCHours())}:${two(time.getUTCMinutes())}:${two(time.getUTCSeconds())} +0000`
  );
}

const digest = (text: string) => createHash("sha256").update(text).digest();
const ID_ALPHABET = "abcdefghijklmnopqrstuvwxyz0123456789";
const shortIds = new Map<string, string>();
/**
 * A short lowercase id like API Gateway's resource and deployment ids (`f6ylys`), stable per input.
 * Remembered: an emulated API asks for the same few (one per route and stage) on every request.
 */
function shortId(text: string): string {
  let id = shortIds.get(text);
  if (id === undefined) {
    id = [...digest(text).subarray(0, 6)].map((b) => ID_ALPHABET[b % 36]).join("");
    if (shortIds.size >= 1024) shortIds.clear();
    shortIds.set(text, id);
  }
  return id;
}

/** The execute-api host name of an API. */
export function apiDomainName(apiId: string, region: string): string {
  return `${apiId}.execute-api.${region}.${region.startsWith("cn-") ? "amazonaws.com.cn" : "amazonaws.com"}`;
}

/** A REST API (payload 1.0) Lambda proxy event for `request`, as API Gateway sends it. */
export function apiGatewayEvent(request: ApiGatewayRequest): APIGatewayProxyEvent {
  const { pathname, query } = splitPath(request.path);
  const pathParameters = matchRoute(request.resource, pathname);
  if (!pathParameters) {
    throw new Error(
      `Path ${JSON.stringify(pathname)} does not match the route template ${JSON.stringify(request.resource)}: ` +
        "literal segments must be equal, {name} matches one segment, {name+} the rest",
    );
  }
  const stage = request.stage ?? "prod";
  const apiId = request.apiId ?? "a1b2c3d4e5";
  const region = request.region ?? "us-east-1";
  const accountId = request.accountId ?? "123456789012";
  const requestId = request.requestId ?? randomUUID();
  const time = new Date(request.requestTime ?? Date.now());
  const domainName = apiDomainName(apiId, region);

  // A Map, as for the query: header names come from the client (`__proto__` is a valid token).
  const headerMap = new Map<string, string[]>();
  for (const [name, value] of Object.entries(request.headers ?? {})) {
    const values = typeof value === "string" ? [value] : [...value];
    if (values.length > 0) headerMap.set(name, values);
  }
  const headerValues = (name: string) =>
    [...headerMap].find(([key]) => key.toLowerCase() === name.toLowerCase())?.[1];
  const sourceIp =
    request.identity?.sourceIp ?? headerValues("X-Forwarded-For")?.[0]?.split(",")[0]?.trim() ?? "127.0.0.1";
  if (request.gatewayHeaders ?? true) {
    const traceId = `Root=1-${Math.floor(time.getTime() / 1000).toString(16)}-${digest(requestId).toString("hex").slice(0, 24)}`;
    const added: [string, string][] = [
      ["Host", domainName],
      ["X-Amzn-Trace-Id", traceId],
      ["X-Forwarded-For", sourceIp],
      ["X-Forwarded-Port", "443"],
      ["X-Forwarded-Proto", "https"],
    ];
    for (const [name, value] of added) if (!headerValues(name)) headerMap.set(name, [value]);
  }
  const multiValueHeaders = Object.fromEntries(headerMap);
  const hasHeaders = Object.keys(multiValueHeaders).length > 0;
  // A header sent several times: the single-value map keeps the last value.
  const headers = Object.fromEntries(Object.entries(multiValueHeaders).map(([name, v]) => [name, v.at(-1)!]));

  const multiValueQuery = parseQuery(query);
  const hasQuery = Object.keys(multiValueQuery).length > 0;
  const queryStringParameters = Object.fromEntries(
    Object.entries(multiValueQuery).map(([name, values]) => [name, values.at(-1)!]),
  );

  const given = request.identity ?? {};
  const caller = given.caller ?? null;
  const identity = {
    cognitoIdentityPoolId: null,
    accountId: null,
    cognitoIdentityId: null,
    caller,
    principalOrgId: null,
    accessKey: null,
    cognitoAuthenticationType: null,
    cognitoAuthenticationProvider: null,
    userArn: null,
    user: caller,
    ...given,
    sourceIp,
    userAgent: given.userAgent ?? headerValues("User-Agent")?.at(-1) ?? null,
  };

  const body = request.body ?? null;
  const binary = body !== null && typeof body !== "string";
  const event = {
    resource: request.resource,
    path: pathname,
    httpMethod: request.httpMethod,
    headers: hasHeaders ? headers : null,
    multiValueHeaders: hasHeaders ? multiValueHeaders : null,
    queryStringParameters: hasQuery ? queryStringParameters : null,
    multiValueQueryStringParameters: hasQuery ? multiValueQuery : null,
    pathParameters: Object.keys(pathParameters).length > 0 ? pathParameters : null,
    stageVariables: request.stageVariables ?? null,
    requestContext: {
      resourceId: request.resourceId ?? shortId(`${apiId}${request.resource}`),
      ...(request.authorizer !== undefined ? { authorizer: request.authorizer } : {}),
      resourcePath: request.resource,
      httpMethod: request.httpMethod,
      extendedRequestId:
        request.extendedRequestId ?? digest(`extended/${requestId}`).subarray(0, 11).toString("base64"),
      requestTime: formatRequestTime(time),
      path: `/${stage}${pathname}`,
      accountId,
      protocol: "HTTP/1.1",
      stage,
      domainPrefix: apiId,
      requestTimeEpoch: time.getTime(),
      requestId,
      identity,
      domainName,
      deploymentId: request.deploymentId ?? shortId(`${apiId}/${stage}`),
      apiId,
    },
    body: binary ? Buffer.from(body).toString("base64") : body,
    isBase64Encoded: binary,
  };
  // The aws-lambda types require fields that API Gateway omits (authorizer without an authorizer;
  // apiKey, apiKeyId and clientCert without a key or mutual TLS) and lack deploymentId, which it sends.
  return event as unknown as APIGatewayProxyEvent;
}
