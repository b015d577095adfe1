// The CommonJS entry of `trackio/tfjs`; see index.cts.
if (!process.features.require_module) {
  throw new Error(
    `require("trackio/tfjs") needs a Node.js that can require() ES modules (^20.19.0 or >= 22.12.0; this is ${process.version}). Use \`await import("trackio/tfjs")\`, or upgrade Node.js.`,
  );
}

export * from "../tfjs.js";
