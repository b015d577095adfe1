// The CommonJS entry: `require("trackio")` loads this file, which requires the ES module build
// (Node ^20.19 and >= 22.12 load ES modules with require()). So `import` and `require` share
// ONE instance of the package: one worker-file lookup through import.meta.url, one set of
// error classes, one exit hook, whichever way a program (or two of its dependencies) loads it.
if (!process.features.require_module) {
  throw new Error(
    `require("trackio") needs a Node.js that can require() ES modules (^20.19.0 or >= 22.12.0; this is ${process.version}${process.execArgv.includes("--no-experimental-require-module") ? ", started with --no-experimental-require-module" : ""}). Use \`await import("trackio")\`, or upgrade Node.js.`,
  );
}

export * from "../index.js";
