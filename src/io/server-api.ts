// What the transport talks to once discovery has found the server: Trackio's HTTP API
// (0.24 and newer) or its Gradio app (0.23 and older). Retries, the connection pool and
// errors stay in the transport; a protocol only says how a call is made.

/** A JSON request body: text, or its UTF-8 bytes (batch bodies are built as bytes, see bodies.ts). */
export type Body = string | Uint8Array;

export interface ServerApi {
  readonly protocol: "http" | "gradio";
  /** The GET path that answers 200 while the server is up. */
  readonly probePath: string;
  /** Call `api/<name>` with a JSON body; resolves to the text the HTTP API answers. */
  post(name: string, body: Body): Promise<string>;
  /** Why this server cannot take media files, or null when it can. */
  readonly mediaRefusal: string | null;
  /** Why this server cannot take artifacts, or null when it can. */
  readonly artifactRefusal: string | null;
}
