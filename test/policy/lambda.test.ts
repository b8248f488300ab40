import * as aws from "@pulumi/aws";
import { LAMBDA_RUNTIMES } from "../../components/settings";
import {
  lambdaApiTimeout,
  lambdaArm64,
  lambdaAsyncFailureDestination,
  lambdaMemoryAndTimeoutSet,
  lambdaNoPlaintextSecrets,
  lambdaPermissionSourceArn,
  lambdaSupportedRuntime,
  lambdaTracingActive,
} from "../../policy/lambda";
import {
  changed,
  FUNCTION_ARN,
  FUNCTION_NAME,
  functionArgs,
  happyStack,
  permissionArgs,
  plus,
  without,
} from "./factories";
import { assertNoViolations, assertViolation, resourceArgs, stackArgs, UNKNOWN } from "./util";

const fn = (change: Partial<ReturnType<typeof functionArgs>> = {}) =>
  resourceArgs(aws.lambda.Function, { ...functionArgs(), ...change });
const withEnv = (variables: Record<string, string>) => fn({ environment: { variables } });

describe("policy lambda-tracing-active", () => {
  it("passes Active tracing", async () => {
    await assertNoViolations(lambdaTracingActive, fn());
  });

  it("fails when tracing is PassThrough", async () => {
    await assertViolation(
      lambdaTracingActive,
      fn({ tracingConfig: { mode: "PassThrough" } }),
      'got "PassThrough"',
    );
  });

  it("fails when there is no tracing config", async () => {
    await assertViolation(lambdaTracingActive, fn({ tracingConfig: undefined }), "got no tracing config");
  });
});

describe("policy lambda-supported-runtime", () => {
  it("passes nodejs22.x and nodejs24.x", async () => {
    await assertNoViolations(lambdaSupportedRuntime, fn({ runtime: "nodejs22.x" }));
    await assertNoViolations(lambdaSupportedRuntime, fn({ runtime: "nodejs24.x" }));
  });

  it("fails when the runtime is deprecated", async () => {
    await assertViolation(lambdaSupportedRuntime, fn({ runtime: "nodejs16.x" }), 'got "nodejs16.x"');
  });

  it("passes every runtime the stack settings allow", async () => {
    for (const runtime of LAMBDA_RUNTIMES) await assertNoViolations(lambdaSupportedRuntime, fn({ runtime }));
  });

  it("fails on nodejs20.x, past end of life", async () => {
    await assertViolation(lambdaSupportedRuntime, fn({ runtime: "nodejs20.x" }), 'got "nodejs20.x"');
  });

  it("fails when the runtime is not in the configured list", async () => {
    await assertViolation(
      lambdaSupportedRuntime,
      { ...fn({ runtime: "nodejs24.x" }), config: { runtimes: ["nodejs22.x"] } },
      'one of the runtimes "nodejs22.x"',
    );
  });

  it("does not apply to container image functions", async () => {
    await assertNoViolations(lambdaSupportedRuntime, fn({ runtime: undefined, packageType: "Image" }));
  });
});

describe("policy lambda-memory-timeout-set", () => {
  it("passes explicit memory and timeout", async () => {
    await assertNoViolations(lambdaMemoryAndTimeoutSet, fn());
  });

  it("fails when memorySize is not set", async () => {
    await assertViolation(lambdaMemoryAndTimeoutSet, fn({ memorySize: undefined }), "must set its memory");
  });

  it("fails when timeout is not set", async () => {
    await assertViolation(lambdaMemoryAndTimeoutSet, fn({ timeout: undefined }), "must set its timeout");
  });

  it("fails when the provider filled the timeout in as a default (__defaults)", async () => {
    const args = fn();
    args.resources[0].props.__defaults = ["timeout"];
    await assertViolation(lambdaMemoryAndTimeoutSet, args, "must set its timeout");
  });
});

