/**
 * What the plan host (run-program.ts) sets before it loads Pulumi's SDK: it imports this first.
 *
 * Source maps and stack traces off. tsx turns Node's source maps on, and with them on Node reads and
 * parses the `.js.map` file of every package module it loads (each of @pulumi/aws's modules has
 * one). Pulumi records a stack trace for every promise and resource it creates, each a source map
 * lookup per frame (a third of a warm plan, profiled). A plan records no source positions, and
 * errors are reported by message.
 *
 * Then the parts of the SDK that a plan rarely needs are deferred until first used (lazy-sdk.ts),
 * and two of its debugging aids are turned off (below).
 */
import { deferSdkModules } from "../lazy-sdk";

process.setSourceMapsEnabled(false);
Error.stackTraceLimit = 0;
deferSdkModules();
quietSdkDebugAids();

/**
 * Two debugging aids of the SDK that a plan pays for on every resource and promise and whose
 * results it never records: each resource's call sites (`Resource.callsites` captures and parses
 * a full stack trace, sent as the registration's source position), and each RPC promise's leak
 * tracking (`debuggablePromise`: three properties, a stack, a set and two more promises). Off,
 * a new host's first plan of dev took about 50 ms less and a re-plan about 12 ms (interleaved).
 */
function quietSdkDebugAids(): void {
  const debuggable = require("@pulumi/pulumi/runtime/debuggable") as Record<string, unknown>;
  if (typeof debuggable.debuggablePromise === "function") debuggable.debuggablePromise = (p: unknown) => p;
  const { Resource } = require("@pulumi/pulumi/resource") as { Resource?: { callsites?: () => unknown[] } };
  if (typeof Resource?.callsites === "function") Resource.callsites = () => [];
}
