// The client as users run it: src/ and worker/ compiled by tsc (as `npm run build` does),
// for the bench's children to import instead of the TypeScript sources under tsx, which read
// every binding one module imports from another through a getter call (bench/README,
// "Method", has what that changed in the figures: nothing beyond their noise).

import { spawnSync } from "node:child_process";
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";

/**
 * Compile the client whose tsconfig.build.json is in `tree` into `outDir` (emptied first);
 * returns the URL of its entry module. `root` has the node_modules with tsc.
 */
export function buildClient(root: string, tree: string, outDir: string): string {
  rmSync(outDir, { recursive: true, force: true });
  mkdirSync(outDir, { recursive: true });
  const tsc = join(root, "node_modules", "typescript", "bin", "tsc");
  const args = [
    tsc,
    "-p",
    join(tree, "tsconfig.build.json"),
    "--outDir",
    outDir,
    "--declaration",
    "false",
    "--sourceMap",
    "false",
  ];
  const r = spawnSync(process.execPath, args, { cwd: tree, encoding: "utf8" });
  if (r.status !== 0) throw new Error(`tsc build of the client in ${tree} failed:\n${r.stdout}${r.stderr}`);
  writeFileSync(join(outDir, "package.json"), '{ "type": "module" }\n');
  return pathToFileURL(join(outDir, "src", "index.js")).href;
}
