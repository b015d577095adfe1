// The CommonJS entry of `trackio/otel`; see index.cts.
if (!process.features.require_module) {
  throw new Error(
    `require("trackio/otel") needs a Node.js that can require() ES modules (^20.19.0 or >= 22.12.0; this is ${process.version}). Use \`await import("trackio/otel")\`, or upgrade Node.js.`,
  );
}

export * from "../otel.js";