describe("policy lambda-no-plaintext-secrets", () => {
  const policy = lambdaNoPlaintextSecrets;

  it("passes ordinary variables and references to secrets", async () => {
    await assertNoViolations(
      policy,
      withEnv({
        TABLE_NAME: "users",
        DB_PASSWORD_SECRET_ARN: "arn:aws:secretsmanager:us-east-1:123456789012:secret:db-AbCdEf",
        API_KEY_PARAMETER: "/app/prod/api-key",
        TOKEN: "",
      }),
    );
  });

  it("fails when a *PASSWORD* variable holds a literal", async () => {
    await assertViolation(
      policy,
      withEnv({ DB_PASSWORD: "hunter2" }),
      "sets environment variable DB_PASSWORD to a literal",
    );
  });

  it("fails when a *SECRET*, *TOKEN* or *API_KEY* variable holds a literal (any case)", async () => {
    await assertViolation(policy, withEnv({ client_secret: "s3cr3t" }), "client_secret");
    await assertViolation(policy, withEnv({ GITHUB_TOKEN: "ghp_123" }), "GITHUB_TOKEN");
    await assertViolation(policy, withEnv({ STRIPE_API_KEY: "sk_live_1" }), "STRIPE_API_KEY");
  });

  it("passes a value unknown during preview (computed from another resource)", async () => {
    await assertNoViolations(policy, withEnv({ DB_PASSWORD: UNKNOWN }));
  });

  it("takes its name patterns from its config", async () => {
    await assertViolation(
      policy,
      { ...withEnv({ DSN: "postgres://u:p@h/db" }), config: { namePatterns: ["DSN"] } },
      "DSN",
    );
  });
});

describe("policy lambda-permission-source-arn", () => {
  const permission = (change: Partial<ReturnType<typeof permissionArgs>>) =>
    resourceArgs(aws.lambda.Permission, { ...permissionArgs(), ...change });

  it("passes a service principal with a source ARN", async () => {
    await assertNoViolations(lambdaPermissionSourceArn, permission({}));
  });

  it("fails when the principal is *", async () => {
    await assertViolation(lambdaPermissionSourceArn, permission({ principal: "*" }), 'any principal ("*")');
  });

  it("fails when a service principal has no source ARN", async () => {
    await assertViolation(lambdaPermissionSourceArn, permission({ sourceArn: undefined }), "set sourceArn");
  });

  it("names the function the permission lets call (by name, or from its ARN)", async () => {
    await assertViolation(
      lambdaPermissionSourceArn,
      permission({ principal: "*" }),
      `Lambda permission subject lets any principal ("*") invoke Lambda function ${FUNCTION_NAME}:`,
    );
    await assertViolation(
      lambdaPermissionSourceArn,
      permission({ function: `${FUNCTION_ARN}:live`, sourceArn: undefined }),
      `invoke Lambda function ${FUNCTION_NAME} on behalf of any resource`,
    );
  });

  it("says 'the function' while the function is unknown during preview, rather than not checking", async () => {
    await assertViolation(
      lambdaPermissionSourceArn,
      permission({ principal: "*", function: UNKNOWN }),
      'lets any principal ("*") invoke the function',
      { level: "mandatory" },
    );
  });

  it("fails when S3 may invoke without a source account, and passes it with one", async () => {
    const s3 = { principal: "s3.amazonaws.com", sourceArn: "arn:aws:s3:::uploads" };
    await assertViolation(lambdaPermissionSourceArn, permission(s3), "set sourceAccount too");
    await assertNoViolations(lambdaPermissionSourceArn, permission({ ...s3, sourceAccount: "123456789012" }));
  });

  it("passes an unknown source ARN and an account principal", async () => {
    await assertNoViolations(lambdaPermissionSourceArn, permission({ sourceArn: UNKNOWN }));
    await assertNoViolations(
      lambdaPermissionSourceArn,
      permission({ principal: "123456789012", sourceArn: undefined }),
    );
  });
});

describe("policy lambda-arm64", () => {
  it("passes arm64", async () => {
    await assertNoViolations(lambdaArm64, fn());
  });

  it("fails when the function runs on x86_64 (explicitly or by default)", async () => {
    await assertViolation(lambdaArm64, fn({ architectures: ["x86_64"] }), 'got "x86_64"');
    await assertViolation(lambdaArm64, fn({ architectures: undefined }), "should set architectures");
  });

  it("is advisory unless configured otherwise", () => {
    if (lambdaArm64.enforcementLevel !== "advisory") throw new Error("lambda-arm64 must default to advisory");
  });
});

