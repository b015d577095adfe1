// The files behind Image, Audio, Video and Html values, in the worker: turning a MEDIA record
// into the bytes of its file (reading a path, encoding pixels to PNG and samples to WAV,
// wrapping an HTML fragment), and keeping files on disk when they cannot be uploaded:
//   - the spool: `<spoolDir>/media/<id>.bin` with `<id>.json` beside it (where the file goes
//     on the server), both written under a temporary name and renamed, the .json last, so
//     a reader never sees a half-written pair; replayed like record fragments;
//   - local mode: straight into Trackio's media directory (`$TRACKIO_DIR/media/<file_path>`),
//     where a Trackio server on this machine serves it, as Python's client writes it.

import { readFileSync, renameSync, statSync, unlinkSync, writeFileSync } from "node:fs";
import { readFile, stat } from "node:fs/promises";
import { dirname, join, posix } from "node:path";
import type { MediaDesc } from "../shared/codec.js";
import { SAMPLE_ARRAYS, type SampleType } from "../shared/samples.js";
import { MIME } from "../shared/sniff.js";
import { encodePng, encodeWav } from "./encode.js";
import { ensureDir, isDanglingLink, listJsonEntries } from "./spool.js";

/** One media file to deliver: a MEDIA record as the worker read it. */
export interface MediaJob {
  /** Unique per client and record, like a log_id; names the spooled files. */
  id: string;
  step: number;
  desc: MediaDesc;
  payload: Uint8Array | null;
}

/** Where an uploaded file goes: the fields of a `bulk_upload_media` entry. */
export interface MediaTarget {
  project: string;
  run: string;
  run_id: string;
  step: number;
  /** `<canonical project>/<run>/<step>/<name>`, as the logged record references it. */
  file_path: string;
}

export interface MediaFile {
  name: string;
  contentType: string;
  bytes: Uint8Array;
  /** Set when a file given by path changed between the value's creation and its reading. */
  changed?: string;
}

export function fileName(filePath: string): string {
  return posix.basename(filePath);
}

export function contentTypeOf(name: string): string {
  const ext = name.slice(name.lastIndexOf(".") + 1).toLowerCase();
  return MIME[ext] ?? "application/octet-stream";
}

const HTML_STYLE =
  ":root{color-scheme:light dark;}body{margin:0;padding:12px;font-family:system-ui,-apple-system,sans-serif;}img,svg{max-width:100%;height:auto;}";

/** Python's `TrackioHtml._maybe_wrap`: a fragment becomes a small styled document. */
export function wrapHtml(html: string): string {
  const head = html.trimStart().toLowerCase();
  if (head.startsWith("<!doctype") || head.startsWith("<html")) return html;
  return `<!doctype html><html><head><meta charset="utf-8"><style>${HTML_STYLE}</style></head><body>${html}</body></html>`;
}

function encode(desc: MediaDesc, raw: Uint8Array): Uint8Array {
  switch (desc.src) {
    case "pixels":
      return encodePng(raw, desc.width as number, desc.height as number, desc.channels as 1 | 2 | 3 | 4);
    case "samples": {
      const Cls = SAMPLE_ARRAYS[desc.dtype as SampleType];
      // A fresh, aligned copy: the payload may start at any byte offset.
      const copy = raw.slice();
      const samples = new Cls(copy.buffer, 0, copy.byteLength / Cls.BYTES_PER_ELEMENT);
      return encodeWav(samples, desc.sampleRate as number, desc.channels as number);
    }
    default:
      if (desc.type === "html" && desc.inject === true) {
        return Buffer.from(wrapHtml(Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength).toString("utf8")), "utf8");
      }
      return raw;
  }
}

function fileOf(job: MediaJob, bytes: Uint8Array): MediaFile {
  const name = fileName(job.desc.file);
  return { name, contentType: contentTypeOf(name), bytes };
}

/** The bytes of the job's file. Rejects when a path cannot be read. */
export async function materialize(job: MediaJob): Promise<MediaFile> {
  if (job.payload !== null) return fileOf(job, encode(job.desc, job.payload));
  const path = job.desc.path as string;
  const before = await stat(path);
  const file = fileOf(job, encode(job.desc, await readFile(path)));
  file.changed = changedSince(job.desc, before);
  return file;
}

/** The same, synchronously (exit deadlines). Throws when a path cannot be read. */
export function materializeSync(job: MediaJob): MediaFile {
  if (job.payload !== null) return fileOf(job, encode(job.desc, job.payload));
  const path = job.desc.path as string;
  const before = statSync(path);
  const file = fileOf(job, encode(job.desc, readFileSync(path)));
  file.changed = changedSince(job.desc, before);
  return file;
}

