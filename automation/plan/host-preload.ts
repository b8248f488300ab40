/**
 * What the plan host (run-program.ts) sets before it loads Pulumi's SDK: it imports this first.
 *
 * Source maps and stack traces off. tsx turns Node's source maps on, and with them on Node reads and
 * parses the `.js.map` file of every package module it loads (each of @pulumi/aws's modules has
 * one). Pulumi records a stack trace for every promise and resource it creates, each a source map
 * lookup per frame (a third of a warm plan, profiled). A plan records no source positions, and
 * errors are reported by message.
 *
 * Then the parts of the SDK that a plan rarely needs are deferred until first used (lazy-sdk.ts).
 */
import { deferSdkModules } from "./lazy-sdk";

process.setSourceMapsEnabled(false);
Error.stackTraceLimit = 0;
deferSdkModules();
