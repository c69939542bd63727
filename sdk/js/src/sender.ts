/**
 * The background sender. A timer (unref'd: it never keeps the process alive) fires every
 * `flushIntervalMs`; reaching `batchSize` queued events also wakes it. Each cycle sends only
 * what was queued at that moment, in batches of `batchSize`. A batch that fails with a retryable
 * error keeps its `batch_id` and event ids and is retried with backoff (or after `Retry-After`)
 * until delivered; new events wait in the bounded buffer meanwhile.
 */
import { randomFillSync, randomUUID } from "node:crypto";
import type { Captured, DropCounts, DropReason, EventBuffer, Stats } from "./buffer.js";
import { DROP_REASONS } from "./buffer.js";
import type { Config } from "./config.js";
import { JsonWriter, QUOTE } from "./json.js";
import { keyPrefix, logLimited } from "./log.js";
import { encodeBody, parseRetryAfter, type Transport, type TransportResponse } from "./transport.js";
import { VERSION } from "./version.js";

export const SDK_NAME = "whowhywhen-js";
const MAX_WIRE_BYTES = 2 * 1024 * 1024 - 64 * 1024;
const MAX_RAW_BYTES = 9 * 1024 * 1024;
export const timing = { authReprobeMs: 300_000, rateLimitDefaultMs: 60_000 };
const RETRY_AFTER_MIN_S = 1;
const RETRY_AFTER_MAX_S = 3600;
const MAX_URL = 8192;
const MAX_UA = 1024;
const MAX_ROUTE = 2048;

/** The collector's row layout: a batch's events go as `columns` + `rows` (`POST /api/log/bulk`). */
export const ROW_COLUMNS = [
  "id",
  "url",
  "method",
  "status_code",
  "duration_ns",
  "timestamp_ns",
  "user_agent",
  "ip_address",
  "route",
  "request_size",
  "response_size",
  "exception",
  "consumer",
  "consumer_name",
] as const;
const COLUMNS_JSON = JSON.stringify(ROW_COLUMNS);

const HEX: string[] = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, "0"));
/** The two hex digits of each byte value, as character codes. */
const HEX_CODES = Uint8Array.from(HEX.join(""), (c) => c.charCodeAt(0));
const randomBytes = new Uint8Array(16);

/**
 * Event ids for one batch: distinct version-4 UUIDs from one random draw, 96 random bits
 * shared by the batch and a 32-bit counter that starts at a random point (as the Python SDK
 * does). One draw per batch instead of `randomUUID()` per event; a retried batch resends the same
 * ids, which are written once, with its rows.
 */
export class EventIds {
  /** The shared first 28 characters (`xxxxxxxx-xxxx-4xxx-yxxx-xxxx`), as character codes. */
  private readonly prefix: Uint8Array;
  private next: number;

  constructor() {
    const b = randomFillSync(randomBytes);
    b[6] = (b[6]! & 0x0f) | 0x40;
    b[8] = (b[8]! & 0x3f) | 0x80;
    const h = (i: number) => HEX[b[i]!]!;
    const text = `${h(0)}${h(1)}${h(2)}${h(3)}-${h(4)}${h(5)}-${h(6)}${h(7)}-${h(8)}${h(9)}-${h(10)}${h(11)}`;
    this.prefix = Uint8Array.from(text, (c) => c.charCodeAt(0));
    this.next = ((b[12]! << 24) | (b[13]! << 16) | (b[14]! << 8) | b[15]!) >>> 0;
  }

  /** The next id as text (what `write` puts between its quotes). */
  take(): string {
    const out = new JsonWriter(40);
    this.write(out);
    return out.buf.toString("latin1", 1, out.pos - 1);
  }

  /** The next id as a JSON string, straight into `out`. */
  write(out: JsonWriter): void {
    const n = this.next;
    this.next = (n + 1) >>> 0;
    out.ensure(40);
    const buf = out.buf;
    let pos = out.pos;
    buf[pos++] = QUOTE;
    for (const code of this.prefix) buf[pos++] = code;
    for (const shift of BYTE_SHIFTS) {
      const byte = (n >>> shift) & 0xff;
      buf[pos++] = HEX_CODES[2 * byte]!;
      buf[pos++] = HEX_CODES[2 * byte + 1]!;
    }
    buf[pos++] = QUOTE;
    out.pos = pos;
  }
}

