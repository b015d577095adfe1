// npm run example:agent-otel: a small agent loop instrumented with the OpenTelemetry API, its
// spans exported to Trackio through `trackio/otel` (one trace per question, shown in the
// dashboard's Traces tab). The "model" is a function and the tool a table: no network, no
// keys. Spans carry the GenAI semantic conventions' attributes, as agent SDKs write them.
// Same server rules as the quickstart (TRACKIO_SERVER_URL, or a local Trackio).

import { setTimeout as sleep } from "node:timers/promises";
import { type Context, context, SpanStatusCode, type Tracer, trace } from "@opentelemetry/api";
import { BasicTracerProvider, BatchSpanProcessor } from "@opentelemetry/sdk-trace-base";
import { Client } from "../src/index.js";
import { TrackioSpanExporter } from "../src/otel.js";
import { exampleServer, finish } from "./local-server.js";

interface ToolCall {
  id: string;
  name: string;
  arguments: { city: string };
}
interface Message {
  role: "system" | "user" | "assistant" | "tool";
  content: string | null;
  tool_calls?: ToolCall[];
  tool_call_id?: string;
}

const MODEL = "fake-weather-1";
const STATIONS: Record<string, { sky: string; celsius: number }> = {
  paris: { sky: "rainy", celsius: 14 },
  lisbon: { sky: "sunny", celsius: 24 },
};

/** The tool: a lookup that fails for places it has no station for. */
function weather(city: string): { sky: string; celsius: number } {
  const found = STATIONS[city.toLowerCase()];
  if (found === undefined) throw new Error(`no weather station for ${city}`);
  return found;
}

/** The "model": asks for the weather tool once, then answers from its result. */
async function fakeModel(
  messages: Message[],
): Promise<{ message: Message; inputTokens: number; outputTokens: number }> {
  await sleep(20); // thinking
  const inputTokens = messages.reduce((n, m) => n + Math.ceil((m.content ?? "").length / 4) + 3, 0);
  const last = messages[messages.length - 1];
  let message: Message;
  if (last.role === "user") {
    const city = /(?:in|on the) (\w+)/.exec(last.content ?? "")?.[1] ?? "Paris";
    message = {
      role: "assistant",
      content: null,
      tool_calls: [{ id: `call_${city}`, name: "weather", arguments: { city } }],
    };
  } else {
    const result = JSON.parse(last.content ?? "{}") as { sky?: string; celsius?: number; error?: string };
    message = {
      role: "assistant",
      content: result.error
        ? `Sorry, I could not find out: ${result.error}.`
        : `It is ${result.sky}, ${result.celsius} °C.`,
    };
  }
  return { message, inputTokens, outputTokens: Math.ceil(JSON.stringify(message).length / 4) };
}

/** Messages in the conventions' `gen_ai.input.messages` form (role and parts), as JSON text. */
function conventionMessages(messages: Message[]): string {
  return JSON.stringify(
    messages.map((m) => ({
      role: m.role,
      parts: [
        ...(m.content !== null && m.role !== "tool" ? [{ type: "text", content: m.content }] : []),
        ...(m.role === "tool" ? [{ type: "tool_call_response", id: m.tool_call_id, response: m.content }] : []),
        ...(m.tool_calls ?? []).map((c) => ({ type: "tool_call", id: c.id, name: c.name, arguments: c.arguments })),
      ],
    })),
  );
}

/** One question through the agent loop: a root span, a `chat` span per model call, an `execute_tool` span per tool call. */
async function ask(tracer: Tracer, question: string, conversation: string): Promise<string> {
  const agent = tracer.startSpan("invoke_agent weather-bot", {
    attributes: {
      "gen_ai.operation.name": "invoke_agent",
      "gen_ai.agent.name": "weather-bot",
      "gen_ai.conversation.id": conversation,
    },
  });
  // No context manager is registered: each child names its parent's context.
  const inAgent: Context = trace.setSpan(context.active(), agent);
  const messages: Message[] = [
    { role: "system", content: "You answer weather questions using the weather tool." },
    { role: "user", content: question },
  ];
  try {
    for (let turn = 0; turn < 4; turn++) {
      const chat = tracer.startSpan(
        `chat ${MODEL}`,
        {
          attributes: {
            "gen_ai.operation.name": "chat",
            "gen_ai.provider.name": "fake",
            "gen_ai.request.model": MODEL,
            "gen_ai.input.messages": conventionMessages(messages),
          },
        },
        inAgent,
      );
      const { message, inputTokens, outputTokens } = await fakeModel(messages);
      chat.setAttributes({
        "gen_ai.response.model": `${MODEL}-2026-11`,
        "gen_ai.usage.input_tokens": inputTokens,
        "gen_ai.usage.output_tokens": outputTokens,
        "gen_ai.usage.cost": (inputTokens * 0.5 + outputTokens * 1.5) / 1e6,
        "gen_ai.output.messages": conventionMessages([message]),
      });
      chat.end();
      messages.push(message);
      if (message.tool_calls === undefined) return message.content ?? "";
      for (const call of message.tool_calls) {
        const tool = tracer.startSpan(
          `execute_tool ${call.name}`,
          {
            attributes: {
              "gen_ai.operation.name": "execute_tool",
              "gen_ai.tool.name": call.name,
              "gen_ai.tool.call.id": call.id,
              "gen_ai.tool.call.arguments": JSON.stringify(call.arguments),
            },
          },
          inAgent,
        );
        let result: unknown;
        try {
          await sleep(5);
          result = weather(call.arguments.city);
          tool.setAttribute("gen_ai.tool.call.result", JSON.stringify(result));
        } catch (err) {
          const text = (err as Error).message;
          tool.recordException(err as Error);
          tool.setStatus({ code: SpanStatusCode.ERROR, message: text });
          result = { error: text };
        }
        tool.end();
        messages.push({ role: "tool", tool_call_id: call.id, content: JSON.stringify(result) });
      }
    }
    return "(no answer)";
  } finally {
    agent.end();
  }
}

const { baseUrl, server } = await exampleServer();
const client = new Client({ baseUrl, project: process.env.TRACKIO_PROJECT ?? "agent-otel", quiet: true });
client.on("error", (err) => console.error(`trackio: ${err.code}: ${err.message}`));
// BatchSpanProcessor hands finished spans to the exporter in the background; the exporter
// logs each question's tree (root and children) as one Trackio trace.
const provider = new BasicTracerProvider({
  spanProcessors: [new BatchSpanProcessor(new TrackioSpanExporter(client, { key: "agent" }))],
});
const tracer = provider.getTracer("weather-bot", "1.0.0");

const questions = ["What is the weather in Paris?", "Is it warm in Lisbon?", "What is the weather on the Moon?"];
for (const [i, question] of questions.entries()) {
  console.log(`${question} -> ${await ask(tracer, question, `conversation-${i + 1}`)}`);
}
await provider.shutdown(); // exports the last spans and waits until the server has them
await client.close();
console.log(
  `${questions.length} traces in project "${client.project}", run "${client.run}": see the dashboard's Traces tab at ${client.dashboardUrl}`,
);
await finish(server);
