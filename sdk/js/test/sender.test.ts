import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { type Client, createClient } from "../src/client.js";
import type { WhoWhyWhenOptions } from "../src/config.js";
import { resetLogLimits } from "../src/log.js";
import { EventIds, ROW_COLUMNS, serialise, timing } from "../src/sender.js";
import { VERSION } from "../src/version.js";
import { API_KEY, BlackHole, FakeCollector, freePort, silentLogger } from "./fakeCollector.js";

const FAST: WhoWhyWhenOptions = { retryBackoffMs: 50, retryBackoffMaxMs: 200, flushIntervalMs: 100 };
let collector: FakeCollector;
const clients: Client[] = [];

function make(url: string, options: WhoWhyWhenOptions = {}): Client {
  const client = createClient({ apiKey: API_KEY, url, logger: silentLogger(), ...options });
  if (client === null) throw new Error("disabled");
  clients.push(client);
  return client;
}

function capture(client: Client, count: number, path = "/items", extra: Record<string, unknown> = {}) {
  for (let i = 0; i < count; i += 1) {
    client.capture({
      url: `http://api.test${path}?n=${i}`,
      method: "GET",
      status_code: 200,
      duration: 0.0012,
      timestamp: new Date().toISOString(),
      user_agent: "vitest",
      ip_address: "203.0.113.9",
      ...extra,
    });
  }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

beforeEach(async () => {
  resetLogLimits();
  collector = await FakeCollector.start();
});

afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.shutdown(300)));
  await collector.close();
});

describe("batching", () => {
  it("sends full batches of 500 without waiting for the timer", async () => {
    const client = make(collector.url, { flushIntervalMs: 30_000 });
    capture(client, 1200);
    expect(await collector.waitFor(() => collector.stored.length >= 1000, 3000)).toBe(true);
    expect(collector.batches.map((r) => r.payload.events.length)).toEqual([500, 500]);
    expect(await client.flush(2000)).toBe(true);
    expect(collector.batches.map((r) => r.payload.events.length)).toEqual([500, 500, 200]);
  });

  it("sends what was queued when the 2 s timer fires", async () => {
    const client = make(collector.url);
    const started = performance.now();
    capture(client, 250);
    expect(await collector.waitFor(() => collector.received.length === 1, 4000)).toBe(true);
    const elapsed = (collector.received[0]!.at - started) / 1000;
    expect(elapsed).toBeGreaterThanOrEqual(1.5);
    expect(elapsed).toBeLessThanOrEqual(2.8);
    expect(collector.received[0]!.payload.events).toHaveLength(250);
  });
});