const BYTE_SHIFTS = [24, 16, 8, 0] as const;
const OPEN = 0x5b;
const CLOSE = 0x5d;

/** `http://host` / `https://host` per distinct host: one string per host, not one per event. */
const origins = [new Map<string, string>(), new Map<string, string>()] as const;
const MAX_ORIGINS = 1024;

function origin(https: boolean, host: string): string {
  const cache = origins[https ? 1 : 0];
  let value = cache.get(host);
  if (value === undefined) {
    if (cache.size >= MAX_ORIGINS) cache.clear();
    value = (https ? "https://" : "http://") + host;
    cache.set(host, value);
  }
  return value;
}

/**
 * A batch's distinct User-Agents, written once in its `user_agents` list; each row gives an index
 * into it. A browser's User-Agent (≈ 100 characters) is on nearly every row: listed once, it is
 * escaped, copied and compressed once per batch instead of once per event, and a batch's text is
 * about 100 bytes an event shorter.
 */
class Agents {
  readonly list: string[] = [];
  private readonly index = new Map<string, number>();

  of(text: string): number {
    let index = this.index.get(text);
    if (index === undefined) {
      index = this.list.length;
      this.index.set(text, index);
      this.list.push(text);
    }
    return index;
  }
}

/**
 * A captured request's wire form, one row, for tests and tools: the JSON text `queueBatch`
 * writes for it (with the User-Agent's text, not an index).
 */
export function serialise(event: Captured, clockOffset: number, id: string = randomUUID()): string {
  const out = new JsonWriter(1024);
  writeRow(out, event, clockOffset, id, null);
  return out.buf.toString("utf8", 0, out.pos);
}

/**
 * Write a captured request as one row of the collector's columns: the event id, the full URL,
 * the length limits, and the duration and start time in integer nanoseconds. This runs in the
 * sender's timer callback, never on the request path, and writes bytes, not objects (see
 * `JsonWriter`); a retried batch resends the same bytes. `clockOffset` converts a
 * `performance.now()` reading into epoch milliseconds. With `agents`, the User-Agent is an index
 * into the batch's list; without, its text. Throws on a value JSON cannot write (a BigInt).
 */
function writeRow(out: JsonWriter, event: Captured, clockOffset: number, id: EventIds | string, agents: Agents | null): void {
  out.ensure(64);
  out.byte(OPEN);
  if (typeof id === "string") out.string(id);
  else id.write(out);
  out.comma();
  writeUrl(out, event);
  out.comma();
  out.value(event.method);
  out.comma();
  out.value(event.status_code);
  out.comma();
  out.number(Math.round(event.duration * 1e9));
  out.comma();
  writeNanoseconds(out, event.timestamp === undefined ? event.started + clockOffset : Date.parse(event.timestamp));
  out.comma();
  let userAgent = event.user_agent;
  if (typeof userAgent === "string") {
    if (userAgent.length > MAX_UA) userAgent = userAgent.slice(0, MAX_UA);
    if (agents !== null) out.number(agents.of(userAgent));
    else out.string(userAgent);
  } else {
    out.value(userAgent);
  }
  out.comma();
  out.value(event.ip_address);
  out.comma();
  let route = event.route;
  if (typeof route === "string" && route.length > MAX_ROUTE) route = route.slice(0, MAX_ROUTE);
  out.value(route);
  out.comma();
  out.value(event.request_size);
  out.comma();
  out.value(event.response_size);
  out.comma();
  out.value(event.exception);
  out.comma();
  out.value(event.consumer);
  out.comma();
  out.value(event.consumer_name);
  out.ensure(1);
  out.byte(CLOSE);
}

/** The full URL as one JSON string: the host's origin, then the path, within `MAX_URL`. */
function writeUrl(out: JsonWriter, event: Captured): void {
  const path = event.url;
  if (typeof path !== "string") {
    out.value(path);
    return;
  }
  const prefix = event.host === undefined ? "" : origin(event.https, event.host);
  if (prefix.length + path.length > MAX_URL) {
    out.string((prefix + path).slice(0, MAX_URL));
    return;
  }
  out.ensure(6 * (prefix.length + path.length) + 2);
  out.byte(QUOTE);
  out.chars(prefix);
  out.chars(path);
  out.byte(QUOTE);
}

