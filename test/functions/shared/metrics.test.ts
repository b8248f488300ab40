import * as assert from "node:assert/strict";
import Ajv from "ajv";
import type { APIGatewayProxyResult, Context } from "aws-lambda";
import { apiHandler } from "../../../functions/shared/handler";
import { HttpError, json } from "../../../functions/shared/http";
import { logger } from "../../../functions/shared/logger";
import {
  DEFAULT_METRICS_NAMESPACE,
  functionDimensions,
  METRICS_NAMESPACE_ENV,
  metricsNamespace,
} from "../../../functions/shared/metrics";
import { apiGatewayEvent, lambdaContext } from "../support/api-gateway";

/**
 * The Embedded Metric Format document structure, from CloudWatch's specification
 * (https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Specification.html):
 * `_aws` holds `Timestamp` (ms since the epoch) and `CloudWatchMetrics`, an array of MetricDirectives
 * with `Namespace`, `Dimensions` (an array of DimensionSets: arrays of at most 30 member names) and
 * `Metrics` (at most 100 MetricDefinitions: `Name`, optional `Unit` and `StorageResolution`). The
 * spec's objects have no other members; the root may have any.
 */
const EMF_SCHEMA = {
  type: "object",
  required: ["_aws"],
  properties: {
    _aws: {
      type: "object",
      required: ["Timestamp", "CloudWatchMetrics"],
      properties: {
        Timestamp: { type: "integer", minimum: 0 },
        CloudWatchMetrics: {
          type: "array",
          minItems: 1,
          items: {
            type: "object",
            additionalProperties: false,
            required: ["Namespace", "Dimensions", "Metrics"],
            properties: {
              Namespace: { type: "string", minLength: 1, maxLength: 1024 },
              Dimensions: {
                type: "array",
                items: {
                  type: "array",
                  maxItems: 30,
                  items: { type: "string", minLength: 1, maxLength: 250 },
                },
              },
              Metrics: {
                type: "array",
                maxItems: 100,
                items: {
                  type: "object",
                  additionalProperties: false,
                  required: ["Name"],
                  properties: {
                    Name: { type: "string", minLength: 1, maxLength: 1024 },
                    Unit: { type: "string" },
                    StorageResolution: { enum: [1, 60] },
                  },
                },
              },
            },
          },
        },
      },
    },
  },
} as const;

const validateSchema = new Ajv({ allErrors: true, strict: true }).compile(EMF_SCHEMA);

interface Directive {
  Namespace: string;
  Dimensions: string[][];
  Metrics: { Name: string }[];
}

/** Fails unless `line` is one EMF document: the schema, plus every referenced member at the root. */
function assertEmf(
  line: string,
): Record<string, unknown> & { _aws: { Timestamp: number; CloudWatchMetrics: Directive[] } } {
  const document: unknown = JSON.parse(line);
  assert.ok(validateSchema(document), JSON.stringify(validateSchema.errors));
  const root = document as Record<string, unknown> & {
    _aws: { Timestamp: number; CloudWatchMetrics: Directive[] };
  };
  for (const directive of root._aws.CloudWatchMetrics) {
    for (const key of directive.Dimensions.flat()) {
      assert.equal(typeof root[key], "string", `dimension ${key} must be a string member of the root`);
    }
    for (const { Name } of directive.Metrics) {
      assert.equal(typeof root[Name], "number", `metric ${Name} must be a number member of the root`);
    }
  }
  return root;
}

/** Runs `act` with stdout captured, returning the lines that carry EMF (`_aws`). */
async function emfLines(act: () => Promise<unknown>): Promise<string[]> {
  const written: string[] = [];
  const original = process.stdout.write;
  process.stdout.write = ((chunk: string | Uint8Array) => {
    written.push(String(chunk));
    return true;
  }) as typeof process.stdout.write;
  try {
    await act();
  } finally {
    process.stdout.write = original;
  }
  return written
    .join("")
    .split("\n")
    .filter((line) => line.includes('"_aws"'));
}

const FUNCTION = "platform-dev-users-create";
const event = () => apiGatewayEvent({ httpMethod: "POST", resource: "/users", body: "{}" });
const invoke = (route: () => Promise<APIGatewayProxyResult>, context: Context = lambdaContext(FUNCTION)) =>
  apiHandler(route)(event(), context);

