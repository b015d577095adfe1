// A line of progress on stderr, as npm shows one: on a terminal, rewritten in place every
// second; otherwise a new line every 5 s, so that a log file is not flooded. The first line
// comes one interval after start(), so a task that ends sooner prints nothing.

export const PROGRESS_EVERY_MS = { tty: 1000, lines: 5000 };

export class ProgressLine {
  readonly #out: NodeJS.WritableStream;
  readonly #tty: boolean;
  readonly #text: () => string | null;
  #timer: NodeJS.Timeout | null = null;
  #lineOpen = false;
  // Node prints a warning to stderr after the listeners that came before its own: this one
  // goes first, so that the warning starts on a line of its own, not after the progress.
  readonly #onWarning = () => this.clear();

  /** `text`: the line as it stands now (without a newline); null skips a turn. */
  constructor(out: NodeJS.WritableStream, tty: boolean, text: () => string | null) {
    this.#out = out;
    this.#tty = tty;
    this.#text = text;
  }

  start(): this {
    if (this.#timer !== null) return this;
    this.#timer = setInterval(() => this.#tick(), this.#tty ? PROGRESS_EVERY_MS.tty : PROGRESS_EVERY_MS.lines);
    // Progress never keeps a process alive.
    this.#timer.unref();
    if (this.#tty) process.prependListener("warning", this.#onWarning);
    return this;
  }

  /** Stop, and clear the line being rewritten, at the end. */
  stop(): void {
    if (this.#timer !== null) clearInterval(this.#timer);
    this.#timer = null;
    process.off("warning", this.#onWarning);
    this.clear();
  }

  /** Clear the line being rewritten before other output (the next turn writes it again). */
  clear(): void {
    if (this.#lineOpen) this.#out.write("\r\x1b[2K");
    this.#lineOpen = false;
  }

  get running(): boolean {
    return this.#timer !== null;
  }

  #tick(): void {
    const text = this.#text();
    if (text === null) return;
    if (this.#tty) {
      this.#out.write(`\r\x1b[2K${text}`);
      this.#lineOpen = true;
    } else {
      this.#out.write(`${text}\n`);
    }
  }
}

/** Whether a stream is a terminal (where a line can be rewritten in place). */
export function isTty(stream: NodeJS.WritableStream): boolean {
  return (stream as { isTTY?: boolean }).isTTY === true;
}