describe("policy lambda-api-timeout", () => {
  it("passes a function behind the API that times out within 29 s", async () => {
    await assertNoViolations(lambdaApiTimeout, stackArgs(happyStack()));
  });

  it("fails when a function behind the API (through its alias) times out after 29 s", async () => {
    const stack = changed(happyStack(), "fn", { timeout: 60 });
    await assertViolation(
      lambdaApiTimeout,
      stackArgs(stack),
      "has a timeout of 60 s but is invoked by API Gateway",
      {
        resourceName: "fn",
      },
    );
  });

  it("finds the function from the URI when the integration has no dependency on it", async () => {
    const stack = changed(happyStack(), "fn", { timeout: 60 }).map((resource) =>
      resource.name.endsWith("-integration") ? { ...resource, propertyDependencies: {} } : resource,
    );
    await assertViolation(lambdaApiTimeout, stackArgs(stack), "timeout of 60 s");
  });

  it("finds the function through the alias when the URI is unknown during preview", async () => {
    const stack = changed(changed(happyStack(), "fn", { timeout: 60 }), "get-user-integration", {
      uri: UNKNOWN,
    });
    await assertViolation(lambdaApiTimeout, stackArgs(stack), "timeout of 60 s");
  });

  it("passes a slow function that no API invokes", async () => {
    const stack = without(
      changed(happyStack(), "fn", { timeout: 900 }),
      "get-user-integration",
      "get-health-integration",
    );
    await assertNoViolations(lambdaApiTimeout, stackArgs(stack));
  });

  it("reports an advisory when an integration's target is unknown", async () => {
    const stack = changed(happyStack(), "get-user-integration", { uri: UNKNOWN }).map((resource) =>
      resource.name === "get-user-integration" ? { ...resource, propertyDependencies: {} } : resource,
    );
    await assertViolation(lambdaApiTimeout, stackArgs(stack), "Could not check during preview", {
      level: "advisory",
    });
  });
});

describe("policy lambda-async-failure-destination", () => {
  const policy = lambdaAsyncFailureDestination;
  const invokeConfig = (destination?: string) => ({
    type: aws.lambda.FunctionEventInvokeConfig,
    name: "fn-async",
    props: {
      functionName: FUNCTION_NAME,
      qualifier: "live",
      maximumRetryAttempts: 2,
      ...(destination ? { destinationConfig: { onFailure: { destination } } } : {}),
    },
    propertyDependencies: { functionName: ["fn"] },
  });
  const snsPermission = {
    type: aws.lambda.Permission,
    name: "fn-sns",
    props: {
      ...permissionArgs(),
      principal: "sns.amazonaws.com",
      sourceArn: "arn:aws:sns:us-east-1:123456789012:t",
    },
  };

  it("passes functions invoked only synchronously", async () => {
    await assertNoViolations(policy, stackArgs(happyStack()));
  });

  it("fails when a function with an event invoke config has no destination or DLQ", async () => {
    await assertViolation(
      policy,
      stackArgs(plus(happyStack(), invokeConfig())),
      "event invoke config fn-async",
    );
  });

  it("fails when SNS may invoke a function without a DLQ", async () => {
    await assertViolation(
      policy,
      stackArgs(plus(happyStack(), snsPermission)),
      "sns.amazonaws.com via permission fn-sns",
    );
  });

  it("passes an on-failure destination", async () => {
    await assertNoViolations(
      policy,
      stackArgs(plus(happyStack(), invokeConfig("arn:aws:sqs:us-east-1:1:dlq"))),
    );
  });

  it("passes a dead-letter queue, even one unknown during preview", async () => {
    const dlq = changed(plus(happyStack(), snsPermission), "fn", {
      deadLetterConfig: { targetArn: UNKNOWN },
    });
    await assertNoViolations(policy, stackArgs(dlq));
  });
});
