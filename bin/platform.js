#!/usr/bin/env node
// The package's command line: TypeScript sources run through tsx's CommonJS hooks, in this one
// process (`npm run plan` and the other scripts run this file too).
require("tsx/cjs");
// Before anything loads @pulumi/pulumi: its Automation API and closure serializer load on first use
// (cli.ts imports this first as well, for `tsx automation/cli.ts`).
require("../automation/cli-preload.ts");
require("../automation/cli.ts").main();
