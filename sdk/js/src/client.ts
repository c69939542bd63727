import { randomUUID } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import { isIP } from "node:net";
import { EventBuffer, type LogEvent, Stats } from "./buffer.js";
import { type Config, type ConsumerValue, ConfigError, envEnabled, resolveConfig, type WhoWhyWhenOptions } from "./config.js";
import { logLimited } from "./log.js";
import { Sender } from "./sender.js";
import { fetchTransport, type Transport } from "./transport.js";

const CONSUMER = Symbol.for("whowhywhen.consumer");
const EXCEPTION = Symbol.for("whowhywhen.exception");
const MAX_URL = 8192;
const MAX_UA = 1024;
const MAX_ROUTE = 2048;
const MAX_NAME = 256;

type Tagged = IncomingMessage & {
  [CONSUMER]?: [string, string | null];
  [EXCEPTION]?: string;
};

/**
 * Attribute the current request to an API consumer (a customer, an app, a key).
 *
 * ```ts
 * app.get("/orders", (req, res) => {
 *   setConsumer(req, req.user.orgId, req.user.orgName);
 *   res.json(orders);
 * });
 * ```
 */
export function setConsumer(req: IncomingMessage, id: string | number, name?: string | null): void {
  if (id === undefined || id === null || String(id) === "") return;
  (req as Tagged)[CONSUMER] = [String(id).slice(0, MAX_NAME), name == null ? null : String(name).slice(0, MAX_NAME)];
}

/** Note the error a handler raised, so the request is reported with its type. */
export function recordException(req: IncomingMessage, error: unknown): void {
  const name =
    error instanceof Error
      ? error.constructor?.name && error.constructor.name !== "Error"
        ? error.constructor.name
        : error.name
      : typeof error;
  (req as Tagged)[EXCEPTION] = String(name).slice(0, MAX_NAME);
}

function consumerPair(value: ConsumerValue): [string, string | null] | undefined {
  if (value === undefined || value === null || value === "") return undefined;
  let id: unknown;
  let name: unknown = null;
  if (Array.isArray(value)) {
    [id, name = null] = value as readonly unknown[];
  } else if (typeof value === "object") {
    id = (value as { id: unknown }).id;
    name = (value as { name?: unknown }).name ?? null;
  } else {
    id = value;
  }
  if (id === undefined || id === null || String(id) === "") return undefined;
  return [String(id).slice(0, MAX_NAME), name == null ? null : String(name).slice(0, MAX_NAME)];
}

function stripMapped(address: string): string {
  return address.startsWith("::ffff:") && isIP(address.slice(7)) === 4 ? address.slice(7) : address;
}

/** The framework-agnostic core every adapter shares: config, buffer and sender. */
export class Client {
  readonly stats = new Stats();
  readonly buffer: EventBuffer;
  private sender: Sender | null = null;
  private readonly transport: Transport;

  constructor(
    readonly config: Config,
    transport?: Transport,
  ) {
    this.buffer = new EventBuffer(config.maxQueueSize, config.maxQueueBytes, this.stats);
    this.transport = transport ?? fetchTransport(config.endpoint, config.apiKey);
    liveClients.add(this);
  }

  shouldCapture(method: string, path: string): boolean {
    const { config } = this;
    if (config.excludeMethods.has(method) || config.exclude.test(path)) return false;
    return config.sampleRate >= 1 || Math.random() < config.sampleRate;
  }

  /** The client address, read from `X-Forwarded-For` only when the peer is trusted. */
  clientIp(peer: string | undefined, forwardedFor: string | string[] | undefined): string | undefined {
    const address = peer === undefined ? undefined : stripMapped(peer);
    if (!forwardedFor || address === undefined || !this.isTrusted(address)) return address;
    const hops = (Array.isArray(forwardedFor) ? forwardedFor.join(",") : forwardedFor)
      .split(",")
      .map((hop) => hop.trim())
      .filter(Boolean);
    if (this.config.trustAll) return hops[0] ?? address;
    for (let i = hops.length - 1; i >= 0; i -= 1) {
      const hop = hops[i] as string;
      if (!this.isTrusted(hop)) return hop;
    }
    return hops[0] ?? address;
  }

