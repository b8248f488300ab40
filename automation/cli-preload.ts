/**
 * The `platform` command line's first import: defers the Pulumi SDK's rarely used parts (the
 * Automation API and its @npmcli/arborist, the closure serializer) before anything loads
 * `@pulumi/pulumi`. Imports are hoisted, so cli.ts imports this module first, for itself; the
 * commands that use the Automation API (rollout, drift, serve) load it on first use.
 */
import { deferSdkModules } from "./plan/lazy-sdk";

deferSdkModules();
