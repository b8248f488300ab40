/**
 * A small IAM policy evaluator for tests: may a principal make one call (an action on a resource ARN,
 * with a few request context keys), given its identity policies and its permissions boundary?
 *
 * What it models:
 * - An explicit Deny in the identity policies or in the boundary wins; otherwise the call needs an
 *   Allow in the identity policies AND one in the boundary (an empty boundary lets nothing through).
 * - Action, NotAction, Resource and NotResource. Actions match case-insensitively with `*` and `?`
 *   (the pack's glob); ARNs case-sensitively, a wildcard staying inside each of an ARN's first five
 *   segments and spanning colons only in the resource part.
 * - Conditions with StringEquals, StringNotEquals, StringLike, StringNotLike and their ...IfExists
 *   forms, on the keys of MODELLED_KEYS. A key absent from the call: the negated and ...IfExists
 *   operators hold, the others do not.
 * - A statement with any other condition operator or key throws, naming it: the evaluator fails
 *   loudly rather than guess about a condition it does not understand.
 *
 * What it does not model: resource-based policies, SCPs and session policies, Principal/NotPrincipal,
 * policy variables (`${aws:username}`), set operators (ForAnyValue/ForAllValues), several values of
 * one context key, other operator families (Arn*, Bool, Numeric*, Date*, IpAddress, ...IgnoreCase),
 * and the context AWS adds to every request (it sees only what a Call carries).
 */

import { type PolicyStatement, parsePolicyDocument } from "../../policy/iam-document";
import { asArray, globToRegExp } from "../../policy/util";

/** One authorization: an action on a resource ARN, with the request context keys this test models. */
export interface Call {
  action: string;
  resource: string;
  context?: Partial<Record<ModelledKey, string>>;
}

/** The condition keys the evaluator knows; a statement testing any other key fails the test. */
export const MODELLED_KEYS = [
  "iam:PassedToService",
  "kms:ViaService",
  "iam:PermissionsBoundary",
  "cloudwatch:namespace",
] as const;
export type ModelledKey = (typeof MODELLED_KEYS)[number];

/**
 * One statement, normalized by the pack's own parser (policy/iam-document.ts), with its Condition
 * block: the pack keeps only the condition keys, the evaluator needs their values too.
 */
export interface Statement extends Omit<PolicyStatement, "conditionKeys"> {
  condition: Record<string, Record<string, unknown>>;
}

/** The statements of a policy document (a JSON string or an object); throws on a malformed one. */
export function statementsOf(document: unknown): Statement[] {
  const value = typeof document === "string" ? JSON.parse(document) : document;
  const parsed = parsePolicyDocument(value);
  if (!parsed.ok) throw new Error(`the policy document ${parsed.error}`);
  const raw = asArray((value as { Statement?: unknown }).Statement) as ({ Condition?: unknown } | null)[];
  return parsed.statements.map(({ conditionKeys: _keys, ...statement }, index) => ({
    ...statement,
    condition: (raw[index]?.Condition ?? {}) as Statement["condition"],
  }));
}

/** An Allow statement without condition, for policies a test writes by hand. */
export function allow(actions: string[], resources: string[]): Statement {
  return { effect: "Allow", actions, notActions: [], resources, notResources: [], condition: {} };
}

/** Actions match case-insensitively (the pack's glob); ARNs case-sensitively. */
const actionMatches = (pattern: string, action: string) => globToRegExp(pattern).test(action);
const caseSensitive = (pattern: string) => new RegExp(globToRegExp(pattern).source);
/** Wildcards stay inside an ARN's first five segments; in the resource part they span colons. */
function arnMatches(pattern: string, value: string): boolean {
  if (pattern === "*") return true;
  const split = (s: string) => {
    const parts = s.split(":");
    return parts.length < 6 ? undefined : [...parts.slice(0, 5), parts.slice(5).join(":")];
  };
  const [p, v] = [split(pattern), split(value)];
  if (!p || !v) return caseSensitive(pattern).test(value);
  return p.every((segment, i) => caseSensitive(segment).test(v[i]));
}

const OPERATORS: Record<string, (values: string[], actual: string) => boolean> = {
  StringEquals: (values, actual) => values.includes(actual),
  StringNotEquals: (values, actual) => !values.includes(actual),
  StringLike: (values, actual) => values.some((v) => caseSensitive(v).test(actual)),
  StringNotLike: (values, actual) => !values.some((v) => caseSensitive(v).test(actual)),
};

function conditionHolds(statement: Statement, call: Call): boolean {
  return Object.entries(statement.condition).every(([operator, tests]) => {
    const base = operator.replace(/IfExists$/, "");
    const test = OPERATORS[base];
    if (!test) {
      throw new Error(
        `statement ${statement.sid ?? "(no Sid)"} uses condition operator ${operator}; this test models ${Object.keys(OPERATORS).join(", ")}`,
      );
    }
    return Object.entries(tests).every(([key, expected]) => {
      const modelled = MODELLED_KEYS.find((k) => k.toLowerCase() === key.toLowerCase());
      if (!modelled) {
        throw new Error(
          `statement ${statement.sid ?? "(no Sid)"} tests condition key ${key}; this test models ${MODELLED_KEYS.join(", ")}`,
        );
      }
      const actual = call.context?.[modelled];
      // A key absent from the request: negated operators and ...IfExists hold, the others do not.
      if (actual === undefined) return operator.endsWith("IfExists") || base.includes("Not");
      return test(asArray(expected as string[]).map(String), actual);
    });
  });
}

function applies(statement: Statement, call: Call): boolean {
  const action =
    statement.actions.length > 0
      ? statement.actions.some((a) => actionMatches(a, call.action))
      : !statement.notActions.some((a) => actionMatches(a, call.action));
  const resource =
    statement.resources.length > 0
      ? statement.resources.some((r) => arnMatches(r, call.resource))
      : !statement.notResources.some((r) => arnMatches(r, call.resource));
  return action && resource && conditionHolds(statement, call);
}

/** Who makes a call: its identity policies (together) and its permissions boundary. */
export interface Principal {
  identity: Statement[];
  boundary: Statement[];
}

/** Why `call` is denied, or undefined when the role may make it. */
export function denial(role: Principal, call: Call): string | undefined {
  for (const [where, statements] of [
    ["policy", role.identity],
    ["boundary", role.boundary],
  ] as const) {
    const deny = statements.find((s) => s.effect === "Deny" && applies(s, call));
    if (deny) return `denied by statement ${deny.sid ?? "(no Sid)"} of the ${where}`;
  }
  if (!role.identity.some((s) => s.effect === "Allow" && applies(s, call))) {
    return "no statement of the role's policy allows it";
  }
  if (!role.boundary.some((s) => s.effect === "Allow" && applies(s, call))) {
    return "no statement of the boundary allows it";
  }
  return undefined;
}
