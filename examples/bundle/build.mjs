// Bundle an app that uses trackio into one directory that runs without node_modules:
//
//   out/<app>.mjs            the app, trackio and its dependencies
//   out/trackio-worker.mjs   trackio's worker entry (`trackio/worker`): the app passes it as workerFile
//   out/worker.js            piscina's thread bootstrap, which piscina loads from beside itself
//   out/package.json         {"type": "commonjs"}, for worker.js
//
// Usage, from a project with trackio and esbuild installed (plain JavaScript: no tsx needed):
//   node node_modules/trackio/examples/bundle/build.mjs [app.mjs] [outDir]
// (defaults: ./train.mjs and ./out). Or import { bundle } from this file.
// bundle(…, "cjs") makes CommonJS files instead (out/<entry>.cjs, out/trackio-worker.cjs).
// There trackio cannot find its worker entry by itself (a CommonJS bundle has no
// import.meta.url), so the app must pass workerFile (e.g. path.join(__dirname, "trackio-worker.cjs")).
import { writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { basename, dirname, extname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";

/**
 * @param {string} appDir the project directory (trackio is resolved from there)
 * @param {string} outDir where the bundle goes
 * @param {string} [entry] the app's entry file, relative to appDir
 * @param {"esm" | "cjs"} [format] ES modules (default) or CommonJS
 * @returns {Promise<void>}
 */
export async function bundle(appDir, outDir, entry = "./train.mjs", format = "esm") {
  await build({
    absWorkingDir: appDir,
    entryPoints: { [basename(entry, extname(entry))]: entry, "trackio-worker": "trackio/worker" },
    outdir: outDir,
    outExtension: { ".js": format === "esm" ? ".mjs" : ".cjs" },
    bundle: true,
    platform: "node",
    format,
    target: "node20",
    logLevel: "error",
    // What bundled CommonJS dependencies (piscina, undici) expect to find in an ES module.
    banner:
      format === "cjs"
        ? {}
        : {
            js: [
              'import { createRequire as __trackioCreateRequire } from "node:module";',
              'import { fileURLToPath as __trackioFileURLToPath } from "node:url";',
              "const require = __trackioCreateRequire(import.meta.url);",
              "const __filename = __trackioFileURLToPath(import.meta.url);",
              'const __dirname = __trackioFileURLToPath(new URL(".", import.meta.url));',
            ].join("\n"),
          },
  });
  // The piscina trackio itself uses, wherever the package manager put it.
  const fromApp = createRequire(join(appDir, "package.json"));
  const piscina = createRequire(fromApp.resolve("trackio")).resolve("piscina");
  await build({
    entryPoints: { worker: join(dirname(piscina), "worker.js") },
    outdir: outDir,
    bundle: true,
    platform: "node",
    format: "cjs",
    target: "node20",
    logLevel: "error",
    // A native add-on piscina loads only for its niceIncrement option (and copes without).
    external: ["@napi-rs/nice"],
  });
  writeFileSync(join(outDir, "package.json"), JSON.stringify({ type: "commonjs" }));
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  await bundle(process.cwd(), resolve(process.argv[3] ?? "out"), process.argv[2] ?? "./train.mjs");
}