describe("wire format", () => {
  it("posts a gzipped batch with ids, the sdk report and every field", async () => {
    const client = make(collector.url);
    capture(client, 10, "/items", {
      route: "/items/:id",
      consumer: "acme",
      consumer_name: "Acme Inc",
      request_size: 12,
      response_size: 34,
      exception: "TypeError",
      status_code: 500,
    });
    expect(await client.flush(2000)).toBe(true);
    const [request] = collector.received;
    expect(request!.headers["x-api-key"]).toBe(API_KEY);
    expect(request!.headers["content-type"]).toBe("application/json");
    expect(request!.headers["user-agent"]).toBe(`whowhywhen-js/${VERSION}`);
    expect(request!.gzipped).toBe(true);
    expect(request!.payload.batch_id).toMatch(/^[0-9a-f-]{36}$/);
    expect(request!.payload.sdk).toEqual({
      name: "whowhywhen-js",
      version: VERSION,
      attempt: 1,
      dropped: {
        queue_overflow: 0,
        network_error: 0,
        ratelimit_backoff: 0,
        send_error: 0,
        too_large: 0,
        auth_error: 0,
      },
    });
    const event = request!.payload.events[0]!;
    expect(event).toMatchObject({
      url: "http://api.test/items?n=0",
      method: "GET",
      status_code: 500,
      duration: 0.0012,
      user_agent: "vitest",
      ip_address: "203.0.113.9",
      route: "/items/:id",
      consumer: "acme",
      consumer_name: "Acme Inc",
      request_size: 12,
      response_size: 34,
      exception: "TypeError",
    });
    expect(event.id).toMatch(/^[0-9a-f-]{36}$/);
    expect(Number.isNaN(Date.parse(event.timestamp))).toBe(false);
    expect(new Set(request!.payload.events.map((e) => e.id)).size).toBe(10);
  });

  it("writes events as rows of the collector's columns, times in integer nanoseconds", () => {
    const started = performance.now();
    const event = {
      url: "/orders?x=1",
      host: "api.test",
      https: true,
      method: "POST",
      status_code: 201,
      duration: 0.0123456789,
      started,
      timestamp: undefined,
      user_agent: "u".repeat(2000),
      ip_address: "203.0.113.9",
      route: "/orders",
      consumer: undefined,
      consumer_name: undefined,
      request_size: 0,
      response_size: 87,
      exception: undefined,
    };
    const offset = Date.now() - performance.now();
    const text = serialise(event, offset);
    const row = JSON.parse(text);
    expect(row).toHaveLength(ROW_COLUMNS.length);
    expect(row.slice(1, 5)).toEqual(["https://api.test/orders?x=1", "POST", 201, 12345679]);
    expect(text).toMatch(/^\["[0-9a-f-]{36}","[^"]+","POST",201,12345679,\d{19},"u{1024}",/);
    expect(Math.abs(row[5] / 1e6 - (started + offset))).toBeLessThan(0.001);
    expect(row.slice(7)).toEqual(["203.0.113.9", "/orders", 0, 87, null, null, null]);
    const given = JSON.parse(serialise({ ...event, timestamp: "2026-12-04T20:00:00.123Z" }, offset));
    expect(given[5]).toBe(Date.UTC(2026, 11, 4, 20, 0, 0, 123) * 1e6);
    expect(JSON.parse(serialise({ ...event, timestamp: "not a date" }, offset))[5]).toBeNull();
  });

  it("lists a batch's User-Agents once, each row giving an index into the list", async () => {
    const client = make(collector.url);
    capture(client, 6, "/a", { user_agent: "agent-a/1.0" });
    capture(client, 3, "/b", { user_agent: "agent-b/2.0 (\u00e9)" });
    capture(client, 2, "/c", { user_agent: undefined });
    capture(client, 2, "/d", { user_agent: "x".repeat(1500) });
    expect(await client.flush(3000)).toBe(true);
    expect(collector.received).toHaveLength(1);
    const payload = collector.received[0]!.payload as any;
    expect(payload.user_agents).toEqual(["agent-a/1.0", "agent-b/2.0 (\u00e9)", "x".repeat(1024)]);
    expect(payload.rows.map((row: unknown[]) => row[6])).toEqual([0, 0, 0, 0, 0, 0, 1, 1, 1, null, null, 2, 2]);
    expect(payload.events.map((event: any) => event.user_agent)).toEqual([
      ...Array(6).fill("agent-a/1.0"),
      ...Array(3).fill("agent-b/2.0 (\u00e9)"),
      undefined,
      undefined,
      "x".repeat(1024),
      "x".repeat(1024),
    ]);
  });

  it("sends no User-Agent list when no event has one", async () => {
    const client = make(collector.url);
    capture(client, 3, "/a", { user_agent: undefined });
    expect(await client.flush(3000)).toBe(true);
    const payload = collector.received[0]!.payload as any;
    expect("user_agents" in payload).toBe(false);
    expect(payload.rows.map((row: unknown[]) => row[6])).toEqual([null, null, null]);
  });

  it("makes a batch's event ids from one random draw: distinct version-4 UUIDs", () => {
    const uuid = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
    const first = new EventIds();
    const ids = Array.from({ length: 1000 }, () => first.take());
    for (const id of ids) expect(id).toMatch(uuid);
    expect(new Set(ids).size).toBe(1000);
    expect(new Set(ids.map((id) => id.slice(0, 28))).size).toBe(1);
    const counters = ids.map((id) => Number.parseInt(id.slice(28), 16));
    counters.forEach((value, i) => expect(value).toBe((counters[0]! + i) % 2 ** 32));
    const second = new EventIds().take();
    expect(second).toMatch(uuid);
    expect(second.slice(0, 28)).not.toBe(ids[0]!.slice(0, 28));
    const event = { url: "/a", host: "h", https: false, method: "GET", status_code: 200, duration: 0, started: 0 };
    expect(JSON.parse(serialise({ ...event } as any, 0, ids[0]))[0]).toBe(ids[0]);
  });

  it("writes each host's origin once, http and https apart", () => {
    const base = { url: "/a?b=1", method: "GET", status_code: 200, duration: 0, started: 0 } as any;
    expect(JSON.parse(serialise({ ...base, host: "api.test", https: false }, 0))[1]).toBe("http://api.test/a?b=1");
    expect(JSON.parse(serialise({ ...base, host: "api.test", https: true }, 0))[1]).toBe("https://api.test/a?b=1");
    expect(JSON.parse(serialise({ ...base, host: "api.test", https: false }, 0))[1]).toBe("http://api.test/a?b=1");
    expect(JSON.parse(serialise({ ...base, host: undefined, url: "http://x.test/y" }, 0))[1]).toBe("http://x.test/y");
  });

  it("sends small bodies uncompressed", async () => {
    const client = make(collector.url);
    capture(client, 1);
    expect(await client.flush(2000)).toBe(true);
    expect(collector.received[0]!.gzipped).toBe(false);
  });

  it("drops only the event JSON cannot write, and counts it", async () => {
    const client = make(collector.url);
    capture(client, 3);
    capture(client, 1, "/bad", { request_size: 10n });
    capture(client, 2);
    expect(await client.flush(2000)).toBe(true);
    expect(collector.stored).toHaveLength(5);
    expect(client.stats.dropped.send_error).toBe(1);
  });

  it("drops and counts an event over the size limit", async () => {
    const client = make(collector.url, { maxEventBytes: 2000 });
    capture(client, 1, `/${"x".repeat(3000)}`);
    capture(client, 1);
    expect(await client.flush(2000)).toBe(true);
    expect(collector.stored).toHaveLength(1);
    expect(client.stats.dropped.too_large).toBe(1);
    expect(collector.droppedTotals.too_large).toBe(1);
  });
});

describe("retries", () => {
  it.each([408, 429, 500, 502, 503, 504])("retries %i with the same batch and event ids", async (status) => {
    const headers = status === 429 ? { "retry-after": "1" } : undefined;
    collector.script.push({ status, headers }, { status, headers });
    const client = make(collector.url, FAST);
    capture(client, 5);
    expect(await collector.waitFor(() => collector.received.length === 3, 6000)).toBe(true);
    expect(new Set(collector.received.map((r) => r.payload.batch_id)).size).toBe(1);
    expect(collector.received.map((r) => r.payload.sdk.attempt)).toEqual([1, 2, 3]);
    const ids = collector.received.map((r) => r.payload.events.map((e) => e.id).join());
    expect(new Set(ids).size).toBe(1);
    expect(collector.stored).toHaveLength(5);
  });

  it.each([400, 404, 415, 422])("does not retry %i", async (status) => {
    collector.script.push({ status, body: '{"error":"BadRequest"}' });
    const client = make(collector.url, FAST);
    capture(client, 4);
    await client.flush(2000);
    await sleep(300);
    expect(collector.batches).toHaveLength(1);
    expect(client.stats.dropped.send_error).toBe(4);
    capture(client, 1);
    expect(await client.flush(2000)).toBe(true);
    expect(collector.droppedTotals.send_error).toBe(4);
  });

  it("retries network errors until the collector is back", async () => {
    const port = await freePort();
    const client = make(`http://127.0.0.1:${port}`, FAST);
    capture(client, 3);
    await sleep(600);
    expect(client.stats.delivered).toBe(0);
    const late = await FakeCollector.start(port);
    try {
      expect(await late.waitFor(() => late.stored.length === 3, 3000)).toBe(true);
    } finally {
      await late.close();
    }
  });

  it("doubles the backoff with jitter", async () => {
    collector.script.push({ status: 500 }, { status: 500 }, { status: 500 }, { status: 500 });
    const client = make(collector.url, { retryBackoffMs: 200, retryBackoffMaxMs: 10_000 });
    capture(client, 1);
    void client.flush(50);
    expect(await collector.waitFor(() => collector.received.length === 5, 6000)).toBe(true);
    const times = collector.received.map((r) => r.at);
    times.slice(1).forEach((time, n) => {
      const gap = time - times[n]!;
      const expected = 200 * 2 ** n;
      expect(gap).toBeGreaterThanOrEqual(expected * 0.8 - 20);
      expect(gap).toBeLessThanOrEqual(expected * 1.2 + 150);
    });
  });

  it("honours Retry-After", async () => {
    collector.script.push({ status: 503, headers: { "retry-after": "2" } });
    const client = make(collector.url, FAST);
    capture(client, 1);
    void client.flush(50);
    expect(await collector.waitFor(() => collector.received.length === 2, 4000)).toBe(true);
    expect(collector.received[1]!.at - collector.received[0]!.at).toBeGreaterThanOrEqual(2000);
  });

  it("pauses after a 429 without Retry-After", async () => {
    const saved = timing.rateLimitDefaultMs;
    timing.rateLimitDefaultMs = 1500;
    try {
      collector.script.push({ status: 429 });
      const client = make(collector.url, FAST);
      capture(client, 1);
      void client.flush(50);
      expect(await collector.waitFor(() => collector.received.length === 2, 4000)).toBe(true);
      expect(collector.received[1]!.at - collector.received[0]!.at).toBeGreaterThanOrEqual(1450);
    } finally {
      timing.rateLimitDefaultMs = saved;
    }
  });

  it("logs a fault once per minute", async () => {
    const logger = silentLogger();
    const client = make(`http://127.0.0.1:${await freePort()}`, {
      logger,
      retryBackoffMs: 20,
      retryBackoffMaxMs: 50,
    });
    capture(client, 1);
    void client.flush(50);
    await sleep(600);
    expect(logger.lines.filter((l) => l.message.includes("unreachable"))).toHaveLength(1);
  });
});

describe("authentication failure", () => {
  it("stops sending, drops, and logs the key prefix once", async () => {
    collector.responder = () => ({ status: 401 });
    const logger = silentLogger();
    const client = make(collector.url, { ...FAST, logger });
    capture(client, 10);
    await client.flush(1000);
    for (let i = 0; i < 5; i += 1) {
      capture(client, 10);
      await sleep(150);
    }
    expect(collector.received).toHaveLength(1);
    expect(client.stats.dropped.auth_error).toBe(60);
    const errors = logger.lines.filter((l) => l.level === "error");
    expect(errors).toHaveLength(1);
    expect(errors[0]!.message).toContain(API_KEY.slice(0, 8));
    expect(JSON.stringify(logger.lines)).not.toContain(API_KEY);
  });

  it("probes again after the pause and resumes", async () => {
    const saved = timing.authReprobeMs;
    timing.authReprobeMs = 500;
    try {
      collector.script.push({ status: 401 });
      const client = make(collector.url, FAST);
      capture(client, 3);
      expect(await collector.waitFor(() => collector.received.length === 1, 2000)).toBe(true);
      await sleep(700);
      capture(client, 2);
      expect(await collector.waitFor(() => collector.stored.length === 2, 2000)).toBe(true);
      expect(collector.droppedTotals.auth_error).toBe(3);
    } finally {
      timing.authReprobeMs = saved;
    }
  });
});

describe("413", () => {
  it("splits the batch until it fits", async () => {
    collector.responder = (r) => (r.payload.events.length > 100 ? { status: 413 } : { status: 202 });
    const client = make(collector.url);
    capture(client, 450);
    expect(await client.flush(3000)).toBe(true);
    expect(collector.stored).toHaveLength(450);
    expect(new Set(collector.stored.map((e) => e.id)).size).toBe(450);
  });

  it("splits a batch of one serialised slice, keeping its ids", async () => {
    collector.responder = (r) => (r.payload.events.length > 4 ? { status: 413 } : { status: 202 });
    const client = make(collector.url);
    capture(client, 30);
    expect(await client.flush(3000)).toBe(true);
    expect(collector.stored).toHaveLength(30);
    const first = collector.received[0]!.payload.events.map((e) => e.id);
    expect(new Set(collector.stored.map((e) => e.id))).toEqual(new Set(first));
    expect(collector.stored.map((e) => e.url)).toEqual(Array.from({ length: 30 }, (_, i) => `http://api.test/items?n=${i}`));
    // each half keeps the batch's User-Agent list, which its rows' indexes point into
    for (const batch of collector.received) expect((batch.payload as any).user_agents).toEqual(["vitest"]);
    expect(collector.stored.every((e) => e.user_agent === "vitest")).toBe(true);
  });

  it("drops a single event that is still too large", async () => {
    collector.responder = (r) => (r.payload.events.length ? { status: 413 } : { status: 202 });
    const client = make(collector.url, FAST);
    capture(client, 1);
    await client.flush(2000);
    await sleep(300);
    expect(collector.batches).toHaveLength(1);
    expect(client.stats.dropped.too_large).toBe(1);
  });
});

describe("bounded buffer", () => {
  it("drops the oldest and reports exact counts", async () => {
    let down = true;
    collector.responder = () => (down ? { status: 503 } : { status: 202 });
    const client = make(collector.url, { maxQueueSize: 100, retryBackoffMs: 200, retryBackoffMaxMs: 200 });
    capture(client, 1, "/first");
    await client.flush(200);
    capture(client, 250, "/later");
    expect(client.buffer.length).toBe(100);
    expect(client.stats.dropped.queue_overflow).toBe(150);
    down = false;
    expect(await client.flush(3000)).toBe(true);
    const urls = collector.stored.map((e) => e.url);
    expect(urls[0]).toBe("http://api.test/first?n=0");
    expect(urls.slice(1)).toEqual(Array.from({ length: 100 }, (_, i) => `http://api.test/later?n=${i + 150}`));
    expect(collector.droppedTotals.queue_overflow).toBe(150);
    const stats = client.stats.snapshot();
    const dropped = Object.values(stats.dropped).reduce((a, b) => a + b, 0);
    expect(stats.produced).toBe(stats.delivered + dropped);
  });

  it("stays bounded with the collector black-holed", async () => {
    const hole = await BlackHole.start();
    try {
      const client = make(hole.url, { timeoutMs: 30_000, flushIntervalMs: 50 });
      capture(client, 600);
      await sleep(200);
      capture(client, 30_000);
      expect(client.buffer.length).toBe(10_000);
      const stats = client.stats.snapshot();
      const dropped = Object.values(stats.dropped).reduce((a, b) => a + b, 0);
      expect(stats.produced).toBe(client.buffer.length + dropped + 500);
    } finally {
      await Promise.all(clients.splice(0).map((c) => c.shutdown(200)));
      await hole.close();
    }
  });

  it("bounds the buffer by bytes too", async () => {
    const client = make(`http://127.0.0.1:${await freePort()}`, { maxQueueBytes: 100_000, flushIntervalMs: 60_000 });
    capture(client, 1000, `/${"y".repeat(900)}`);
    expect(client.buffer.length).toBeLessThanOrEqual(100);
    expect(client.stats.dropped.queue_overflow).toBeGreaterThanOrEqual(900);
  });
});

describe("shutdown", () => {
  it("delivers what is queued", async () => {
    const client = make(collector.url, { flushIntervalMs: 60_000 });
    capture(client, 50);
    await client.shutdown();
    expect(collector.stored).toHaveLength(50);
  });

  it("is bounded when the collector hangs", async () => {
    const hole = await BlackHole.start();
    try {
      const client = make(hole.url, { flushIntervalMs: 60_000 });
      capture(client, 50);
      const started = Date.now();
      await client.shutdown(1000);
      expect(Date.now() - started).toBeLessThanOrEqual(1500);
    } finally {
      await hole.close();
    }
  });

  it("restarts after a shutdown", async () => {
    const client = make(collector.url);
    capture(client, 1);
    await client.shutdown(2000);
    capture(client, 1);
    expect(await client.flush(2000)).toBe(true);
    expect(collector.stored).toHaveLength(2);
  });
});
