#!/usr/bin/env node
// The package's command line: TypeScript sources run through tsx, as `npm run plan` does.
require("tsx/cjs");
require("../automation/cli.ts").main();
