/**
 * Names as the Pulumi engine gives them, so that an offline plan shows the URNs `pulumi preview`
 * shows and the physical names `pulumi up` creates (nothing offline may work only because a mock
 * named things differently).
 */
import { createHash } from "node:crypto";
import type { RegisterResourceRequest } from "@pulumi/pulumi/proto/resource_pb";
import { Struct, Value } from "google-protobuf/google/protobuf/struct_pb";

/** The type of the root resource every program registers (`<project>-<stack>`). */
export const ROOT_STACK_TYPE = "pulumi:pulumi:Stack";

/** The qualified type of a URN: `<ParentType>$...$<Type>` (the third `::` field). */
export function urnQualifiedType(urn: string): string {
  return urn.split("::")[2] ?? "";
}

/**
 * A resource's URN as the engine builds it: `urn:pulumi:<stack>::<project>::<type chain>::<name>`,
 * where the type chain is the parent's whole chain, then `$`, then the resource's type. The root
 * stack's type is left out of its children's chains (a top-level resource's chain is its type).
 * e.g. `urn:pulumi:dev::platform::platform:index:Platform$platform:lambda:ServerlessFunction$aws:lambda/function:Function::users-list-function`
 */
export function engineUrn(
  stack: string,
  project: string,
  parentUrn: string | undefined,
  type: string,
  name: string,
): string {
  const parentChain = parentUrn ? urnQualifiedType(parentUrn) : "";
  const chain = parentChain && parentChain !== ROOT_STACK_TYPE ? `${parentChain}$${type}` : type;
  return `urn:pulumi:${stack}::${project}::${chain}::${name}`;
}

/**
 * AWS resource types whose physical name is their `name` input and that the aws provider names
 * itself when the program gives neither `name` nor `namePrefix` (pulumi-aws auto-names every
 * resource with a `name` input). Types whose name input is called otherwise
 * (`deploymentGroupName`, `dashboardName`, `stageName`) require it and are never auto-named.
 */
export const AUTO_NAMED_TYPES: ReadonlySet<string> = new Set([
  "aws:apigateway/apiKey:ApiKey",
  "aws:apigateway/restApi:RestApi",
  "aws:apigateway/usagePlan:UsagePlan",
  "aws:cloudwatch/eventRule:EventRule",
  "aws:cloudwatch/logGroup:LogGroup",
  "aws:cloudwatch/metricAlarm:MetricAlarm",
  "aws:cloudwatch/queryDefinition:QueryDefinition",
  "aws:codedeploy/application:Application",
  "aws:dynamodb/table:Table",
  "aws:ec2/securityGroup:SecurityGroup",
  "aws:iam/instanceProfile:InstanceProfile",
  "aws:iam/policy:Policy",
  "aws:iam/role:Role",
  "aws:iam/rolePolicy:RolePolicy",
  "aws:lambda/alias:Alias",
  "aws:lambda/function:Function",
  "aws:scheduler/schedule:Schedule",
  "aws:secretsmanager/secret:Secret",
  "aws:sfn/stateMachine:StateMachine",
  "aws:sns/topic:Topic",
  "aws:sqs/queue:Queue",
  "aws:ssm/parameter:Parameter",
]);

/**
 * The engine's auto-name: the logical name, `-`, and 7 hex characters (`users-role-5c6b951`).
 * The engine draws the suffix at random once and keeps it in the state; offline it is a hash of
 * the stack and the URN, so that the same program plans the same names every time. A FIFO queue's
 * name must end in `.fifo`, which the provider appends.
 */
export function autoName(stack: string, urn: string, logicalName: string, fifo = false): string {
  const suffix = createHash("sha256").update(`${stack}\u0000${urn}`).digest("hex").slice(0, 7);
  return `${logicalName}-${suffix}${fifo ? ".fifo" : ""}`;
}

/**
 * Gives a registration without a physical name the provider's auto-name, in its inputs: the
 * engine shows the auto-name among the inputs (`pulumi preview --json`), and policies see it there.
 */
export function applyAutoName(req: RegisterResourceRequest, names: { project: string; stack: string }): void {
  if (!req.getCustom() || !AUTO_NAMED_TYPES.has(req.getType())) return;
  let object = req.getObject();
  if (!object) {
    object = new Struct();
    req.setObject(object);
  }
  const fields = object.getFieldsMap();
  const given = (key: string) => {
    const kind = fields.get(key)?.getKindCase();
    return kind !== undefined && kind !== Value.KindCase.KIND_NOT_SET && kind !== Value.KindCase.NULL_VALUE;
  };
  if (given("name") || given("namePrefix")) return;
  const urn = engineUrn(
    names.stack,
    names.project,
    req.getParent() || undefined,
    req.getType(),
    req.getName(),
  );
  const name = new Value();
  name.setStringValue(
    autoName(names.stack, urn, req.getName(), fields.get("fifoQueue")?.getBoolValue() === true),
  );
  fields.set("name", name);
}
