import { type IncomingMessage, ServerResponse } from "node:http";
import { isIP } from "node:net";
import { type Captured, EventBuffer, type LogEvent, Stats } from "./buffer.js";
import { type Config, type ConsumerValue, ConfigError, envEnabled, resolveConfig, type WhoWhyWhenOptions } from "./config.js";
import { logLimited } from "./log.js";
import { Sender } from "./sender.js";
import { httpTransport, type Transport } from "./transport.js";

const CONSUMER = Symbol.for("whowhywhen.consumer");
const EXCEPTION = Symbol.for("whowhywhen.exception");
const MAX_NAME = 256;
/** What an event's JSON costs beyond its variable strings (id, timestamp, keys, numbers). */
const EVENT_OVERHEAD = 256;

/** A cheap estimate of an event's serialised size, for the buffer's byte cap. */
function estimateSize(event: Captured): number {
  let size = EVENT_OVERHEAD + event.url.length;
  if (event.host !== undefined) size += event.host.length;
  if (event.user_agent !== undefined) size += event.user_agent.length;
  if (event.route !== undefined) size += event.route.length;
  if (event.consumer !== undefined) size += event.consumer.length;
  if (event.consumer_name !== undefined) size += event.consumer_name.length;
  if (event.exception !== undefined) size += event.exception.length;
  return size;
}

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
/** Whether `setConsumer` was ever called: until then, nothing is looked up on `req`. */
let consumersSet = false;

