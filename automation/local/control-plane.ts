/**
 * The few AWS APIs the functions of a stack call on each other, served locally so that the real
 * CodeDeploy hook code runs unchanged in the local cloud: Lambda `Invoke` (restJson1,
 * `POST /2015-03-31/functions/<name>/invocations`; `X-Amz-Invocation-Type` `RequestResponse`,
 * `Event` (202 at once, then Lambda's retries and destinations) or `DryRun`) and CodeDeploy's `GetDeployment`,
 * `GetApplicationRevision` and `PutLifecycleEventHookExecutionStatus` (awsJson1_1). Functions reach
 * it through `AWS_ENDPOINT_URL_LAMBDA` and `AWS_ENDPOINT_URL_CODEDEPLOY`, as the SDK reads them.
 */
import { randomUUID } from "node:crypto";
import * as http from "node:http";
import type { AddressInfo } from "node:net";
import type { LocalAsyncInvocations } from "./async-invoke";
import type { InvokeResult } from "./functions";
import type { LocalQueues } from "./queues";
import { SqsError } from "./sqs-protocol";

export interface LocalDeployment {
  deploymentId: string;
  applicationName: string;
  appSpec: string;
  /** Lifecycle hook execution id -> the status the hook reported. */
  hookStatus: Map<string, string>;
}

type Json = Record<string, unknown>;

export class LocalControlPlane {
  private readonly server: http.Server;
  private readonly deployments = new Map<string, LocalDeployment>();
  private readonly waiters = new Map<string, (status: string) => void>();

  /** The queues SQS calls go to (set by the cloud once it has them). */
  queues?: LocalQueues;
  /** Where an `Event` invocation goes once accepted (set by the cloud). */
  lambda?: LocalAsyncInvocations;
  /** SSM parameters by name, as an operator would have put them (`platform dev --parameter`). */
  parameters: Record<string, string> = {};

  constructor(
    private readonly invoke: (functionName: string, event: unknown) => Promise<InvokeResult>,
    /**
     * Whether the cloud runs a function (by physical name) with that qualifier (an alias, a version
     * or `$LATEST`): every call checks it first, as Lambda answers 404 for either missing.
     */
    private readonly runs: (functionName: string, qualifier?: string) => boolean = () => true,
  ) {
    this.server = http.createServer((request, response) => {
      this.handle(request, response).catch((error: unknown) => {
        this.reply(response, 500, { __type: "ServiceException", message: String(error) });
      });
    });
  }

  async listen(unref = false): Promise<string> {
    await new Promise<void>((resolve) => this.server.listen(0, "127.0.0.1", resolve));
    if (unref) this.server.unref();
    return this.url;
  }

