// Comparing stored JSON texts without losing what JSON.parse would: a number is kept as the
// literal text the server wrote (`5` and `5.0`, `0` and `-0.0` differ), strings as the
// strings they denote, and key order does not count. Enough JSON for what orjson writes.

/** The JSON text `text` rewritten with object keys sorted; numbers keep their literal text. */
export function canonicalJson(text: string): string {
  let i = 0;
  const fail = (what: string): never => {
    throw new SyntaxError(`canonicalJson: ${what} at offset ${i} of ${JSON.stringify(text.slice(0, 200))}`);
  };
  const ws = () => {
    while (i < text.length && " \t\n\r".includes(text[i])) i++;
  };
  const str = (): string => {
    const start = i;
    i++;
    while (i < text.length && text[i] !== '"') i += text[i] === "\\" ? 2 : 1;
    if (i >= text.length) fail("unterminated string");
    i++;
    return JSON.parse(text.slice(start, i)) as string;
  };
  const value = (): string => {
    ws();
    const c = text[i];
    if (c === "{") {
      i++;
      const entries: [string, string][] = [];
      ws();
      if (text[i] === "}") i++;
      else
        for (;;) {
          ws();
          if (text[i] !== '"') fail("expected a key");
          const k = str();
          ws();
          if (text[i++] !== ":") fail("expected ':'");
          entries.push([k, value()]);
          ws();
          const d = text[i++];
          if (d === "}") break;
          if (d !== ",") fail("expected ',' or '}'");
        }
      entries.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
      return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${v}`).join(",")}}`;
    }
    if (c === "[") {
      i++;
      const items: string[] = [];
      ws();
      if (text[i] === "]") i++;
      else
        for (;;) {
          items.push(value());
          ws();
          const d = text[i++];
          if (d === "]") break;
          if (d !== ",") fail("expected ',' or ']'");
        }
      return `[${items.join(",")}]`;
    }
    if (c === '"') return JSON.stringify(str());
    const m = /^(?:-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?|true|false|null)/.exec(text.slice(i, i + 400));
    if (m === null) return fail("unexpected token");
    i += m[0].length;
    return m[0];
  };
  const out = value();
  ws();
  if (i !== text.length) fail("trailing text");
  return out;
}
