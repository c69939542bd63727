/**
 * End to end against the real collector (the Python package, as a subprocess with its own
 * SQLite database): every request an Express app serves is stored exactly once, with the
 * collector healthy, down for 10 s, slow, answering 429/500/503, or black-holed.
 */
import { randomUUID } from "node:crypto";
import { createRequire } from "node:module";
import request from "supertest";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { shutdown } from "../src/client.js";
import { whowhywhen, type WhoWhyWhenMiddleware } from "../src/express.js";
import type { WhoWhyWhenOptions } from "../src/config.js";
import { silentLogger } from "./fakeCollector.js";
import { collectorBinary, FaultProxy, RealCollector } from "./realCollector.js";

const binary = collectorBinary();
if (binary === null) {
  console.warn(
    "SKIPPED: the WhoWhyWhen collector is not installed (no .venv/bin/whowhywhen at the repo root, or $WHOWHYWHEN_BIN)",
  );
}
const require = createRequire(import.meta.url);
const express4 = require("express4");
const express5 = require("express5");

let real: RealCollector;

beforeAll(async () => {
  if (binary === null) return;
  real = new RealCollector(binary);
  await real.start();
  real.createKey();
});

afterAll(async () => {
  await shutdown(2000);
  await real?.stop();
});

/** User-Agents of the first test: one on every other request, and one with a Latin-1 byte. */
const AGENTS = ["agent-a/1.0", "agent-b/2.0 (\u00e9)", "agent-a/1.0", "agent-c/3.0"];

function app(express: any, ww: WhoWhyWhenMiddleware) {
  const application = express();
  application.use(ww);
  application.get("/users/:id", (req: any, res: any) => res.json({ id: req.params.id }));
  return application;
}

function options(url?: string, extra: WhoWhyWhenOptions = {}): WhoWhyWhenOptions {
  return {
    apiKey: real.key,
    url: url ?? real.url,
    flushIntervalMs: 500,
    retryBackoffMs: 500,
    retryBackoffMaxMs: 2000,
    logger: silentLogger(),
    ...extra,
  };
}

function expectExactlyOnce(marker: string, expected: Set<string>) {
  const stored = real.storedUrls(marker).map((url) => new URL(url).pathname + new URL(url).search);
  expect(stored.length).toBe(expected.size);
  expect(new Set(stored)).toEqual(expected);
}

