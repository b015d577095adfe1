// The main thread's half of artifacts: the arguments of logArtifact() checked and its files
// found at the call (as Python's Artifact.add_file / add_dir find them), and the `Artifact` a
// logged or used version comes back as, whose download() fetches its files from the server.

import { lstatSync, readdirSync, realpathSync, statSync } from "node:fs";
import { join, resolve } from "node:path";
import type { Connection } from "./connection.js";
import { materializeBlob } from "./io/artifacts.js";
import { canonicalProjectName } from "./options.js";
import {
  type ArtifactJob,
  type ArtifactRecord,
  checkAliases,
  checkArtifactName,
  checkLogicalPath,
  type ManifestEntry,
  parseArtifactSpec,
} from "./shared/artifact.js";
import { fromWire, InvalidArgError } from "./shared/errors.js";
import type { ArtifactTask, WorkerSettings } from "./shared/protocol.js";

export interface LogArtifactOptions {
  /** Unique within the project, `^[A-Za-z0-9._-]+$`. Default: the file's or directory's name. */
  name?: string;
  /** A free-form category such as "model" or "dataset". Default "unspecified", as Python's. */
  type?: string;
  /** Aliases for this version (`latest` moves by itself); not of the form `v<N>`. */
  aliases?: string[];
  description?: string;
  /** JSON-serializable metadata stored with the version. */
  metadata?: Record<string, unknown>;
}

/** Python's `sorted()` of names: by code point (JavaScript's sort compares UTF-16 units). */
function byCodePoint(a: string, b: string): number {
  const x = [...a].map((c) => c.codePointAt(0) as number);
  const y = [...b].map((c) => c.codePointAt(0) as number);
  for (let i = 0; i < Math.min(x.length, y.length); i++) if (x[i] !== y[i]) return x[i] - y[i];
  return x.length - y.length;
}

/** Every regular file under `root`, as os.walk(followlinks=False) with sorted names: links are skipped. */
function walk(root: string, prefix: string, out: ArtifactJob["files"], call: string): void {
  const entries = readdirSync(root).sort(byCodePoint);
  const dirs: string[] = [];
  for (const name of entries) {
    const path = join(root, name);
    const st = lstatSync(path);
    if (st.isDirectory()) dirs.push(name);
    else if (st.isFile()) out.push({ path, logical: checkLogicalPath(`${prefix}${name}`, call) });
  }
  for (const name of dirs) walk(join(root, name), `${prefix}${name}/`, out, call);
}

/** Python's `Path(p).name`: the last segment, "" for ".". */
function pathName(p: string): string {
  const last = p.replace(/\/+$/, "").split("/").pop() ?? "";
  return last === "." ? "" : last;
}

/** The job for `logArtifact(pathOrDir, options)`, or a typed error naming what is wrong. */
export function artifactJob(pathOrDir: unknown, options: LogArtifactOptions, project: string): ArtifactJob {
  const call = "logArtifact()";
  if (typeof pathOrDir !== "string" || pathOrDir === "") {
    throw new InvalidArgError(`${call}: pass the path of a file or a directory`);
  }
  if (typeof options !== "object" || options === null) throw new InvalidArgError(`${call}: options must be an object`);
  const name = checkArtifactName(options.name ?? pathName(pathOrDir), call);
  const type = options.type ?? "unspecified";
  if (typeof type !== "string" || type === "") throw new InvalidArgError(`${call}: type must be a non-empty string`);
  const aliases = checkAliases(options.aliases, call);
  if (options.description !== undefined && typeof options.description !== "string") {
    throw new InvalidArgError(`${call}: description must be a string`);
  }
  const metadata = options.metadata ?? null;
  if (metadata !== null && (typeof metadata !== "object" || Array.isArray(metadata))) {
    throw new InvalidArgError(`${call}: metadata must be a plain object`);
  }
  if (metadata !== null) {
    try {
      JSON.stringify(metadata);
    } catch (err) {
      throw new InvalidArgError(`${call}: metadata is not JSON-serializable: ${(err as Error).message}`);
    }
  }
  let st: ReturnType<typeof statSync>;
  try {
    st = statSync(pathOrDir);
  } catch {
    throw new InvalidArgError(`${call}: ${pathOrDir} does not exist`);
  }
  const files: ArtifactJob["files"] = [];
  if (st.isDirectory()) {
    walk(resolve(pathOrDir), "", files, call);
    if (files.length === 0) throw new InvalidArgError(`${call}: the directory ${pathOrDir} holds no regular file`);
  } else if (st.isFile()) {
    const real = realpathSync(pathOrDir);
    files.push({ path: real, logical: checkLogicalPath(pathName(real), call) });
  } else {
    throw new InvalidArgError(`${call}: ${pathOrDir} is neither a regular file nor a directory`);
  }
  return { project, name, type, description: options.description ?? null, metadata, aliases, files };
}

