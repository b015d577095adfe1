// Bundle an app that uses trackio into one directory that runs without node_modules:
//
//   out/train.mjs            the app, trackio and its dependencies
//   out/trackio-worker.mjs   trackio's worker entry (`trackio/worker`): the app passes it as workerFile
//   out/worker.js            piscina's thread bootstrap, which piscina loads from beside itself
//   out/package.json         {"type": "commonjs"}, for worker.js
//
// bundle(…, "cjs") makes CommonJS files instead (out/<entry>.cjs, out/trackio-worker.cjs).
// There trackio cannot find its worker entry by itself (a CommonJS bundle has no
// import.meta.url), so the app must pass workerFile (e.g. path.join(__dirname, "trackio-worker.cjs")).
//
// Usage (in a project with trackio and esbuild installed): npx tsx build.ts [appDir] [outDir]
import { writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";

export async function bundle(
  appDir: string,
  outDir: string,
  entry = "./train.mjs",
  format: "esm" | "cjs" = "esm",
): Promise<void> {
  await build({
    absWorkingDir: appDir,
    entryPoints: { train: entry, "trackio-worker": "trackio/worker" },
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
  await build({
    absWorkingDir: appDir,
    entryPoints: { worker: "./node_modules/piscina/dist/worker.js" },
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
  const appDir = resolve(process.argv[2] ?? ".");
  await bundle(appDir, resolve(appDir, process.argv[3] ?? "out"));
}
