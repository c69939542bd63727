/** A scripted stand-in for the collector's `POST /api/log/bulk`, and a black hole. */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { createServer as createTcpServer, type Server as TcpServer, type Socket } from "node:net";
import { gunzipSync } from "node:zlib";
import { ROW_COLUMNS } from "../src/sender.js";

export interface Answer {
  status: number;
  headers?: Record<string, string>;
  body?: string;
}

export interface Received {
  at: number;
  headers: IncomingMessage["headers"];
  gzipped: boolean;
  payload: {
    batch_id: string;
    events: Array<Record<string, any>>;
    sdk: { name: string; version: string; attempt: number; dropped: Record<string, number> };
  };
}

/**
 * A rows batch as the collector reads it: one object per row, null fields left out, and the
 * duration and start time also as `duration` (seconds) and `timestamp` (ISO 8601).
 */
function asEvents(payload: any): any {
  if (payload === null || typeof payload !== "object" || !("rows" in payload)) return payload;
  if (JSON.stringify(payload.columns) !== JSON.stringify(ROW_COLUMNS)) throw new Error(`columns ${payload.columns}`);
  const agents: unknown = payload.user_agents;
  if (agents !== undefined && !(Array.isArray(agents) && agents.every((text) => typeof text === "string"))) {
    throw new Error(`user_agents ${JSON.stringify(agents)}`);
  }
  const events = (payload.rows as unknown[][]).map((row) => {
    if (row.length !== ROW_COLUMNS.length) throw new Error(`row of ${row.length} values`);
    const event: Record<string, any> = {};
    ROW_COLUMNS.forEach((name, index) => {
      if (row[index] !== null) event[name] = row[index];
    });
    if (typeof event.user_agent === "number") {
      const text = agents?.[event.user_agent];
      if (text === undefined) throw new Error(`user_agent index ${event.user_agent} of ${JSON.stringify(agents)}`);
      event.user_agent = text;
    }
    if (!Number.isInteger(event.duration_ns) || !Number.isInteger(event.timestamp_ns)) {
      throw new Error(`times are not integers: ${event.duration_ns} ${event.timestamp_ns}`);
    }
    event.duration = event.duration_ns / 1e9;
    event.timestamp = new Date(event.timestamp_ns / 1e6).toISOString();
    return event;
  });
  return { ...payload, events };
}

export class FakeCollector {
  readonly received: Received[] = [];
  readonly script: Answer[] = [];
  responder: ((request: Received) => Answer) | null = null;
  readonly stored: Array<Record<string, any>> = [];
  readonly storedBatches = new Set<string>();
  readonly droppedTotals: Record<string, number> = {};
  url = "";
  private server: Server;

  private constructor() {
    this.server = createServer((req, res) => this.handle(req, res));
    this.server.keepAliveTimeout = 100;
  }

  static async start(port = 0): Promise<FakeCollector> {
    const collector = new FakeCollector();
    await new Promise<void>((resolve) => collector.server.listen(port, "127.0.0.1", resolve));
    const address = collector.server.address();
    if (address === null || typeof address === "string") throw new Error("no port");
    collector.url = `http://127.0.0.1:${address.port}`;
    return collector;
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const chunks: Buffer[] = [];
    req.on("data", (chunk: Buffer) => chunks.push(chunk));
    req.on("end", () => {
      const raw = Buffer.concat(chunks);
      const gzipped = req.headers["content-encoding"] === "gzip";
      const payload = asEvents(JSON.parse((gzipped ? gunzipSync(raw) : raw).toString("utf8")));
      const record: Received = { at: performance.now(), headers: req.headers, gzipped, payload };
      this.received.push(record);
      let answer = this.script.shift() ?? this.responder?.(record) ?? { status: 202 };
      if (answer.status >= 200 && answer.status < 300 && answer.body === undefined) {
        answer = { ...answer, body: this.store(record.payload) };
      }
      res.writeHead(answer.status, { "content-type": "application/json", ...answer.headers });
      res.end(answer.body ?? "");
    });
  }

  private store(payload: Received["payload"]): string {
    if (this.storedBatches.has(payload.batch_id)) {
      return JSON.stringify({ accepted: 0, duplicates: payload.events.length, rejected: [] });
    }
    this.storedBatches.add(payload.batch_id);
    this.stored.push(...payload.events);
    for (const [reason, count] of Object.entries(payload.sdk?.dropped ?? {})) {
      this.droppedTotals[reason] = (this.droppedTotals[reason] ?? 0) + count;
    }
    return JSON.stringify({ accepted: payload.events.length, duplicates: 0, rejected: [] });
  }

  /** Requests that carried events (a timer tick may also send a counters-only report). */
  get batches(): Received[] {
    return this.received.filter((r) => r.payload.events.length > 0);
  }

  async waitFor(predicate: () => boolean, timeoutMs = 10_000): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    while (!predicate()) {
      if (Date.now() > deadline) return false;
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    return true;
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

/** Accepts TCP connections and never answers (a hung collector). */
export class BlackHole {
  url = "";
  private sockets: Socket[] = [];
  private server: TcpServer = createTcpServer((socket) => {
    this.sockets.push(socket);
    socket.on("error", () => undefined);
  });

  static async start(): Promise<BlackHole> {
    const hole = new BlackHole();
    await new Promise<void>((resolve) => hole.server.listen(0, "127.0.0.1", resolve));
    const address = hole.server.address();
    if (address === null || typeof address === "string") throw new Error("no port");
    hole.url = `http://127.0.0.1:${address.port}`;
    return hole;
  }

  async close(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

export async function freePort(): Promise<number> {
  const server = createTcpServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (address === null || typeof address === "string") throw new Error("no port");
  return address.port;
}

export const API_KEY = "wwwtest_0123456789abcdefSECRETSECRET";

export function silentLogger() {
  const lines: Array<{ level: "warn" | "error"; message: string }> = [];
  return {
    lines,
    warn: (message: string) => lines.push({ level: "warn", message }),
    error: (message: string) => lines.push({ level: "error", message }),
  };
}