/**
 * Epoch milliseconds as integer nanoseconds, written as whole seconds and nine digits: the exact
 * integer, with no double beyond 2^53 in between (`null` when not a time).
 */
function writeNanoseconds(out: JsonWriter, ms: number): void {
  if (!Number.isFinite(ms)) {
    out.null();
    return;
  }
  let seconds = Math.floor(ms / 1000);
  let nanos = Math.round((ms - seconds * 1000) * 1e6);
  if (nanos >= 1e9) {
    seconds += 1;
    nanos -= 1e9;
  }
  if (seconds < 1 || seconds > 1e11) {
    out.number(Math.round(ms * 1e6));
    return;
  }
  out.ensure(32);
  out.digits(seconds, 0);
  out.digits(nanos, 9);
}

/**
 * Rows for the wire, in UTF-8, a slice at a time: `fragments` are comma-joined rows, `counts`
 * the rows in each, `agents` the User-Agents their indexes point into. The bytes live outside
 * V8's heap: a batch waiting to be sent or retried is never copied by its garbage collector, and
 * sending it builds no string of the whole batch.
 */
interface Rows {
  fragments: Buffer[];
  counts: number[];
  count: number;
  agents: string[];
}

const utf8 = (text: string): Buffer => Buffer.from(text, "utf8");

/** The rows of `list` (parsed back from a batch), without the brackets of their array. */
function fragmentOf(list: unknown[]): Buffer {
  const bytes = utf8(JSON.stringify(list));
  return bytes.subarray(1, bytes.length - 1);
}

/** Two halves of a batch's rows, each with the batch's list of User-Agents. */
function halves(rows: Rows): [Rows, Rows] {
  const agents = rows.agents;
  if (rows.fragments.length > 1) {
    const mid = Math.floor(rows.fragments.length / 2);
    const part = (from: number, to: number): Rows => {
      const counts = rows.counts.slice(from, to);
      return { fragments: rows.fragments.slice(from, to), counts, count: counts.reduce((a, b) => a + b, 0), agents };
    };
    return [part(0, mid), part(mid, rows.fragments.length)];
  }
  // One fragment of several rows: read it back (the same ids) and write each half anew.
  const all = JSON.parse(`[${rows.fragments[0]?.toString("utf8") ?? ""}]`) as unknown[];
  const mid = Math.floor(all.length / 2);
  const part = (list: unknown[]): Rows => ({ fragments: [fragmentOf(list)], counts: [list.length], count: list.length, agents });
  return [part(all.slice(0, mid)), part(all.slice(mid))];
}

const COMMA = utf8(",");

class Batch {
  readonly batchId = randomUUID();
  attempt = 0;
  failures = 0;
  notBefore = 0;
  reason: DropReason = "network_error";
  rateLimited = false;

  constructor(
    readonly rows: Rows,
    readonly report: DropCounts,
  ) {}

  /** Events in the batch. */
  get count(): number {
    return this.rows.count;
  }

  body(): Buffer {
    const { fragments, agents } = this.rows;
    const sdk = { name: SDK_NAME, version: VERSION, attempt: this.attempt, dropped: this.report };
    const listed = agents.length ? `"user_agents":${JSON.stringify(agents)},` : "";
    const parts: Buffer[] = [utf8(`{"batch_id":"${this.batchId}","columns":${COLUMNS_JSON},${listed}"rows":[`)];
    fragments.forEach((fragment, index) => {
      if (index > 0) parts.push(COMMA);
      parts.push(fragment);
    });
    parts.push(utf8(`],"sdk":${JSON.stringify(sdk)}}`));
    return Buffer.concat(parts);
  }
}

const emptyReport = (): DropCounts => ({
  queue_overflow: 0,
  network_error: 0,
  ratelimit_backoff: 0,
  send_error: 0,
  too_large: 0,
  auth_error: 0,
});

