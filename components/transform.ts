import type * as pulumi from "@pulumi/pulumi";

/**
 * An escape hatch on a component's args: change a child's args without forking the component.
 * Either a partial object merged over the component's args, or a function that edits them in place
 * (or returns new ones).
 *
 * @example transform: { role: { maxSessionDuration: 7200 } }
 * @example transform: { function: (args) => { args.layers = [layerArn]; } }
 */
export type Transform<T> = Partial<T> | ((args: T, opts: pulumi.CustomResourceOptions) => T | undefined);

/** Applies a transform to a child's args. */
export function applyTransform<T extends object>(
  transform: Transform<T> | undefined,
  args: T,
  opts: pulumi.CustomResourceOptions = {},
): T {
  if (transform === undefined) return args;
  if (typeof transform === "function") return transform(args, opts) ?? args;
  return { ...args, ...transform };
}

/** The Pulumi type of an IAM role. */
const ROLE_TYPE = "aws:iam/role:Role";

/**
 * A resource transformation that sets `permissionsBoundary` on every IAM role of a component and
 * its children, over whatever the component or a `transform` gave: the one place the platform's
 * roles get the stack's `platform:roleBoundary` (components/platform.ts).
 *
 * @example new Platform("users", args, { transformations: [roleBoundaryTransformation(boundaryArn)] })
 */
export function roleBoundaryTransformation(boundaryArn: pulumi.Input<string>): pulumi.ResourceTransformation {
  return ({ type, props, opts }) =>
    type === ROLE_TYPE ? { props: { ...props, permissionsBoundary: boundaryArn }, opts } : undefined;
}