describe("apiHandler's server error metric", () => {
  const saved = process.env[METRICS_NAMESPACE_ENV];
  const savedLogLevel = logger.getLevelName();
  beforeEach(() => {
    process.env[METRICS_NAMESPACE_ENV] = "platform";
    logger.setLogLevel("SILENT");
  });
  afterEach(() => {
    if (saved === undefined) delete process.env[METRICS_NAMESPACE_ENV];
    else process.env[METRICS_NAMESPACE_ENV] = saved;
    logger.setLogLevel(savedLogLevel as Parameters<typeof logger.setLogLevel>[0]);
  });

  it("writes exactly one EMF line counting a 500 from an unexpected error", async () => {
    // Prepare
    const before = Date.now();
    let response: APIGatewayProxyResult | undefined;
    // Act
    const lines = await emfLines(async () => {
      response = await invoke(async () => {
        throw new Error("AccessDeniedException: no grant");
      });
    });
    // Assess
    assert.equal(response?.statusCode, 500);
    assert.equal(lines.length, 1);
    const document = assertEmf(lines[0]);
    assert.deepEqual(document._aws.CloudWatchMetrics, [
      {
        Namespace: "platform",
        Dimensions: [["FunctionName", "Resource"]],
        Metrics: [{ Name: "ServerErrors", Unit: "Count" }],
      },
    ]);
    assert.equal(document.ServerErrors, 1);
    assert.ok(document._aws.Timestamp >= before && document._aws.Timestamp <= Date.now(), "Timestamp in ms");
  });

  it("dimensions the metric by the function and the alias it was invoked through, from invokedFunctionArn", async () => {
    const lines = await emfLines(() =>
      invoke(async () => {
        throw new Error("boom");
      }),
    );
    const document = assertEmf(lines[0]);
    assert.equal(document.FunctionName, FUNCTION);
    assert.equal(document.Resource, `${FUNCTION}:live`);
  });

  it("counts a 5xx HttpError and a 5xx the route returns", async () => {
    const thrown = await emfLines(() =>
      invoke(async () => {
        throw new HttpError(503, "upstream unavailable");
      }),
    );
    const returned = await emfLines(() => invoke(async () => json(502, { message: "bad gateway" })));
    assert.equal(assertEmf(thrown[0]).statusCode, 503);
    assert.equal(assertEmf(returned[0]).statusCode, 502);
    assert.deepEqual([thrown.length, returned.length], [1, 1]);
  });

  it("writes no metric for a 4xx", async () => {
    const lines = await emfLines(() =>
      invoke(async () => {
        throw new HttpError(400, "item is required");
      }),
    );
    assert.deepEqual(lines, []);
  });

  it("writes no metric for a success", async () => {
    const lines = await emfLines(() => invoke(async () => json(201, { id: "u1" })));
    assert.deepEqual(lines, []);
  });

  it("still answers the 500 when stdout refuses the metric", async () => {
    const original = process.stdout.write;
    process.stdout.write = (() => {
      throw new Error("EPIPE");
    }) as typeof process.stdout.write;
    let response: APIGatewayProxyResult;
    try {
      response = await apiHandler(async () => json(500, { message: "x" }))(event(), lambdaContext(FUNCTION));
    } finally {
      process.stdout.write = original;
    }
    assert.equal(response.statusCode, 500);
  });
});

describe("functionDimensions", () => {
  const arn = (qualified: string) => `arn:aws:lambda:us-east-1:123456789012:function:${qualified}`;

  it("names the resource function:version for a version ARN, as Lambda does", () => {
    assert.deepEqual(functionDimensions({ invokedFunctionArn: arn("fn:7") }), {
      FunctionName: "fn",
      Resource: "fn:7",
    });
  });

  it("names the resource by the function alone for an unqualified or $LATEST ARN", () => {
    assert.deepEqual(
      [arn("fn"), arn("fn:$LATEST")].map((invokedFunctionArn) => functionDimensions({ invokedFunctionArn })),
      [
        { FunctionName: "fn", Resource: "fn" },
        { FunctionName: "fn", Resource: "fn" },
      ],
    );
  });

  it("falls back to the context's function name, and to nothing without one", () => {
    assert.deepEqual(functionDimensions({ invokedFunctionArn: "not-an-arn", functionName: "fn" }), {
      FunctionName: "fn",
      Resource: "fn",
    });
    assert.equal(functionDimensions(null), undefined);
  });
});

describe("metricsNamespace", () => {
  it("reads PLATFORM_METRICS_NAMESPACE", () => {
    assert.equal(metricsNamespace({ PLATFORM_METRICS_NAMESPACE: "shop" }), "shop");
  });

  it("defaults to ServerlessPlatform when unset or empty", () => {
    assert.deepEqual(
      [metricsNamespace({}), metricsNamespace({ PLATFORM_METRICS_NAMESPACE: "" })],
      [DEFAULT_METRICS_NAMESPACE, DEFAULT_METRICS_NAMESPACE],
    );
    assert.equal(DEFAULT_METRICS_NAMESPACE, "ServerlessPlatform");
  });
});
