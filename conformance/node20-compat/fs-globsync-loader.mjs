// Resolve hook (runs on the loader thread): send every ESM import of `fs` or
// `node:fs` to the shim, except the shim's own import of the real module.
const SHIM_URL = new URL("./fs-with-globsync.mjs", import.meta.url).href;

export async function resolve(specifier, context, nextResolve) {
  if ((specifier === "fs" || specifier === "node:fs") && context.parentURL !== SHIM_URL) {
    return { url: SHIM_URL, shortCircuit: true };
  }
  return nextResolve(specifier, context);
}
