// The plan host's loader (run-program.ts is forked with `--require` of this file): TypeScript and
// the program's own files through tsx's CommonJS hooks, packages through Node's own loader.
//
// tsx reads every `.js` file it is asked to load with a lexer, to find ES module syntax it would
// transform; that is 150 ms of a new host's first plan for the SDKs' files (profiled), which Node
// loads by itself (an ES module package through require(esm), Node >= 20.19).
"use strict";
const Module = require("node:module");
const path = require("node:path");

const extensions = Module._extensions;
const nodeJs = extensions[".js"];
require("tsx/cjs");
const tsxJs = extensions[".js"];
const inPackage = `${path.sep}node_modules${path.sep}`;

extensions[".js"] = function loadJs(module, filename) {
  return (filename.includes(inPackage) ? nodeJs : tsxJs).call(this, module, filename);
};