export function setConsumer(req: IncomingMessage, id: string | number, name?: string | null): void {
  if (id === undefined || id === null || String(id) === "") return;
  consumersSet = true;
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
  exceptionsRecorded = true;
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
    this.transport = transport ?? httpTransport(config.endpoint, config.apiKey);
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
    if (consumersSet) {
      const tagged = (req as Tagged)[CONSUMER];
      if (tagged) return tagged;
    }
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
    this.push({
      url: event.url,
      host: undefined,
      https: false,
      method: event.method,
      status_code: event.status_code,
      duration: event.duration,
      started: Number.NaN,
      timestamp: event.timestamp,
      user_agent: event.user_agent,
      ip_address: event.ip_address,
      route: event.route,
      consumer: event.consumer,
      consumer_name: event.consumer_name,
      request_size: event.request_size,
      response_size: event.response_size,
      exception: event.exception,
    });
  }

  /**
   * Queue a captured request: O(1), no serialisation, no I/O. The id, the full URL and the ISO
   * timestamp are made by the sender, just before the event's first send.
   */
  push(event: Captured): void {
    try {
      if (this.sender === null) {
        this.sender = new Sender(this.config, this.buffer, this.stats, this.transport);
        installExitFlush();
      }
      this.buffer.push(event, estimateSize(event));
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

/** Whether `recordException` was ever called: until then, nothing is looked up on `req`. */
let exceptionsRecorded = false;

export function takeException(req: IncomingMessage): string | undefined {
  return (req as Tagged)[EXCEPTION];
}

function byteLength(chunk: unknown, encoding: unknown): number {
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

type Write = (this: ServerResponse, ...args: unknown[]) => unknown;

/**
 * One tracked request: its state while the response is written, and then the captured event
 * itself, pushed to the buffer as is when the response closes. A single object of fixed shape is
 * the only thing the request path allocates. It is found from the response through
 * `ResponseStates` (a property added to an Express response costs ≈ 3.5 µs: Express has changed
 * its prototype, which leaves it without fast property transitions) and holds no reference to
 * the response: as a WeakMap value, one that pointed back into its key's object graph measured
 * ≈ 10 µs more CPU per request under load (the young-generation GC's ephemeron work). The request
 * is `res.req` when the response closes. Each property read on an Express request or response
 * is a full lookup (see `hookClose`), so the request path reads each value it needs once.
 */
class Tracking implements Captured {
  host: string | undefined = undefined;
  https = false;
  status_code = 0;
  duration = 0;
  timestamp: string | undefined = undefined;
  ip_address: string | undefined = undefined;
  route: string | undefined = undefined;
  consumer: string | undefined = undefined;
  consumer_name: string | undefined = undefined;
  request_size: number | undefined = undefined;
  response_size: number | undefined = undefined;
  exception: string | undefined = undefined;
  /** Body bytes seen by the wrappers; only counted when there is no usable Content-Length. */
  sent = 0;
  /** -1 until the first write: then 1 to count bytes, 0 to use `declared` instead. */
  counting = -1;
  /** The response's Content-Length as it was at the first write (headers go out with it). */
  declared: number | string | string[] | undefined = undefined;
  /** Further clients tracking the same response (nested apps, each with its middleware). */
  others: Tracking[] | undefined = undefined;
  /** Set once the response's 'close' has been handled: a second 'close' records nothing. */
  closed = false;

  constructor(
    readonly client: Client,
    /** Only when `res.req` is not the request (never with Node's own server); dropped once recorded. */
    public req: IncomingMessage | undefined,
    /** The request's headers, read once; dropped once recorded. */
    public headers: IncomingMessage["headers"] | undefined,
    readonly url: string,
    readonly method: string,
    readonly user_agent: string | undefined,
    readonly started: number,
    readonly express: boolean,
    readonly defer: boolean,
  ) {}
}

/** How often `ResponseStates` moves the responses still open out of its plain map. */
const ROTATE_MS = 10_000;

/**
 * Each tracked response's `Tracking`, found from the response (see `Tracking` for why not a
 * property on it). A response is in a plain `Map` from `track` until its 'close', which deletes
 * it; every `ROTATE_MS` whatever is still open moves to a `WeakMap`, so a response that never
 * emits 'close' is not kept alive here. Almost every response closes within one period and never
 * touches the `WeakMap`. A `WeakMap` entry per request costs its young key in an old table: the
 * ephemeron write barrier and the set took ≈ 0.7 µs of the request path's CPU under load
 * (`bench/sdk_js_profile.py`), then the scavenger's ephemeron work at every minor GC. Alone, with
 * little else on the heap, a `WeakMap` entry costs 0.13–0.20 µs more than this class
 * (`scripts/response-states.mjs`).
 */
class ResponseStates {
  private open = new Map<ServerResponse, Tracking>();
  private readonly long = new WeakMap<ServerResponse, Tracking>();
  private timer: NodeJS.Timeout | null = null;

  get(res: ServerResponse): Tracking | undefined {
    return this.open.get(res) ?? this.long.get(res);
  }

  set(res: ServerResponse, state: Tracking): void {
    this.open.set(res, state);
    if (this.timer === null) {
      this.timer = setInterval(() => this.rotate(), ROTATE_MS);
      this.timer.unref();
    }
  }

  delete(res: ServerResponse): void {
    if (!this.open.delete(res)) this.long.delete(res);
  }

  /** Move what is still open to the `WeakMap`; with nothing open, stop until the next `set`. */
  rotate(): void {
    if (this.open.size === 0) {
      if (this.timer !== null) clearInterval(this.timer);
      this.timer = null;
      return;
    }
    for (const [res, state] of this.open) this.long.set(res, state);
    this.open = new Map();
  }

  /** Responses in the plain map (tests). */
  get openCount(): number {
    return this.open.size;
  }
}

export const tracked = new ResponseStates();

function count(state: Tracking, res: ServerResponse, chunk: unknown, encoding: unknown): void {
  try {
    if (state.counting === -1) {
      const declared = state.method === "HEAD" ? undefined : res.getHeader("content-length");
      state.declared = declared;
      state.counting = declared === undefined ? 1 : 0;
    }
    if (state.counting === 1) state.sent += byteLength(chunk, encoding);
  } catch {
    // never break the host
  }
}

/** Our `write`/`end` replacements, so one never counts what another already counted. */
const counters = new WeakSet<Write>();

/**
 * Count body bytes for every response whose prototype is `proto` (an Express app's
 * `app.response`, patched once per app): the method found above it is looked up on each call, so
 * later patches of `http.ServerResponse.prototype` still apply. Responses not being tracked pass
 * straight through.
 */
function patchPrototype(proto: object): void {
  for (const name of ["write", "end"] as const) {
    const own = Object.prototype.hasOwnProperty.call(proto, name)
      ? ((proto as Record<string, unknown>)[name] as Write)
      : undefined;
    if (own !== undefined && counters.has(own)) continue;
    const parent = Object.getPrototypeOf(proto) as Record<string, Write>;
    const end = name === "end";
    const method = function (this: ServerResponse, chunk?: unknown, encoding?: unknown): unknown {
      const next = own ?? parent[name]!;
      if (!counters.has(next)) {
        const state = tracked.get(this);
        if (state !== undefined && !(end && typeof chunk === "function")) count(state, this, chunk, encoding);
      }
      return next.apply(this, arguments as never);
    } as Write;
    counters.add(method);
    Object.defineProperty(proto, name, { value: method, writable: true, configurable: true, enumerable: false });
  }
}

const patched = new WeakSet<object>();

/** Install byte counting for `res`: on its Express prototype, else on the instance. */
function countBytes(res: ServerResponse, state: Tracking): void {
  const proto = Object.getPrototypeOf(res) as object | null;
  if (proto !== null && patched.has(proto)) return;
  if (state.express && proto !== null && proto !== ServerResponse.prototype && Object.prototype.hasOwnProperty.call(proto, "app")) {
    patched.add(proto);
    patchPrototype(proto);
    return;
  }
  const write = res.write as unknown as Write;
  const end = res.end as unknown as Write;
  if (counters.has(end)) return;
  const countingWrite = function (this: ServerResponse, chunk: unknown, encoding?: unknown): unknown {
    count(state, res, chunk, encoding);
    return write.apply(this, arguments as never);
  } as Write;
  const countingEnd = function (this: ServerResponse, chunk?: unknown, encoding?: unknown): unknown {
    if (typeof chunk !== "function") count(state, res, chunk, encoding);
    return end.apply(this, arguments as never);
  } as Write;
  counters.add(countingWrite);
  counters.add(countingEnd);
  res.write = countingWrite as ServerResponse["write"];
  res.end = countingEnd as ServerResponse["end"];
}

function responseSize(state: Tracking): number {
  if (state.counting !== 0) return state.sent;
  const header = state.declared;
  const length = typeof header === "number" ? header : Number(header);
  return Number.isFinite(length) && length >= 0 ? length : state.sent;
}

/** The response's 'close' (emitted after 'finish', or alone when aborted): record it. */
function onClose(this: ServerResponse): void {
  const state = tracked.get(this);
  if (state === undefined || state.closed) return;
  state.closed = true;
  const now = performance.now();
  const others = state.others;
  complete(state, this, now, state);
  if (others !== undefined) for (const other of others) complete(other, this, now, state);
  tracked.delete(this);
}

/** `first` is the response's first tracker: the one that saw its writes. */
function complete(state: Tracking, res: ServerResponse, now: number, first: Tracking): void {
  state.duration = (now - state.started) / 1000;
  if (state.defer) setImmediate(record, state, res, first);
  else record(state, res, first);
}

function record(state: Tracking, res: ServerResponse, first: Tracking): void {
  const client = state.client;
  try {
    const req = state.req ?? res.req;
    const headers = state.headers ?? req.headers;
    state.req = undefined;
    state.headers = undefined;
    state.others = undefined;
    if (state.express) {
      const express = req as ExpressRequest;
      const layer = express.route;
      const path = layer === undefined || layer === null ? undefined : layer.path;
      if (path !== undefined && path !== null) {
        const base = express.baseUrl;
        state.route = base ? base + String(path) : String(path);
      }
    }
    const declared = headers["content-length"];
    if (declared !== undefined) {
      const length = Number(declared);
      if (Number.isFinite(length)) state.request_size = length;
    }
    if (consumersSet || client.config.consumer !== undefined) {
      const consumer = client.consumer(req);
      if (consumer !== undefined) {
        state.consumer = consumer[0];
        if (consumer[1] !== null) state.consumer_name = consumer[1];
      }
    }
    const socket = req.socket as (IncomingMessage["socket"] & { encrypted?: boolean }) | null;
    state.host = headers.host ?? "localhost";
    state.https = socket !== null && socket.encrypted === true;
    // The first tracker of the response saw its writes: one that began had its headers sent.
    state.status_code = first.counting !== -1 || res.headersSent ? res.statusCode : 499;
    state.ip_address = client.clientIp(socket === null ? undefined : socket.remoteAddress, headers["x-forwarded-for"]);
    state.response_size = responseSize(first);
    if (exceptionsRecorded) state.exception = takeException(req);
    client.push(state);
  } catch (error) {
    logLimited(client.config.logger, "capture", "warn", `WhoWhyWhen could not record a request: ${String(error)}`);
  }
}

type Emit = (this: ServerResponse, event: string | symbol, ...args: unknown[]) => boolean;

/**
 * `ServerResponse.prototype.emit`, wrapped once per process so that every response's 'close'
 * reaches `onClose` without a listener of its own. Express gives each request and response a
 * V8 map of its own (it changes their prototypes, then adds properties), so every property read
 * or write on them misses V8's inline caches and takes a full lookup: `res.on('close')` makes
 * several (`_events`, `_eventsCount`, ...), the wrapper none. Responses nobody tracks pass
 * straight through; the original `emit` always runs, with the same arguments and result.
 */
let hookedEmit: Emit | null = null;

function hookClose(): Emit {
  if (hookedEmit !== null) return hookedEmit;
  const proto = ServerResponse.prototype as unknown as { emit: Emit };
  const emit = proto.emit;
  const hooked = function (this: ServerResponse, event: string | symbol): boolean {
    if (event === "close") {
      try {
        onClose.call(this);
      } catch {
        // never break the host
      }
    }
    return emit.apply(this, arguments as never);
  } as Emit;
  proto.emit = hooked;
  hookedEmit = hooked;
  return hooked;
}

/**
 * Watch one request/response pair and capture it once the response has been sent. `express`
 * reads the route template from `req.baseUrl + req.route.path`; `defer` captures on the next
 * turn, so an error thrown just after responding is noted first.
 */
export function track(client: Client, req: IncomingMessage, res: ServerResponse, express: boolean, defer: boolean): void {
  const method = req.method ?? "GET";
  const raw = (req as ExpressRequest).originalUrl ?? req.url ?? "/";
  const query = raw.indexOf("?");
  if (!client.shouldCapture(method, query === -1 ? raw : raw.slice(0, query))) return;
  const headers = req.headers;
  const userAgent = headers["user-agent"];
  if (userAgent !== undefined && userAgent.startsWith("whowhywhen-")) return;
  const state = new Tracking(
    client,
    // Express sets `res.req` itself (a property read on its request or response costs V8 a
    // full lookup: each one has a map of its own), so only plain Node is asked.
    express || res.req === req ? undefined : req,
    headers,
    raw,
    method,
    userAgent,
    performance.now(),
    express,
    defer,
  );
  const first = tracked.get(res);
  if (first !== undefined) {
    (first.others ??= []).push(state);
    return;
  }
  tracked.set(res, state);
  countBytes(res, state);
  if (!reachesHook(res)) res.on("close", onClose);
}

/** Per response prototype: whether its `emit` is the hooked one. */
const hookedPrototypes = new WeakMap<object, boolean>();

/**
 * Whether `res`'s 'close' reaches the hook: asked of its prototype, once per prototype (an
 * Express response has a map of its own, so reading `res.emit` would cost a full lookup per
 * request). Another class's own `emit` gets a listener instead; a wrapper that calls through to
 * the hooked `emit` is recorded once all the same.
 */
function reachesHook(res: ServerResponse): boolean {
  const hooked = hookClose();
  const proto = Object.getPrototypeOf(res) as { emit?: unknown } | null;
  if (proto === null) return false;
  let reaches = hookedPrototypes.get(proto);
  if (reaches === undefined) {
    reaches = proto.emit === hooked;
    hookedPrototypes.set(proto, reaches);
  }
  return reaches;
}
