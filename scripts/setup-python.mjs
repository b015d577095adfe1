#!/usr/bin/env node
// Idempotently provision the Python venv that hosts the real Trackio server used
// by the tests, the quickstart and the benchmarks.
//
//   node scripts/setup-python.mjs            (npm run setup:python)
//   node scripts/setup-python.mjs --legacy   (the Gradio-based Trackio 0.23 for the tests)
//
// - creates `.venv/` at the repo root (or $TRACKIO_VENV; a relative path is
//   resolved against the repo root) with `python3 -m venv` if it is missing;
// - if `import trackio` does not report the version pinned in
//   python/requirements.txt, or another pin there (psutil) is missing or at another
//   version, installs python/requirements.txt under
//   python/constraints.txt (every transitive dependency pinned);
// - prints one line: `trackio X.Y.Z ready in .venv (took N.Ns)`.
// With --legacy the same happens for `.venv-legacy/` (or $TRACKIO_LEGACY_VENV) with
// python/requirements-legacy.txt and python/constraints-legacy.txt.
// $PYTHON overrides the interpreter used to create the venv (default python3).
import { spawnSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const started = performance.now();
const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const legacy = process.argv.includes("--legacy");
const venvDir = legacy
  ? path.resolve(repoRoot, process.env.TRACKIO_LEGACY_VENV || ".venv-legacy")
  : path.resolve(repoRoot, process.env.TRACKIO_VENV || ".venv");
const venvPython = path.join(venvDir, "bin", "python");
const venvPip = path.join(venvDir, "bin", "pip");
const suffix = legacy ? "-legacy" : "";
const requirements = path.join(repoRoot, "python", `requirements${suffix}.txt`);
const constraints = path.join(repoRoot, "python", `constraints${suffix}.txt`);

function fail(message) {
  process.stderr.write(`setup-python: ${message}\n`);
  process.exit(1);
}

/** Run a command with inherited stderr; return { ok, stdout }. */
function run(cmd, args, { capture = false } = {}) {
  const result = spawnSync(cmd, args, {
    cwd: repoRoot,
    encoding: "utf8",
    stdio: ["ignore", capture ? "pipe" : "inherit", capture ? "pipe" : "inherit"],
  });
  if (result.error) return { ok: false, stdout: "", stderr: String(result.error.message) };
  return {
    ok: result.status === 0,
    stdout: result.stdout ?? "",
    stderr: result.stderr ?? "",
    status: result.status,
  };
}

function pinnedVersion() {
  let text;
  try {
    text = readFileSync(requirements, "utf8");
  } catch (err) {
    fail(`cannot read ${requirements}: ${err.message}`);
  }
  const match = /^\s*trackio\s*==\s*([^\s;#]+)/m.exec(text);
  if (!match) fail(`${requirements} does not pin trackio (expected a line like trackio==0.43.0)`);
  return match[1];
}

function installedVersion() {
  if (!existsSync(venvPython)) return null;
  const r = run(venvPython, ["-c", "import trackio; print(trackio.__version__)"], { capture: true });
  return r.ok ? r.stdout.trim() : null;
}

/** The `name==version` pins of the requirements file that the venv does not have at that version. */
function missingPins() {
  if (!existsSync(venvPython)) return ["(no venv)"];
  const pins = [...readFileSync(requirements, "utf8").matchAll(/^\s*([A-Za-z0-9_.-]+)\s*==\s*([^\s;#]+)/gm)].map(
    (m) => `${m[1]}==${m[2]}`,
  );
  const check =
    "import sys\nfrom importlib.metadata import version\nfor pin in sys.argv[1:]:\n" +
    "    name, want = pin.split('==')\n    try:\n        ok = version(name) == want\n" +
    "    except Exception:\n        ok = False\n    if not ok:\n        print(pin)\n";
  const r = run(venvPython, ["-c", check, ...pins], { capture: true });
  return r.ok ? r.stdout.split("\n").filter(Boolean) : pins;
}

const wanted = pinnedVersion();
const relDir = path.relative(repoRoot, venvDir);
const displayDir = relDir && !relDir.startsWith("..") && !path.isAbsolute(relDir) ? relDir : venvDir;

if (!existsSync(venvPython)) {
  const python = process.env.PYTHON || "python3";
  const r = run(python, ["-m", "venv", venvDir], { capture: true });
  if (!r.ok) {
    fail(
      `\`${python} -m venv ${venvDir}\` failed (${r.status ?? r.stderr}).\n${r.stderr}` +
        "Install Python >= 3.10 with the venv module (e.g. apt-get install python3-venv), " +
        "or point $PYTHON at a suitable interpreter.",
    );
  }
  if (!existsSync(venvPython)) fail(`venv created but ${venvPython} is missing`);
}

let version = installedVersion();
if (version !== wanted || missingPins().length > 0) {
  const r = run(venvPip, ["install", "--disable-pip-version-check", "-q", "-r", requirements, "-c", constraints]);
  if (!r.ok) fail(`pip install into ${venvDir} failed (exit ${r.status ?? r.stderr}); see the pip output above.`);
  version = installedVersion();
  if (version !== wanted) {
    fail(`after pip install, \`import trackio\` reports ${version ?? "an import error"}, expected ${wanted}`);
  }
  const missing = missingPins();
  if (missing.length > 0) fail(`after pip install, the venv still lacks ${missing.join(", ")}`);
}

const seconds = ((performance.now() - started) / 1000).toFixed(1);
process.stdout.write(`trackio ${version} ready in ${displayDir} (took ${seconds}s)\n`);
