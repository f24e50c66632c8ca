// `node:fs` plus a `globSync` export, for Node < 22 (where fs.globSync is missing).
//
// Scope: the conformance CLI only calls `globSync("**/checks.json", { cwd })`
// (to collect results written by `--output-dir`). This covers Node 22's
// string-mode API: a pattern or array of patterns, `cwd`, and `exclude` given
// as an array of patterns; it returns paths relative to `cwd`. Matching is
// delegated to the `glob` npm package (pinned in ../package.json). Anything
// else (exclude as a function, withFileTypes) throws instead of guessing.
import fs from "node:fs";
import { globSync as npmGlobSync } from "glob";

export * from "node:fs";
export default fs;

export function globSync(pattern, options = {}) {
  if (typeof fs.globSync === "function") {
    return fs.globSync(pattern, options);
  }
  const { cwd = process.cwd(), exclude, withFileTypes, ...rest } = options;
  if (withFileTypes || typeof exclude === "function" || Object.keys(rest).length > 0) {
    throw new Error("node20-compat globSync polyfill: unsupported option(s)");
  }
  const patterns = Array.isArray(pattern) ? pattern : [pattern];
  return npmGlobSync(patterns, {
    cwd: String(cwd),
    ignore: Array.isArray(exclude) ? exclude : undefined,
    dot: false,
  });
}
