import * as aws from "@pulumi/aws";
import type { PolicyResource } from "@pulumi/policy";
import { type PolicyStatement, parsePolicyDocument } from "./iam-document";
import {
  asArray,
  integrationFunctionName,
  lambdaFunctionName,
  memoByStack,
  type Reference,
  readKnown,
  reference,
} from "./util";

/** The type token of a resource class (`aws:lambda/function:Function`). */
function typeOf(resourceClass: object): string {
  return (resourceClass as { __pulumiType: string }).__pulumiType;
}

/** Type tokens of the resources stack policies look at. */
export const TYPE = {
  lambdaFunction: typeOf(aws.lambda.Function),
  lambdaAlias: typeOf(aws.lambda.Alias),
  lambdaPermission: typeOf(aws.lambda.Permission),
  lambdaEventInvokeConfig: typeOf(aws.lambda.FunctionEventInvokeConfig),
  iamRole: typeOf(aws.iam.Role),
  iamRolePolicy: typeOf(aws.iam.RolePolicy),
  iamPolicy: typeOf(aws.iam.Policy),
  iamRolePolicyAttachment: typeOf(aws.iam.RolePolicyAttachment),
  iamPolicyAttachment: typeOf(aws.iam.PolicyAttachment),
  logGroup: typeOf(aws.cloudwatch.LogGroup),
  metricAlarm: typeOf(aws.cloudwatch.MetricAlarm),
  restApi: typeOf(aws.apigateway.RestApi),
  apiResource: typeOf(aws.apigateway.Resource),
  apiMethod: typeOf(aws.apigateway.Method),
  apiIntegration: typeOf(aws.apigateway.Integration),
  apiStage: typeOf(aws.apigateway.Stage),
  apiMethodSettings: typeOf(aws.apigateway.MethodSettings),
  deploymentGroup: typeOf(aws.codedeploy.DeploymentGroup),
} as const;

/** A string property of a stack resource, or undefined when it is absent or unknown. */
export function knownString(resource: PolicyResource, property: string): string | undefined {
  const read = readKnown(() => resource.props[property] as unknown);
  return read.known && typeof read.value === "string" ? read.value : undefined;
}

/** The stack's Lambda functions, by physical name, and how references resolve to them. */
export interface LambdaIndex {
  functions: PolicyResource[];
  byName: Map<string, PolicyResource>;
  /** The function a reference (name, ARN, alias ARN, or a dependency on a function or alias) names. */
  resolve(ref: Reference): PolicyResource | undefined;
  /** The physical name of a function, or undefined when it is unknown at preview. */
  nameOf(fn: PolicyResource): string | undefined;
}

export function lambdaIndex(resources: readonly PolicyResource[]): LambdaIndex {
  return memoByStack("lambda", resources, (graph) => {
    const functions = graph.ofType(TYPE.lambdaFunction);
    const names = new Map<PolicyResource, string | undefined>();
    const byName = new Map<string, PolicyResource>();
    for (const fn of functions) {
      const name = knownString(fn, "name");
      names.set(fn, name);
      if (name !== undefined) byName.set(name, fn);
    }
    const resolve = (ref: Reference, depth = 0): PolicyResource | undefined => {
      for (const dependency of ref.dependencies) {
        if (dependency.type === TYPE.lambdaFunction) return dependency;
        if (dependency.type === TYPE.lambdaAlias && depth < 2) {
          const target = resolve(reference(dependency, "functionName"), depth + 1);
          if (target) return target;
        }
      }
      return ref.value !== undefined ? byName.get(lambdaFunctionName(ref.value)) : undefined;
    };
    return { functions, byName, resolve, nameOf: (fn) => names.get(fn) };
  });
}

/** The functions behind the API, and the integrations whose target cannot be known yet. */
export interface ApiFunctions {
  /** Each function an API Gateway integration invokes (directly or through an alias), with those integrations. */
  functions: Map<PolicyResource, PolicyResource[]>;
  /** Lambda integrations whose URI is unknown during a preview and that depend on no function in the stack. */
  unresolved: PolicyResource[];
}