describe.skipIf(binary === null)("against the real collector", () => {
  it("stores every request of Express 4 and 5 exactly once, with its route", async () => {
    const marker = randomUUID().replaceAll("-", "");
    const expected = new Set<string>();
    for (const [name, express] of [["e4", express4], ["e5", express5]] as const) {
      const ww = whowhywhen(options());
      const target = app(express, ww);
      for (let i = 0; i < 100; i += 1) {
        const path = `/users/${name}-${i}?run=${marker}`;
        expect((await request(target).get(path).set("User-Agent", AGENTS[i % AGENTS.length]!)).status).toBe(200);
        expected.add(path);
      }
      expect(await ww.flush(20_000)).toBe(true);
    }
    expectExactlyOnce(marker, expected);
    const rows = real.query(
      "SELECT method, status_code, route, COUNT(DISTINCT event_id) FROM request_logs WHERE url LIKE ? GROUP BY 1, 2, 3",
      `%${marker}%`,
    );
    expect(rows).toEqual([["GET", 200, "/users/:id", 200]]);
    // The SDK lists a batch's User-Agents once and gives each row an index into that list.
    const byAgent = real.query(
      "SELECT a.raw, COUNT(*) FROM request_logs r JOIN user_agents a ON a.id = r.user_agent_id " +
        "WHERE r.url LIKE ? GROUP BY a.raw ORDER BY a.raw",
      `%${marker}%`,
    );
    expect(byAgent).toEqual([
      ["agent-a/1.0", 100],
      ["agent-b/2.0 (\u00e9)", 50],
      ["agent-c/3.0", 50],
    ]);
  });

  it("buffers while the collector is down for 10 s, then delivers everything", async () => {
    const marker = randomUUID().replaceAll("-", "");
    const expected = new Set<string>();
    const ww = whowhywhen(options());
    const target = app(express5, ww);
    let i = 0;
    const hit = async () => {
      const path = `/users/${i}?run=${marker}`;
      i += 1;
      const started = performance.now();
      expect((await request(target).get(path)).status).toBe(200);
      expected.add(path);
      return performance.now() - started;
    };
    for (let n = 0; n < 50; n += 1) await hit();
    expect(await ww.flush(20_000)).toBe(true);
    await real.stop();
    const downAt = Date.now();
    const latencies: number[] = [];
    while (Date.now() - downAt < 10_000) {
      latencies.push(await hit());
      await new Promise((r) => setTimeout(r, 20));
    }
    expect(real.storedUrls(marker)).toHaveLength(50);
    await real.start();
    for (let n = 0; n < 20; n += 1) await hit();
    expect(await ww.flush(30_000)).toBe(true);
    expectExactlyOnce(marker, expected);
    latencies.sort((a, b) => a - b);
    expect(latencies[Math.floor(latencies.length / 2)]).toBeLessThan(20);
  }, 90_000);

  it("keeps host latency unchanged while the collector is slow", async () => {
    const marker = randomUUID().replaceAll("-", "");
    const proxy = await FaultProxy.start(real.url);
    try {
      proxy.delayMs = 1500;
      const ww = whowhywhen(options(proxy.url, { flushIntervalMs: 200 }));
      const bare = express5();
      bare.get("/users/:id", (req: any, res: any) => res.json({ id: req.params.id }));
      const instrumented = app(express5, ww);
      const bareServer = bare.listen(0);
      const sdkServer = instrumented.listen(0);
      const bareTimes: number[] = [];
      const sdkTimes: number[] = [];
      try {
        for (let n = 0; n < 300; n += 1) {
          for (const [server, times] of [[bareServer, bareTimes], [sdkServer, sdkTimes]] as const) {
            const started = performance.now();
            await (await fetch(`http://127.0.0.1:${server.address().port}/users/${n}?run=${marker}`)).text();
            times.push(performance.now() - started);
          }
        }
      } finally {
        bareServer.close();
        sdkServer.close();
      }
      const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;
      expect(median(sdkTimes) - median(bareTimes)).toBeLessThan(1);
      expect(await ww.flush(30_000)).toBe(true);
      expect(new Set(real.storedUrls(marker)).size).toBe(300);
      expect(real.storedUrls(marker)).toHaveLength(300);
    } finally {
      await proxy.close();
    }
  }, 60_000);

  it("retries 429, 500 and 503 answers until every request is stored once", async () => {
    const marker = randomUUID().replaceAll("-", "");
    const proxy = await FaultProxy.start(real.url);
    try {
      proxy.script.push(
        { status: 429, headers: { "retry-after": "1" } },
        { status: 500 },
        { status: 503, headers: { "retry-after": "1" } },
        { status: 502 },
      );
      const ww = whowhywhen(options(proxy.url, { retryBackoffMs: 200 }));
      const target = app(express4, ww);
      const expected = new Set<string>();
      for (let n = 0; n < 120; n += 1) {
        const path = `/users/${n}?run=${marker}`;
        await request(target).get(path);
        expected.add(path);
      }
      expect(await ww.flush(30_000)).toBe(true);
      expect(proxy.answered.slice(0, 4)).toEqual([429, 500, 503, 502]);
      expectExactlyOnce(marker, expected);
    } finally {
      await proxy.close();
    }
  }, 60_000);

  it("stays bounded while black-holed and reports its drops to the collector", async () => {
    const marker = randomUUID().replaceAll("-", "");
    const proxy = await FaultProxy.start(real.url);
    const before = real.sdkDropped("queue_overflow");
    try {
      proxy.blackhole = true;
      const ww = whowhywhen(
        options(proxy.url, { maxQueueSize: 300, batchSize: 100, timeoutMs: 60_000, flushIntervalMs: 200 }),
      );
      const target = app(express5, ww);
      const server = target.listen(0);
      try {
        const base = `http://127.0.0.1:${server.address().port}`;
        for (let n = 0; n < 1500; n += 1) await (await fetch(`${base}/users/${n}?run=${marker}`)).text();
      } finally {
        server.close();
      }
      expect(ww.client!.buffer.length).toBeLessThanOrEqual(300);
      proxy.blackhole = false;
      expect(await ww.flush(30_000)).toBe(true);
      const dropped = ww.client!.stats.dropped.queue_overflow;
      expect(dropped).toBeGreaterThan(1000);
      const stored = real.storedUrls(marker);
      expect(new Set(stored).size).toBe(stored.length);
      expect(stored.length).toBe(1500 - dropped);
      expect(real.sdkDropped("queue_overflow") - before).toBe(dropped);
    } finally {
      await proxy.close();
    }
  }, 60_000);
});