/** A sender's `JsonWriter` is made anew after a slice that grew it beyond this. */
const MAX_WRITER_BYTES = 1024 * 1024;
/** Events serialised per turn of the host's event loop. */
const SERIALISE_SLICE = 50;
const nextTurn = () => new Promise<void>((resolve) => setImmediate(resolve));
/** Wait `ms`, holding the process open: used only while shutting down, up to its deadline. */
const sleep = (ms: number) =>
  new Promise<void>((resolve) => {
    setTimeout(resolve, Math.max(0, ms));
  });

/** Settle with `promise`, or after `ms` at the latest; the timer is cleared either way. */
async function within(promise: Promise<unknown>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<void>((resolve) => {
    timer = setTimeout(resolve, Math.max(0, ms));
  });
  try {
    await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

export class Sender {
  private pending: Batch[] = [];
  private interval: NodeJS.Timeout;
  private retryTimer: NodeJS.Timeout | null = null;
  private running = false;
  private again = false;
  private closing = false;
  private authUntil = 0;
  private authLogged = false;
  private reportsRefused = false;
  private idleWaiters: Array<() => void> = [];
  /** Where each slice of rows is written before it is copied out (one per sender: see `queueBatch`). */
  private writer = new JsonWriter();

  constructor(
    private readonly config: Config,
    private readonly buffer: EventBuffer,
    private readonly stats: Stats,
    private readonly transport: Transport,
  ) {
    this.interval = setInterval(() => this.kick(true, false), config.flushIntervalMs);
    this.interval.unref();
    this.arm();
  }

  private arm(): void {
    this.buffer.arm(this.config.batchSize, () => {
      setImmediate(() => this.kick(false, false)).unref();
    });
  }

  private kick(timer: boolean, force: boolean): void {
    if (this.closing) return;
    if (this.running) {
      if (timer || force) this.again = true;
      return;
    }
    this.cycle(timer, force).catch((error: unknown) => {
      logLimited(this.config.logger, "sender", "warn", `WhoWhyWhen sender error: ${String(error)}`);
    });
  }

  private get idle(): boolean {
    return !this.running && this.pending.length === 0 && this.buffer.length === 0;
  }

  private async cycle(timer: boolean, force: boolean): Promise<void> {
    this.running = true;
    try {
      await this.work(timer, force);
    } finally {
      this.running = false;
      if (this.retryTimer) clearTimeout(this.retryTimer);
      this.retryTimer = null;
      const head = this.pending[0];
      if (head && !this.closing) {
        this.retryTimer = setTimeout(() => this.kick(false, false), head.notBefore - Date.now());
        this.retryTimer.unref();
      } else if (!head) {
        this.arm();
      }
      const waiters = this.idleWaiters;
      this.idleWaiters = [];
      for (const wake of waiters) wake();
      if (this.again && !this.closing) {
        this.again = false;
        this.kick(true, false);
      }
    }
  }

  private async work(timer: boolean, force: boolean): Promise<void> {
    if (this.pending.length && !(await this.sendPending(force))) return;
    if (this.authUntil) {
      if (Date.now() < this.authUntil) {
        this.buffer.clear("auth_error");
        return;
      }
    }
    const size = this.config.batchSize;
    let waiting = this.buffer.length;
    if (waiting === 0) {
      if (timer && this.stats.hasUnreported() && !this.reportsRefused && (await this.queueBatch([]))) {
        await this.sendPending(false);
      }
      return;
    }
    if (!(timer || force)) waiting -= waiting % size;
    while (waiting > 0) {
      const items = this.buffer.take(Math.min(size, waiting));
      if (items.length === 0) return;
      waiting -= items.length;
      if ((await this.queueBatch(items)) && !(await this.sendPending(false))) return;
      if (this.authUntil) return;
    }
  }

  /** Send everything queued now; resolves true when all of it was handled in time. */
  async flush(timeoutMs: number): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    let forced = false;
    while (!this.idle) {
      const remaining = deadline - Date.now();
      if (remaining <= 0 || this.closing) return false;
      const cycleEnded = new Promise<void>((resolve) => this.idleWaiters.push(resolve));
      if (!forced) {
        forced = true;
        this.kick(false, true);
      }
      await within(cycleEnded, remaining);
    }
    return true;
  }

  /** Deliver what is queued within `timeoutMs`, then stop. Never rejects. */
  async shutdown(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    clearInterval(this.interval);
    this.closing = true;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    await within(this.drain(deadline).catch(() => undefined), timeoutMs + 100);
  }

  private async drain(deadline: number): Promise<void> {
    while (this.running && Date.now() < deadline) {
      await within(
        new Promise<void>((resolve) => this.idleWaiters.push(resolve)),
        deadline - Date.now(),
      );
    }
    this.running = true;
    try {
      for (;;) {
        const now = Date.now();
        if (now >= deadline || this.authUntil > now) break;
        const head = this.pending[0];
        if (!head) {
          const items = this.buffer.take(this.config.batchSize);
          if (items.length === 0) break;
          await this.queueBatch(items);
          continue;
        }
        if (head.notBefore > now) {
          if (head.notBefore >= deadline) break;
          await sleep(head.notBefore - now);
          continue;
        }
        await this.attempt(head, Math.min(this.config.timeoutMs, deadline - now));
      }
      let reason: DropReason = this.pending[0]?.reason ?? "network_error";
      if (this.authUntil) reason = "auth_error";
      while (this.pending.length) this.dropHead(reason);
      this.buffer.clear(reason);
    } finally {
      this.running = false;
    }
  }

  /**
   * Write a batch's rows, `SERIALISE_SLICE` events at a time, with a turn of the event loop
   * between slices: a whole 500-event batch at once held the loop for ≈ 1–2 ms, which showed in
   * the host's p99 latency. Each slice is written into the sender's reused `JsonWriter`, then
   * copied out once; an event that cannot be written, or is over `maxEventBytes`, is taken back
   * out of the slice and counted.
   */
  private async queueBatch(events: Captured[]): Promise<boolean> {
    const agents = new Agents();
    const rows: Rows = { fragments: [], counts: [], count: 0, agents: agents.list };
    const clockOffset = Date.now() - performance.now();
    const ids = new EventIds();
    const limit = this.config.maxEventBytes;
    const out = this.writer;
    for (let start = 0; start < events.length; start += SERIALISE_SLICE) {
      if (start > 0) await nextTurn();
      out.pos = 0;
      let written = 0;
      const end = Math.min(start + SERIALISE_SLICE, events.length);
      for (let index = start; index < end; index++) {
        const mark = out.pos;
        try {
          if (written > 0) out.comma();
          writeRow(out, events[index]!, clockOffset, ids, agents);
        } catch {
          out.pos = mark;
          this.stats.drop("send_error", 1);
          continue;
        }
        if (out.pos - mark - (written > 0 ? 1 : 0) > limit) {
          out.pos = mark;
          this.stats.drop("too_large", 1);
          continue;
        }
        written += 1;
      }
      if (written === 0) continue;
      rows.fragments.push(out.copy(0, out.pos));
      rows.counts.push(written);
      rows.count += written;
    }
    // a slice of unusually long rows grew the writer: let that memory go
    if (out.buf.length > MAX_WRITER_BYTES) this.writer = new JsonWriter();
    const report = this.stats.takeUnreported();
    if (rows.count === 0 && !DROP_REASONS.some((r) => report[r] > 0)) return false;
    this.pending.push(new Batch(rows, report));
    return true;
  }

  private async sendPending(force: boolean): Promise<boolean> {
    for (;;) {
      const head = this.pending[0];
      if (!head) return true;
      if (Date.now() < head.notBefore && !(force && !head.rateLimited)) return false;
      await this.attempt(head, this.config.timeoutMs);
      if (this.pending[0] === head) return false;
    }
  }

  private async attempt(batch: Batch, timeoutMs: number): Promise<void> {
    batch.attempt += 1;
    const body = batch.body();
    const [payload, gzipped] = encodeBody(body);
    if (
      (payload.byteLength > MAX_WIRE_BYTES || body.byteLength > MAX_RAW_BYTES) &&
      batch.count > 1
    ) {
      this.splitHead();
      return;
    }
    let response: TransportResponse;
    try {
      response = await this.transport(payload, gzipped, timeoutMs);
    } catch (error) {
      const name = error instanceof Error ? error.name : "Error";
      this.log("network", "warn", `WhoWhyWhen collector unreachable (${name}); will retry`);
      this.retry(batch, "network_error", null, false);
      return;
    }
    const status = response.status;
    if (status >= 200 && status < 300) {
      this.delivered(batch, response);
    } else if (status === 401 || status === 403) {
      this.authFailed(status);
    } else if (status === 413) {
      if (batch.count > 1) this.splitHead();
      else this.dropHead(batch.count ? "too_large" : "send_error");
    } else if (status === 408 || status === 429 || status >= 500) {
      this.log(`http-${status}`, "warn", `WhoWhyWhen collector answered ${status}; will retry`);
      const header = response.header("retry-after");
      let delay = parseRetryAfter(header);
      if (delay !== null) delay = Math.min(Math.max(delay, RETRY_AFTER_MIN_S), RETRY_AFTER_MAX_S);
      else if (status === 429 && header === null) delay = timing.rateLimitDefaultMs / 1000;
      this.retry(batch, status === 429 ? "ratelimit_backoff" : "send_error", delay, status === 429);
    } else {
      if (batch.count === 0) this.reportsRefused = true;
      this.log(
        `http-${status}`,
        "warn",
        `WhoWhyWhen collector refused a batch of ${batch.count} events with ${status}: ${response.body.slice(0, 200)}`,
      );
      this.dropHead("send_error");
    }
  }

  private retry(batch: Batch, reason: DropReason, delayS: number | null, rateLimited: boolean) {
    batch.failures += 1;
    batch.reason = reason;
    batch.rateLimited = rateLimited;
    const { retryBackoffMs, retryBackoffMaxMs } = this.config;
    const delayMs =
      delayS !== null
        ? delayS * 1000
        : Math.min(retryBackoffMs * 2 ** (batch.failures - 1), retryBackoffMaxMs) *
          (0.8 + Math.random() * 0.4);
    batch.notBefore = Date.now() + delayMs;
    this.buffer.overflowReason = rateLimited ? "ratelimit_backoff" : "queue_overflow";
  }

  private delivered(batch: Batch, response: TransportResponse): void {
    this.pending.shift();
    let rejected: unknown[] = [];
    try {
      const answer: unknown = response.body ? JSON.parse(response.body) : {};
      if (answer && typeof answer === "object" && Array.isArray((answer as any).rejected)) {
        rejected = (answer as { rejected: unknown[] }).rejected;
      }
    } catch {
      // a 2xx without our JSON still means stored
    }
    if (rejected.length) {
      this.log(
        "rejected",
        "warn",
        `WhoWhyWhen collector rejected ${rejected.length} event(s), e.g. ${JSON.stringify(rejected[0]).slice(0, 200)}`,
      );
    }
    const count = batch.count;
    const refused = Math.min(rejected.length, count);
    this.stats.delivered += count - refused;
    this.stats.rejected += refused;
    this.buffer.overflowReason = "queue_overflow";
    if (this.authUntil) {
      this.authUntil = 0;
      this.log("auth-ok", "warn", `WhoWhyWhen API key ${keyPrefix(this.config.apiKey)} accepted again`);
    }
  }

  private authFailed(status: number): void {
    while (this.pending.length) this.dropHead("auth_error");
    this.buffer.clear("auth_error");
    this.buffer.overflowReason = "auth_error";
    this.authUntil = Date.now() + timing.authReprobeMs;
    const message =
      `WhoWhyWhen collector refused API key ${keyPrefix(this.config.apiKey)} (HTTP ${status}): ` +
      "sending stopped, events are dropped; retrying in 5 minutes";
    if (!this.authLogged) {
      this.authLogged = true;
      try {
        this.config.logger.error(message);
      } catch {
        // ignore a broken logger
      }
    }
  }

  private dropHead(reason: DropReason): void {
    const batch = this.pending.shift();
    if (!batch) return;
    this.stats.drop(reason, batch.count);
    this.stats.restore(batch.report);
  }

  private splitHead(): void {
    const batch = this.pending.shift();
    if (!batch) return;
    const [first, second] = halves(batch.rows);
    this.pending.unshift(new Batch(first, batch.report), new Batch(second, emptyReport()));
  }

  private log(kind: string, level: "warn" | "error", message: string): void {
    logLimited(this.config.logger, kind, level, message);
  }
}
