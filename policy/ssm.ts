import * as aws from "@pulumi/aws";
import { type ResourceValidationPolicy, validateResourceOfType } from "@pulumi/policy";
import { readKnown } from "./util";

/**
 * Values that look like a secret whatever the variable's name: AWS access keys, private keys,
 * JWTs, well-known token formats, and credentials inside a URL.
 */
export const DEFAULT_SECRET_VALUE_PATTERNS = [
  "^(AKIA|ASIA)[0-9A-Z]{16}$",
  "-----BEGIN [A-Z ]*PRIVATE KEY-----",
  "^eyJ[A-Za-z0-9_-]+\\.eyJ[A-Za-z0-9_-]+\\.[A-Za-z0-9_-]+$",
  "^(ghp|gho|ghs|github_pat)_[A-Za-z0-9_]{20,}$",
  "^xox[abprs]-[A-Za-z0-9-]{10,}$",
  "^(sk|rk)_live_[A-Za-z0-9]{16,}$",
  "^[a-z][a-z0-9+.-]*://[^/:@\\s]+:[^/@\\s]+@",
];

export const secretsOnlyByReference: ResourceValidationPolicy = {
  name: "secrets-only-by-reference",
  description:
    "Checks whether secrets stay out of the program: no SecureString parameter is created with its value, and no Lambda environment variable holds a value shaped like a secret (keys, tokens, credentials in URLs), whatever its name.",
  configSchema: {
    properties: {
      valuePatterns: {
        type: "array",
        items: { type: "string" },
        default: DEFAULT_SECRET_VALUE_PATTERNS,
        description: "Regular expressions of values that are secrets.",
      },
    },
  },
  validateResource: [
    validateResourceOfType(aws.ssm.Parameter, (parameter, args, report) => {
      if (parameter.type !== "SecureString") return;
      for (const field of ["value", "insecureValue"] as const) {
        const value = readKnown(() => parameter[field] as unknown);
        // Unknown at preview means computed from another resource: still a value in the program's state.
        if (value.known && (value.value === undefined || value.value === null || value.value === ""))
          continue;
        report(
          `SSM parameter ${args.name} is a SecureString with its ${field} in the program (and so in the stack's state): create the parameter outside the program (aws ssm put-parameter --type SecureString) and give the function only its name.`,
        );
      }
    }),
    validateResourceOfType(aws.lambda.Function, (fn, args, report) => {
      const patterns = (
        args.getConfig<{ valuePatterns?: string[] }>().valuePatterns ?? DEFAULT_SECRET_VALUE_PATTERNS
      ).map((pattern) => new RegExp(pattern));
      const variables = (fn.environment?.variables ?? {}) as Record<string, unknown>;
      for (const name of Object.keys(variables)) {
        const value = readKnown(() => variables[name]);
        if (!value.known || typeof value.value !== "string") continue;
        if (!patterns.some((pattern) => pattern.test(value.value as string))) continue;
        report(
          `Lambda function ${args.name} sets environment variable ${name} to a value that looks like a secret: keep it in SSM Parameter Store (SecureString) or Secrets Manager and pass the parameter's name, for the function to read at run time.`,
        );
      }
    }),
  ],
};