export function apiFunctions(resources: readonly PolicyResource[]): ApiFunctions {
  return memoByStack("api-functions", resources, (graph) => {
    const lambdas = lambdaIndex(resources);
    const functions = new Map<PolicyResource, PolicyResource[]>();
    const unresolved: PolicyResource[] = [];
    for (const integration of graph.ofType(TYPE.apiIntegration)) {
      const uri = reference(integration, "uri");
      const byUri = uri.value !== undefined ? integrationFunctionName(uri.value) : undefined;
      const fn =
        (byUri !== undefined ? lambdas.byName.get(byUri) : undefined) ??
        lambdas.resolve({ dependencies: uri.dependencies });
      if (fn) functions.set(fn, [...(functions.get(fn) ?? []), integration]);
      else if (uri.value === undefined && !readKnown(() => integration.props.uri).known)
        unresolved.push(integration);
    }
    return { functions, unresolved };
  });
}

/** The IAM role a function executes as, and the statements that role is granted inline. */
export interface RoleIndex {
  /** The role a reference (ARN, name or id, or a dependency on a role) names, when it is in the stack. */
  resolve(ref: Reference): PolicyResource | undefined;
  /** The role resource of a function, when it is in the stack. */
  roleOf(fn: PolicyResource): PolicyResource | undefined;
  /** A stable identity of a function's role (the role's URN, or its ARN when it is not in the stack). */
  roleKeyOf(fn: PolicyResource): string;
  /**
   * Statements of the role's inline policies (Role.inlinePolicies and RolePolicy resources), and
   * whether some document is unknown (during a preview, until the ARNs it interpolates exist).
   */
  grantsOf(role: PolicyResource): { statements: PolicyStatement[]; someUnknown: boolean };
}

export function roleIndex(resources: readonly PolicyResource[]): RoleIndex {
  return memoByStack("roles", resources, (graph) => {
    const byIdentity = new Map<string, PolicyResource>();
    for (const role of graph.ofType(TYPE.iamRole)) {
      for (const property of ["arn", "name", "id"]) {
        const value = knownString(role, property);
        if (value !== undefined) byIdentity.set(value, role);
      }
    }
    const resolveRole = (ref: Reference): PolicyResource | undefined =>
      ref.dependencies.find((dependency) => dependency.type === TYPE.iamRole) ??
      (ref.value !== undefined ? byIdentity.get(ref.value) : undefined);

    // The documents granted to each role, parsed only when a policy asks for a role's grants.
    let rolePolicies: Map<PolicyResource, PolicyResource[]> | undefined;
    const grants = new Map<PolicyResource, { statements: PolicyStatement[]; someUnknown: boolean }>();
    const grantsOf = (role: PolicyResource) => {
      let entry = grants.get(role);
      if (entry) return entry;
      if (!rolePolicies) {
        rolePolicies = new Map();
        for (const rolePolicy of graph.ofType(TYPE.iamRolePolicy)) {
          const target = resolveRole(reference(rolePolicy, "role"));
          if (target) rolePolicies.set(target, [...(rolePolicies.get(target) ?? []), rolePolicy]);
        }
      }
      const granted = { statements: [] as PolicyStatement[], someUnknown: false };
      const grant = (read: () => unknown) => {
        const parsed = readKnown(() => parsePolicyDocument(read()));
        if (!parsed.known) granted.someUnknown = true;
        else if (parsed.value.ok) granted.statements.push(...parsed.value.statements);
      };
      const inline = readKnown(() => asArray(role.props.inlinePolicies as { policy?: unknown }[]));
      if (!inline.known) grant(() => role.props.inlinePolicies);
      else for (const policy of inline.value) grant(() => policy.policy);
      for (const rolePolicy of rolePolicies.get(role) ?? []) grant(() => rolePolicy.props.policy);
      entry = granted;
      grants.set(role, entry);
      return entry;
    };
    return {
      resolve: resolveRole,
      roleOf: (fn) => resolveRole(reference(fn, "role")),
      roleKeyOf: (fn) => {
        const ref = reference(fn, "role");
        const role = resolveRole(ref);
        // An unknown role ARN with no dependency: let the read fail as "unknown during preview".
        return role?.urn ?? ref.value ?? String(fn.props.role);
      },
      grantsOf,
    };
  });
}
