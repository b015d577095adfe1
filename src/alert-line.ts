// The line alert() prints to stderr: Trackio's Python client's (alerts.format_alert_terminal),
// with its colors only on a terminal, so that logs piped to a file stay plain.

import type { AlertLevel } from "./shared/protocol.js";

const COLORS = { info: "\x1b[94m", warn: "\x1b[93m", error: "\x1b[91m" } as const;

export function alertLine(level: AlertLevel, title: string, text: string | null | undefined, step: number): string {
  const color = process.stderr.isTTY ? COLORS[level] : "";
  const reset = color === "" ? "" : "\x1b[0m";
  const tag = `${color}[TRACKIO ${level.toUpperCase()}]${reset}`;
  return text ? `${tag} ${title}: ${text} (step ${step})` : `${tag} ${title} (step ${step})`;
}
