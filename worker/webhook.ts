// Alerts posted to a webhook as Trackio's Python client posts them (trackio/alerts.py,
// send_webhook): Slack URLs get Slack blocks, Discord URLs a Discord embed, any other URL a
// plain JSON object, serialized as Python's json.dumps does. The worker posts an alert when it
// reads it from the ring, never on the thread that called alert(); as in Python, a post that
// fails is reported (a warning) and not retried.

import { request } from "undici";
import { isoTimestamp } from "../src/io/bodies.js";
import { ALERT_LEVELS, type AlertLevel } from "../src/shared/protocol.js";

/** Python's urlopen(timeout=10). */
const TIMEOUT_MS = 10_000;

const EMOJI: Record<AlertLevel, string> = { info: "ℹ️", warn: "⚠️", error: "🚨" };
const DISCORD_COLOR: Record<AlertLevel, number> = { info: 3447003, warn: 16776960, error: 15158332 };

export interface WebhookAlert {
  level: AlertLevel;
  title: string;
  text: string | null;
  project: string;
  run: string;
  step: number;
  /** ISO 8601 with microseconds and `+00:00`, as the alert is stored. */
  timestamp: string;
}

type Json = string | number | null | Json[] | { [key: string]: Json };

/** The body Python's send_webhook builds for `url`. */
export function webhookPayload(url: string, a: WebhookAlert): Json {
  const level = a.level.toUpperCase();
  const where = `Project: ${a.project}  •  Run: ${a.run}  •  Step ${a.step}`;
  if (url.includes("hooks.slack.com")) {
    const blocks: Json[] = [
      { type: "section", text: { type: "mrkdwn", text: `${EMOJI[a.level]} *[${level}] ${a.title}*` } },
    ];
    if (a.text) blocks.push({ type: "section", text: { type: "mrkdwn", text: a.text } });
    blocks.push({ type: "context", elements: [{ type: "mrkdwn", text: where }] });
    return { blocks };
  }
  if (url.includes("discord.com/api/webhooks") || url.includes("discordapp.com/api/webhooks")) {
    const embed: { [key: string]: Json } = {
      title: `${EMOJI[a.level]} [${level}] ${a.title}`,
      color: DISCORD_COLOR[a.level],
      footer: { text: where },
    };
    if (a.text) embed.description = a.text;
    return { embeds: [embed] };
  }
  return {
    level: a.level,
    title: a.title,
    text: a.text,
    project: a.project,
    run: a.run,
    step: a.step,
    timestamp: a.timestamp,
  };
}

/**
 * JSON text as Python's `json.dumps` writes it by default: `", "` and `": "` between items,
 * every character outside printable ASCII escaped as `\uXXXX`.
 */
export function pythonJson(value: Json): string {
  if (typeof value === "string")
    return JSON.stringify(value).replace(/[^\x20-\x7e]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`);
  if (typeof value === "number" || value === null) return JSON.stringify(value);
  if (Array.isArray(value)) return `[${value.map(pythonJson).join(", ")}]`;
  return `{${Object.entries(value)
    .map(([k, v]) => `${pythonJson(k)}: ${pythonJson(v)}`)
    .join(", ")}}`;
}

export class Webhook {
  readonly #url: string;
  readonly #minLevel: number;
  readonly #project: string;
  readonly #run: string;
  readonly #onWarning: (message: string) => void;
  readonly #pending = new Set<Promise<void>>();

  constructor(
    url: string,
    minLevel: AlertLevel | null,
    project: string,
    run: string,
    onWarning: (message: string) => void,
  ) {
    this.#url = url;
    this.#minLevel = minLevel === null ? 0 : ALERT_LEVELS.indexOf(minLevel);
    this.#project = project;
    this.#run = run;
    this.#onWarning = onWarning;
  }

  /** Post one alert record (`{"title","text","level"}`, as alert() wrote it) unless its level is below the minimum. */
  post(alertJson: string, step: number, time: number): void {
    const { title, text, level } = JSON.parse(alertJson) as { title: string; text: string | null; level: AlertLevel };
    if (ALERT_LEVELS.indexOf(level) < this.#minLevel) return;
    const alert = { level, title, text, project: this.#project, run: this.#run, step, timestamp: isoTimestamp(time) };
    const sent = this.#send(pythonJson(webhookPayload(this.#url, alert))).finally(() => this.#pending.delete(sent));
    this.#pending.add(sent);
  }

  /** Resolves once every post made so far has been answered or has failed (each within 10 s). */
  async settled(): Promise<void> {
    while (this.#pending.size > 0) await Promise.all(this.#pending);
  }

  async #send(body: string): Promise<void> {
    try {
      const res = await request(this.#url, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body,
        headersTimeout: TIMEOUT_MS,
        bodyTimeout: TIMEOUT_MS,
        signal: AbortSignal.timeout(TIMEOUT_MS),
      });
      await res.body.dump();
      if (res.statusCode >= 300) throw new Error(`HTTP ${res.statusCode}`);
    } catch (err) {
      // The webhook URL is a credential (Slack's and Discord's are): name its host only.
      const host = new URL(this.#url).host;
      this.#onWarning(`could not post an alert to the webhook at ${host}: ${(err as Error).message}`);
    }
  }
}
