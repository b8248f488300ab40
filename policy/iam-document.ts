import { asArray } from "./util";

/** One statement of an IAM policy document, with its list fields normalized to arrays. */
export interface PolicyStatement {
  sid?: string;
  effect: "Allow" | "Deny";
  actions: string[];
  notActions: string[];
  resources: string[];
  notResources: string[];
  /** Condition keys the statement tests, lower-cased (IAM compares them case-insensitively). */
  conditionKeys: string[];
}

export type ParsedDocument = { ok: true; statements: PolicyStatement[] } | { ok: false; error: string };

const strings = (value: unknown): string[] =>
  asArray(value as unknown[]).filter((item): item is string => typeof item === "string");

/**
 * Parses an IAM policy document as resources receive it: a JSON string (`pulumi.jsonStringify`,
 * `getPolicyDocument(...).json`) or an object (`aws.iam.PolicyDocument`).
 */
export function parsePolicyDocument(document: unknown): ParsedDocument {
  if (typeof document !== "string") return parseDocument(document);
  // Several policies parse the same document one after another: remember the last few.
  let parsed = recent.get(document);
  if (!parsed) {
    parsed = parseDocument(document);
    if (recent.size >= 64) recent.clear();
    recent.set(document, parsed);
  }
  return parsed;
}

const recent = new Map<string, ParsedDocument>();

function parseDocument(document: unknown): ParsedDocument {
  let value = document;
  if (typeof value === "string") {
    try {
      value = JSON.parse(value);
    } catch (error) {
      return { ok: false, error: `is not valid JSON (${(error as Error).message})` };
    }
  }
  if (!value || typeof value !== "object") return { ok: false, error: "is not a policy document" };
  const statements = asArray((value as { Statement?: unknown }).Statement).map((raw): PolicyStatement => {
    const statement = (raw ?? {}) as Record<string, unknown>;
    return {
      sid: typeof statement.Sid === "string" ? statement.Sid : undefined,
      // IAM rejects a statement without Effect; judging it as Allow errs on the safe side.
      effect: statement.Effect === "Deny" ? "Deny" : "Allow",
      actions: strings(statement.Action),
      notActions: strings(statement.NotAction),
      resources: strings(statement.Resource),
      notResources: strings(statement.NotResource),
      conditionKeys: conditionKeys(statement.Condition),
    };
  });
  return { ok: true, statements };
}

/** `{ StringEquals: { "cloudwatch:namespace": "App" } }` -> `["cloudwatch:namespace"]`. */
function conditionKeys(condition: unknown): string[] {
  if (!condition || typeof condition !== "object") return [];
  return Object.values(condition as Record<string, unknown>).flatMap((tests) =>
    tests && typeof tests === "object" ? Object.keys(tests).map((key) => key.toLowerCase()) : [],
  );
}

/** An action with a wildcard: `*`, `s3:*`, `s3:Get*`, `s3:Get?bject`. */
export function isWildcardAction(action: string): boolean {
  return /[*?]/.test(action);
}

/** `statement "ReadTable"` or `statement 2` for messages. */
export function statementLabel(statement: PolicyStatement, index: number): string {
  return statement.sid ? `statement "${statement.sid}"` : `statement ${index + 1}`;
}