// Python copies a file when it is logged; here the worker reads it later, so a file rewritten
// in between (a plot saved under the same name every epoch) would be stored silently wrong.
function changedSince(desc: MediaDesc, now: { size: number; mtimeMs: number }): string | undefined {
  if (desc.size === undefined || (now.size === desc.size && now.mtimeMs === desc.mtimeMs)) return undefined;
  return `${desc.path} changed between new ${capitalize(desc.type)}() and the worker reading it (${desc.size} → ${now.size} bytes); the server stores it as it is now, which may not be what step ${desc.file.split("/").at(-2)} showed. Keep the file unchanged until flush() resolves, or pass its bytes`;
}

function capitalize(word: string): string {
  return word.charAt(0).toUpperCase() + word.slice(1);
}

function writeAtomically(path: string, data: Uint8Array | string): void {
  const tmp = join(dirname(path), `.${posix.basename(path)}.${process.pid}.tmp`);
  writeFileSync(tmp, data);
  renameSync(tmp, path);
}

/** Local mode: the file where Trackio's own client would have written it. */
export function writeToMediaDir(mediaDir: string, target: MediaTarget, file: MediaFile): string {
  const path = join(mediaDir, ...target.file_path.split("/"));
  ensureDir(dirname(path));
  writeAtomically(path, file.bytes);
  return path;
}

function spoolMediaDir(spoolDir: string): string {
  return join(spoolDir, "media");
}

/** Keep a file for a later upload; returns the path of its bytes. */
export function spoolMedia(spoolDir: string, id: string, target: MediaTarget, file: MediaFile): string {
  const dir = spoolMediaDir(spoolDir);
  ensureDir(dir);
  const bin = join(dir, `${id}.bin`);
  writeAtomically(bin, file.bytes);
  writeAtomically(join(dir, `${id}.json`), JSON.stringify({ v: 1, ...target }));
  return bin;
}

/** A spooled file: its target, and the paths of its two files. */
export interface SpooledMedia {
  meta: string;
  bin: string;
}

/** Every complete spooled file under `spoolDir`, oldest id first within each client. */
export function listSpooledMedia(spoolDir: string): SpooledMedia[] {
  const dir = spoolMediaDir(spoolDir);
  return listJsonEntries(dir)
    .sort(bySequence)
    .map((n) => ({ meta: join(dir, n), bin: join(dir, `${n.slice(0, -5)}.bin`) }));
}

// Ids are `<client id>-<sequence>`: numeric order within a client, so files replay in the
// order they were logged.
function bySequence(a: string, b: string): number {
  const [ca, sa] = a.slice(0, -5).split("-");
  const [cb, sb] = b.slice(0, -5).split("-");
  return ca === cb ? Number(sa) - Number(sb) : ca < cb ? -1 : 1;
}

/**
 * The target and bytes of a spooled file; "gone" if another process consumed it meanwhile
 * (the .json goes first, see removeSpooledMedia); "corrupt" if it cannot be read back.
 */
export function readSpooledMedia(
  entry: SpooledMedia,
): { kind: "ok"; target: MediaTarget; file: MediaFile } | { kind: "gone" } | { kind: "corrupt"; reason: string } {
  let text: string;
  try {
    text = readFileSync(entry.meta, "utf8");
  } catch (err) {
    if ((err as { code?: unknown }).code === "ENOENT" && !isDanglingLink(entry.meta)) return { kind: "gone" };
    return { kind: "corrupt", reason: `${entry.meta} cannot be read (${(err as Error).message})` };
  }
  let target: MediaTarget;
  try {
    target = JSON.parse(text) as MediaTarget;
    if (typeof target?.file_path !== "string" || typeof target.project !== "string") throw new Error("fields missing");
  } catch (err) {
    return { kind: "corrupt", reason: `${entry.meta} is not a spooled media entry (${(err as Error).message})` };
  }
  let bytes: Buffer;
  try {
    bytes = readFileSync(entry.bin);
  } catch (err) {
    return { kind: "corrupt", reason: `the bytes of ${entry.meta} cannot be read (${(err as Error).message})` };
  }
  const name = fileName(target.file_path);
  return { kind: "ok", target, file: { name, contentType: contentTypeOf(name), bytes } };
}

export function removeSpooledMedia(entry: SpooledMedia): void {
  for (const path of [entry.meta, entry.bin]) {
    try {
      unlinkSync(path);
    } catch {
      // removed by a concurrent replay
    }
  }
}