  private isTrusted(ip: string): boolean {
    const { trustAll, trusted } = this.config;
    if (trustAll) return true;
    if (trusted === null) return false;
    const family = isIP(ip);
    if (family === 0) return false;
    return trusted.check(ip, family === 4 ? "ipv4" : "ipv6");
  }

  consumer(req: IncomingMessage): [string, string | null] | undefined {
    const tagged = (req as Tagged)[CONSUMER];
    if (tagged) return tagged;
    const callback = this.config.consumer;
    if (!callback) return undefined;
    try {
      return consumerPair(callback(req));
    } catch (error) {
      logLimited(this.config.logger, "consumer", "warn", `WhoWhyWhen consumer callback threw: ${String(error)}`);
      return undefined;
    }
  }

  /** Queue one event: never throws, never does network I/O. */
  capture(event: Omit<LogEvent, "id">): void {
    try {
      const full: LogEvent = { id: randomUUID(), ...event };
      if (full.url.length > MAX_URL) full.url = full.url.slice(0, MAX_URL);
      if (full.user_agent !== undefined && full.user_agent.length > MAX_UA) {
        full.user_agent = full.user_agent.slice(0, MAX_UA);
      }
      if (full.route !== undefined && full.route.length > MAX_ROUTE) {
        full.route = full.route.slice(0, MAX_ROUTE);
      }
      const data = JSON.stringify(full);
      this.sender ??= new Sender(this.config, this.buffer, this.stats, this.transport);
      installExitFlush();
      this.buffer.push(data, data.length);
    } catch (error) {
      logLimited(this.config.logger, "capture", "warn", `WhoWhyWhen could not record a request: ${String(error)}`);
    }
  }

  /** Send everything queued now; resolves true when it was all delivered in time. */
  flush(timeoutMs = this.config.shutdownTimeoutMs): Promise<boolean> {
    if (!this.sender) return Promise.resolve(this.buffer.length === 0);
    return this.sender.flush(timeoutMs);
  }

  /**
   * Deliver what is queued within `timeoutMs` (default `shutdownTimeoutMs`, 5 s) and stop the
   * timers; the next captured request starts a new sender. Never rejects.
   */
  async shutdown(timeoutMs = this.config.shutdownTimeoutMs): Promise<void> {
    const sender = this.sender;
    this.sender = null;
    if (sender) await sender.shutdown(timeoutMs);
  }
}

const liveClients = new Set<Client>();
let exitFlushInstalled = false;
let exiting = false;

/** When the event loop empties (e.g. after `server.close()`), deliver what is still queued. */
function installExitFlush(): void {
  if (exitFlushInstalled) return;
  exitFlushInstalled = true;
  process.on("beforeExit", () => {
    const busy = [...liveClients].filter((client) => client.buffer.length > 0);
    if (exiting || busy.length === 0) return;
    exiting = true;
    void Promise.all(busy.map((client) => client.shutdown())).finally(() => {
      exiting = false;
    });
  });
}

/** Build the client for an adapter, or null (logged once) when disabled or misconfigured. */
export function createClient(options: WhoWhyWhenOptions = {}, transport?: Transport): Client | null {
  const logger = options.logger ?? console;
  if (options.enabled === false || !envEnabled()) return null;
  try {
    return new Client(resolveConfig(options), transport);
  } catch (error) {
    const reason = error instanceof ConfigError ? error.message : `invalid configuration (${String(error)})`;
    try {
      logger.warn(`WhoWhyWhen disabled: ${reason}`);
    } catch {
      // ignore a broken logger
    }
    return null;
  }
}

/** Send what every WhoWhyWhen middleware in this process has queued. */
export async function flush(timeoutMs = 5000): Promise<boolean> {
  const results = await Promise.all([...liveClients].map((client) => client.flush(timeoutMs)));
  return results.every(Boolean);
}

