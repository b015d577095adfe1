// Capturing what the client writes to process.stderr (its run-name line, alert echo and
// close() summary), in the test's own process.

/** What `fn` wrote to process.stderr (the client writes its lines there). */
export async function stderrOf(fn: () => unknown): Promise<string> {
  const write = process.stderr.write;
  let text = "";
  process.stderr.write = ((chunk: string | Uint8Array) => {
    text += typeof chunk === "string" ? chunk : Buffer.from(chunk).toString("utf8");
    return true;
  }) as typeof process.stderr.write;
  try {
    await fn();
  } finally {
    process.stderr.write = write;
  }
  return text;
}
