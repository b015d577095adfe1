/** Bundle the app at `entry` (relative to `appDir`) with trackio's worker entry into `outDir`. */
export function bundle(appDir: string, outDir: string, entry?: string, format?: "esm" | "cjs"): Promise<void>;