/** Flush and stop every WhoWhyWhen middleware in this process within `timeoutMs`. */
export async function shutdown(timeoutMs = 5000): Promise<void> {
  await Promise.all([...liveClients].map((client) => client.shutdown(timeoutMs)));
}

export function takeException(req: IncomingMessage): string | undefined {
  return (req as Tagged)[EXCEPTION];
}

export interface TrackOptions {
  /** Express: read the route template from `req.baseUrl + req.route.path`. */
  express?: boolean;
  /** Capture on the next turn, so an error thrown just after responding is noted first. */
  defer?: boolean;
}

function byteLength(chunk: unknown, encoding?: unknown): number {
  if (typeof chunk === "string") {
    return Buffer.byteLength(chunk, typeof encoding === "string" ? (encoding as BufferEncoding) : "utf8");
  }
  if (chunk instanceof Uint8Array) return chunk.byteLength;
  return 0;
}

type ExpressRequest = IncomingMessage & {
  originalUrl?: string;
  baseUrl?: string;
  route?: { path?: unknown };
};

/** Watch one request/response pair and capture it once the response has been sent. */
export function track(client: Client, req: IncomingMessage, res: ServerResponse, options: TrackOptions = {}): void {
  const method = req.method ?? "GET";
  const raw = (req as ExpressRequest).originalUrl ?? req.url ?? "/";
  const query = raw.indexOf("?");
  if (!client.shouldCapture(method, query === -1 ? raw : raw.slice(0, query))) return;
  const userAgent = req.headers["user-agent"];
  if (userAgent?.startsWith("whowhywhen-")) return;
  const started = performance.now();
  const timestamp = new Date().toISOString();
  let sent = 0;
  const write = res.write;
  const end = res.end;
  res.write = function (this: ServerResponse, chunk: unknown, ...rest: unknown[]) {
    sent += byteLength(chunk, rest[0]);
    return (write as (...args: unknown[]) => boolean).call(this, chunk, ...rest);
  } as ServerResponse["write"];
  res.end = function (this: ServerResponse, chunk?: unknown, ...rest: unknown[]) {
    if (typeof chunk !== "function") sent += byteLength(chunk, rest[0]);
    return (end as (...args: unknown[]) => ServerResponse).call(this, chunk, ...rest);
  } as ServerResponse["end"];

  let done = false;
  const finish = () => {
    if (done) return;
    done = true;
    const duration = (performance.now() - started) / 1000;
    if (options.defer) setImmediate(record, duration);
    else record(duration);
  };
  const record = (duration: number) => {
    try {
      let route: string | undefined;
      if (options.express) {
        const express = req as ExpressRequest;
        const path = express.route?.path;
        if (path !== undefined && path !== null) route = `${express.baseUrl ?? ""}${String(path)}`;
      }
      const host = req.headers.host ?? "localhost";
      const scheme = (req.socket as { encrypted?: boolean } | null)?.encrypted ? "https" : "http";
      const length = Number(req.headers["content-length"]);
      const consumer = client.consumer(req);
      const event: Omit<LogEvent, "id"> = {
        url: `${scheme}://${host}${raw}`,
        method,
        status_code: res.writableFinished || res.headersSent ? res.statusCode : 499,
        duration,
        timestamp,
      };
      if (userAgent !== undefined) event.user_agent = userAgent;
      const ip = client.clientIp(req.socket?.remoteAddress, req.headers["x-forwarded-for"]);
      if (ip !== undefined) event.ip_address = ip;
      if (route !== undefined) event.route = route;
      if (Number.isFinite(length)) event.request_size = length;
      event.response_size = sent;
      const exception = takeException(req);
      if (exception !== undefined) event.exception = exception;
      if (consumer) {
        event.consumer = consumer[0];
        if (consumer[1] !== null) event.consumer_name = consumer[1];
      }
      client.capture(event);
    } catch (error) {
      logLimited(client.config.logger, "capture", "warn", `WhoWhyWhen could not record a request: ${String(error)}`);
    }
  };
  res.once("finish", finish);
  res.once("close", finish);
}