/** Where an artifact's blobs are served: the server's origin and base path. */
export interface ArtifactServer {
  origin: string;
  basePath: string;
  timeoutMs: number;
}

/** A logged or used artifact version, as Python's `Artifact` after log_artifact / use_artifact. */
export class Artifact {
  readonly name: string;
  readonly type: string;
  /** `"v<N>"`. */
  readonly version: string;
  readonly aliases: readonly string[];
  readonly description: string | null;
  readonly metadata: Readonly<Record<string, unknown>>;
  /** One entry per file: its path inside the artifact, sha256 and size. */
  readonly manifest: readonly Readonly<ManifestEntry>[];
  /** The server's digest of the manifest (identical content is the same version). */
  readonly digest: string;
  /** Bytes over all files. */
  readonly size: number;
  readonly project: string;
  readonly #server: ArtifactServer;
  readonly #versionNumber: number;

  /** @internal */
  constructor(record: ArtifactRecord, project: string, server: ArtifactServer) {
    this.name = record.name;
    this.type = record.type;
    this.#versionNumber = record.version;
    this.version = `v${record.version}`;
    this.aliases = Object.freeze([...record.aliases]);
    this.description = record.description;
    this.metadata = Object.freeze({ ...(record.metadata ?? {}) });
    this.manifest = Object.freeze(record.manifest.map((e) => Object.freeze({ ...e })));
    this.digest = record.manifest_digest;
    this.size = record.size_bytes;
    this.project = project;
    this.#server = server;
  }

  /** `"<project>/<name>:v<N>"`. */
  get qualifiedName(): string {
    return `${this.project}/${this.name}:${this.version}`;
  }

  /**
   * Fetch the files into `root` (default `./.trackio/artifact-downloads/<project>/<name>_v<N>/`,
   * as Python's download()), each checked against its digest; files already there with the
   * same content are left alone. Resolves to the directory's absolute path.
   */
  async download(root?: string): Promise<string> {
    const project = canonicalProjectName(this.project);
    const dir = resolve(
      root ?? join(".trackio", "artifact-downloads", project, `${this.name}_v${this.#versionNumber}`),
    );
    const { origin, basePath, timeoutMs } = this.#server;
    for (const entry of this.manifest) {
      const logical = checkLogicalPath(entry.path, "download()");
      const url = `${origin}${basePath}artifact_blob/${encodeURIComponent(project)}/${entry.digest}`;
      await materializeBlob(url, entry, join(dir, logical), timeoutMs);
    }
    return dir;
  }
}

/** A client's artifact calls, each a worker task (close() waits for those still running: connection.ts). Stateless. */
export class ArtifactCalls {
  constructor(
    private readonly connection: Connection,
    private readonly settings: WorkerSettings,
  ) {}

  log(pathOrDir: string, options: LogArtifactOptions = {}): Promise<Artifact> {
    return this.#run({ op: "artifact", job: artifactJob(pathOrDir, options, this.settings.project) });
  }

  use(spec: string): Promise<Artifact> {
    const { name, spec: version } = parseArtifactSpec(spec, "useArtifact()");
    return this.#run({ op: "use-artifact", project: this.settings.project, name, spec: version });
  }

  #run(task: ArtifactTask): Promise<Artifact> {
    const { origin, basePath, timeoutMs, project } = this.settings;
    return this.connection.artifactTask(task).then((result) => {
      if (!result.ok) throw fromWire(result.error);
      return new Artifact(result.artifact as ArtifactRecord, project, { origin, basePath, timeoutMs });
    });
  }
}
