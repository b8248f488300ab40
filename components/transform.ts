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