  get url(): string {
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  async close(): Promise<void> {
    await new Promise<void>((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
  }

  /** Registers a deployment whose AppSpec the hook will read; returns its id. */
  createDeployment(applicationName: string, appSpec: unknown): LocalDeployment {
    const deployment: LocalDeployment = {
      deploymentId: `d-LOCAL${randomUUID().replaceAll("-", "").slice(0, 9).toUpperCase()}`,
      applicationName,
      appSpec: JSON.stringify(appSpec),
      hookStatus: new Map(),
    };
    this.deployments.set(deployment.deploymentId, deployment);
    return deployment;
  }

  /** Resolves with the status a hook reports for `executionId` (or "Failed" after `timeoutMs`). */
  hookReported(executionId: string, timeoutMs: number): Promise<string> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.waiters.delete(executionId);
        resolve("Failed");
      }, timeoutMs);
      this.waiters.set(executionId, (status) => {
        clearTimeout(timer);
        resolve(status);
      });
    });
  }

  private reply(
    response: http.ServerResponse,
    status: number,
    body: Json | string,
    headers: Record<string, string> = {},
  ): void {
    const text = typeof body === "string" ? body : JSON.stringify(body);
    response.writeHead(status, {
      "Content-Type": "application/json",
      "Content-Length": String(Buffer.byteLength(text)),
      ...headers,
    });
    response.end(text);
  }

  private async handle(request: http.IncomingMessage, response: http.ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of request) chunks.push(chunk as Buffer);
    const body = Buffer.concat(chunks).toString("utf8");
    const url = new URL(request.url ?? "/", "http://local");

    const invoke = /^\/2015-03-31\/functions\/([^/]+)\/invocations$/.exec(url.pathname);
    if (request.method === "POST" && invoke) {
      const [functionName, nameQualifier] = decodeURIComponent(invoke[1])
        .replace(/^arn:aws:lambda:[^:]+:\d+:function:/, "")
        .split(":");
      const queryQualifier = url.searchParams.get("Qualifier") ?? undefined;
      if (queryQualifier !== undefined && nameQualifier !== undefined && queryQualifier !== nameQualifier)
        return this.reply(
          response,
          400,
          {
            Type: "User",
            message: "The derived qualifier from the function name does not match the specified qualifier.",
          },
          { "x-amzn-ErrorType": "InvalidParameterValueException" },
        );
      const qualifier = queryQualifier ?? nameQualifier;
      const invocationType = String(request.headers["x-amz-invocation-type"] ?? "RequestResponse");
      if (!["RequestResponse", "Event", "DryRun"].includes(invocationType))
        return this.reply(
          response,
          400,
          {
            Type: "User",
            message: `1 validation error detected: Value '${invocationType}' at 'invocationType' failed to satisfy constraint: Member must satisfy enum value set: [Event, RequestResponse, DryRun]`,
          },
          { "x-amzn-ErrorType": "ValidationException" },
        );
      let event: unknown;
      try {
        event = body === "" ? {} : JSON.parse(body);
      } catch {
        return this.reply(
          response,
          400,
          { Type: "User", message: "Could not parse request body into json" },
          { "x-amzn-ErrorType": "InvalidRequestContentException" },
        );
      }
      if (!this.runs(functionName, qualifier))
        return this.reply(
          response,
          404,
          { Type: "User", Message: `Function not found: ${functionName}${qualifier ? `:${qualifier}` : ""}` },
          { "x-amzn-ErrorType": "ResourceNotFoundException" },
        );
      if (invocationType !== "RequestResponse") {
        if (invocationType === "DryRun") return this.reply(response, 204, "");
        if (!this.lambda) throw new Error("the local cloud has no asynchronous invocations");
        const { requestId } = this.lambda.accept({ functionName, qualifier, event });
        return this.reply(response, 202, "", { "x-amzn-RequestId": requestId });
      }
      let result: InvokeResult;
      try {
        result = await this.invoke(functionName, event);
      } catch (error) {
        return this.reply(
          response,
          404,
          { Type: "User", Message: String(error) },
          { "x-amzn-ErrorType": "ResourceNotFoundException" },
        );
      }
      if (result.error)
        return this.reply(response, 200, result.error as unknown as Json, {
          "X-Amz-Function-Error": "Unhandled",
          "X-Amz-Executed-Version": "$LATEST",
        });
      return this.reply(response, 200, result.payload ?? "null", { "X-Amz-Executed-Version": "$LATEST" });
    }

    const target = String(request.headers["x-amz-target"] ?? "");
    const input = (body === "" ? {} : JSON.parse(body)) as Json;
    if (target === "AmazonSSM.GetParameter") {
      const name = String(input.Name ?? "");
      const value = this.parameters[name];
      const json = { "Content-Type": "application/x-amz-json-1.1" };
      if (value === undefined) {
        return this.reply(
          response,
          400,
          {
            __type: "ParameterNotFound",
            message: `Parameter ${name} not found locally: give it to platform dev with --parameter ${name}=<value>`,
          },
          json,
        );
      }
      return this.reply(
        response,
        200,
        {
          Parameter: {
            Name: name,
            Type: "SecureString",
            Value: value,
            Version: 1,
            DataType: "text",
            LastModifiedDate: Date.now() / 1000,
          },
        },
        json,
      );
    }
    if (target.startsWith("AmazonSQS.")) {
      if (!this.queues)
        return this.reply(response, 400, {
          __type: "AWS.SimpleQueueService.NonExistentQueue",
          message: "The stack has no queues",
        });
      try {
        return this.reply(response, 200, this.queues.handle(target.slice("AmazonSQS.".length), input), {
          "Content-Type": "application/x-amz-json-1.0",
        });
      } catch (error) {
        if (!(error instanceof SqsError)) throw error;
        return this.reply(
          response,
          error.status,
          { __type: error.type, message: error.message },
          { "Content-Type": "application/x-amz-json-1.0", "x-amzn-query-error": `${error.type};Sender` },
        );
      }
    }
    const deployment = this.deployments.get(String(input.deploymentId ?? ""));
    const missing = () =>
      this.reply(response, 400, {
        __type: "DeploymentDoesNotExistException",
        message: `Deployment ${String(input.deploymentId)} does not exist`,
      });
    const revision = (d: LocalDeployment) => ({
      revisionType: "AppSpecContent",
      appSpecContent: { content: d.appSpec },
    });
    switch (target) {
      case "CodeDeploy_20141006.GetDeployment":
        if (!deployment) return missing();
        return this.reply(response, 200, {
          deploymentInfo: {
            deploymentId: deployment.deploymentId,
            applicationName: deployment.applicationName,
            status: "InProgress",
            revision: revision(deployment),
          },
        });
      case "CodeDeploy_20141006.GetApplicationRevision": {
        const d = [...this.deployments.values()].find(
          (candidate) =>
            candidate.applicationName === input.applicationName &&
            candidate.appSpec ===
              (input.revision as { appSpecContent?: { content?: string } } | undefined)?.appSpecContent
                ?.content,
        );
        if (!d)
          return this.reply(response, 400, {
            __type: "RevisionDoesNotExistException",
            message: "No such revision",
          });
        return this.reply(response, 200, { applicationName: d.applicationName, revision: revision(d) });
      }
      case "CodeDeploy_20141006.PutLifecycleEventHookExecutionStatus": {
        if (!deployment) return missing();
        const executionId = String(input.lifecycleEventHookExecutionId);
        const status = String(input.status);
        deployment.hookStatus.set(executionId, status);
        this.waiters.get(executionId)?.(status);
        this.waiters.delete(executionId);
        return this.reply(response, 200, { lifecycleEventHookExecutionId: executionId });
      }
      default:
        return this.reply(response, 400, {
          __type: "UnknownOperationException",
          message: `${target || request.method + " " + url.pathname} is not served by the local cloud`,
        });
    }
  }
}
