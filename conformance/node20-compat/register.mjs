// Node 20 compatibility preload for @modelcontextprotocol/conformance 0.1.x.
//
// The conformance CLI is an ES module that does `import { globSync } from "fs"`.
// `fs.globSync` only exists from Node 22, so on Node 20 the import fails at link
// time ("does not provide an export named 'globSync'"). A CommonJS `--require`
// preload that assigns `fs.globSync = ...` does NOT help: Node snapshots the
// export names of a builtin's ESM facade the first time the builtin is loaded
// publicly, so a property added afterwards never becomes a named export.
//
// Instead we register a module-resolution hook (`module.register`, stable
// enough in Node >= 20.6) that redirects `fs` / `node:fs` imports to
// ./fs-with-globsync.mjs, which re-exports all of `fs` plus a `globSync`.
// On Node >= 22 this file does nothing.
//
// Usage: node --import ./node20-compat/register.mjs <script>
//    or: NODE_OPTIONS="--import=/abs/path/register.mjs"
import fs from "node:fs";
import { register } from "node:module";

if (typeof fs.globSync !== "function") {
  register("./fs-globsync-loader.mjs", import.meta.url);
}
