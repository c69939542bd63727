// What the middleware costs an Express app, in one process and without a network: the bench's
// app (Express 5, `GET /items/:id` answering JSON) served by Node's own HTTP server through
// in-memory sockets (the real parser, `ServerResponse`, keep-alive and 'close' events), with
// `--connections` connections each keeping one request in flight, as `wrk -c32` does.
//
//   node scripts/overhead.mjs [--variant bare,noop,sdk,sdk-nopush,alt|both] [--alt DIR]
//                             [--requests 200000] [--rounds 3] [--slow-ms 0] [--user-agent UA]
//                             [--batch-size 500] [--gc 1] [--alloc 1024] [--rate 1000 --connections 4]
//
// `noop` is a pass-through `app.use` (what any middleware layer costs in Express's router);
// `sdk-nopush` tracks requests but queues nothing; `alt` is the SDK built into DIR (its
// `dist/esm`, e.g. copied from another commit); `--slow-ms` makes every batch wait that long;
// `--batch-size` sets the SDK's `batchSize`; `--gc 1` adds the garbage collector's time and
// collections per request to each line (perf_hooks); `--rate R` offers R requests/s (each connection
// waits an exponential think time between its requests, as the socket bench's fixed-rate phase
// does), so queued events wait as long as they do there, and prints each request's latency (p50,
// p99, p99.9, max: from its bytes reaching the server to its response's end); `--alloc N` samples
// the JavaScript heap's allocations (one in every N bytes, V8's sampling heap profiler, collected
// objects included) and prints the bytes allocated per request by each variant, and the
// functions that allocated most (the SDK's own, for the SDK variants).
// Every request carries a browser's User-Agent, as in bench/sdk_overhead.py (`--user-agent ""`
// for none). Run on one core (`taskset -c 0`) as the bench pins its host.
// Prints the process CPU time (`process.cpuUsage()`, user + system) per request. With `sdk`,
// events go through the whole sender (rows, gzip) to a transport that answers 202 at once;
// the SDK's delivered count is checked against the requests served. Needs `npm run build` first.
import { createRequire } from "node:module";
import { createServer } from "node:http";
import { constants as perfConstants, PerformanceObserver } from "node:perf_hooks";
import { Duplex } from "node:stream";
import { fileURLToPath } from "node:url";

const here = fileURLToPath(new URL("..", import.meta.url));
const require = createRequire(here + "package.json");
const express = require("express5");
const { whowhywhen } = await import(here + "dist/esm/index.js");

const args = Object.fromEntries(
  process.argv.slice(2).reduce((pairs, arg, i, all) => (arg.startsWith("--") ? [...pairs, [arg.slice(2), all[i + 1]]] : pairs), []),
);
const REQUESTS = Number(args.requests ?? 200_000);
const ROUNDS = Number(args.rounds ?? 3);
const CONNECTIONS = Number(args.connections ?? 32);
// `--rate R`: the connections together offer R requests/s (random arrivals) instead of a closed loop
const RATE = Number(args.rate ?? 0);
const THINK_MS = RATE > 0 ? (CONNECTIONS / RATE) * 1000 : 0;
// `--alt DIR`: variant `alt` is the SDK built into DIR (e.g. a copy of dist/esm of another commit)
const alt = args.alt ? await import(args.alt + "/index.js") : null;
const USER_AGENT =
  args["user-agent"] ??
  "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36";
const AGENT_LINE = USER_AGENT ? `User-Agent: ${USER_AGENT}\r\n` : "";
// `--gc`: also print the garbage collector's time and collections per request (perf_hooks 'gc')
const gc = { on: "gc" in args, ms: 0, minor: 0, major: 0 };
if (gc.on) {
  new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) {
      gc.ms += entry.duration;
      if (entry.detail?.kind === perfConstants.NODE_PERFORMANCE_GC_MAJOR) gc.major += 1;
      else gc.minor += 1;
    }
  }).observe({ entryTypes: ["gc"] });
}
// `--alloc N`: V8's sampling heap profiler around each measured run
const allocation = args.alloc ? { interval: Number(args.alloc), session: null, bytes: {}, sites: {} } : null;
if (allocation) {
  const { Session } = await import("node:inspector/promises");
  allocation.session = new Session();
  allocation.session.connect();
  await allocation.session.post("HeapProfiler.enable");
}

/** Sample allocations while `work` runs; add them up by variant and by function. */
async function sampled(variant, work) {
  if (!allocation) return work();
  const { session } = allocation;
  await session.post("HeapProfiler.startSampling", {
    samplingInterval: allocation.interval,
    includeObjectsCollectedByMajorGC: true,
    includeObjectsCollectedByMinorGC: true,
  });
  const result = await work();
  const { profile } = await session.post("HeapProfiler.stopSampling");
  const sites = (allocation.sites[variant] ??= new Map());
  const visit = (node) => {
    if (node.selfSize) {
      const frame = node.callFrame;
      const site = `${frame.functionName || "(anonymous)"} ${frame.url.split("/").slice(-2).join("/")}:${frame.lineNumber + 1}`;
      sites.set(site, (sites.get(site) ?? 0) + node.selfSize);
      allocation.bytes[variant] = (allocation.bytes[variant] ?? 0) + node.selfSize;
    }
    for (const child of node.children) visit(child);
  };
  visit(profile.head);
  return result;
}

const VARIANTS = (args.variant ?? "both") === "both" ? ["bare", "sdk"] : args.variant.split(",");

class MemorySocket extends Duplex {
  constructor(onData) {
    super();
    this.onResponseBytes = onData;
    this.remoteAddress = "127.0.0.1";
    this.remotePort = 50000;
    this.encrypted = undefined;
  }
  _read() {}
  _write(chunk, _encoding, callback) {
    this.onResponseBytes(chunk);
    callback();
  }
  _writev(chunks, callback) {
    for (const { chunk } of chunks) this.onResponseBytes(chunk);
    callback();
  }
  setTimeout() {
    return this;
  }
  setNoDelay() {
    return this;
  }
  setKeepAlive() {
    return this;
  }
}

function buildApp(variant, transport) {
  const app = express();
  let ww = null;
  if (variant === "sdk" || variant === "sdk-nopush" || variant === "alt") {
    ww = (variant === "alt" ? alt.whowhywhen : whowhywhen)(
      { apiKey: "www_inprocess_bench", url: "http://127.0.0.1:9", maxQueueSize: 300_000, maxQueueBytes: 256 * 1024 * 1024, ...(args["batch-size"] ? { batchSize: Number(args["batch-size"]) } : {}) },
      transport,
    );
    if (variant === "sdk-nopush") ww.client.push = () => {};
    app.use(ww);
  } else if (variant === "noop") {
    app.use((_req, _res, next) => next());
  }
  app.get("/items/:id", (req, res) => {
    res.json({ id: Number(req.params.id), name: "widget", tags: ["a", "b"], price: 9.99 });
  });
  return { app, ww };
}

function run(variant) {
  let rows = 0;
  // `--slow-ms N`: the collector takes N ms per batch, so events wait in the SDK's queue as in
  // the socket bench, where the collector only gets the CPU wrk leaves.
  const slow = Number(args["slow-ms"] ?? 0);
  const transport = async () => {
    if (slow > 0) await new Promise((resolve) => setTimeout(resolve, slow));
    return { status: 202, header: () => null, body: "{}" };
  };
  const { app, ww } = buildApp(variant, transport);
  const server = createServer(app);
  let issued = 0;
  let answered = 0;
  // with `--rate`: each request's latency, from its bytes reaching the server to its response's
  const sentAt = RATE > 0 ? new Float64Array(REQUESTS + 1) : null;
  const latency = RATE > 0 ? new Float64Array(REQUESTS) : null;
  return new Promise((resolve) => {
    let started;
    const begin = () => {
      started = { cpu: process.cpuUsage(), wall: performance.now(), gc: { ...gc } };
    };
    const finish = async () => {
      const cpu = process.cpuUsage(started.cpu);
      const wall = performance.now() - started.wall;
      let flushCpu = 0;
      if (ww) {
        const before = process.cpuUsage();
        await ww.flush(30_000);
        const used = process.cpuUsage(before);
        flushCpu = used.user + used.system;
        await ww.shutdown();
      }
      rows = ww ? ww.client.stats.delivered : 0;
      const gcUs = ((gc.ms - started.gc.ms) * 1000) / REQUESTS;
      const gcLine = `  GC ${gcUs.toFixed(2)} µs/req, ${gc.minor - started.gc.minor} minor + ${gc.major - started.gc.major} major`;
      resolve({ variant, gcLine: gc.on ? gcLine : "", cpuUs: (cpu.user + cpu.system + flushCpu) / REQUESTS, wallUs: (wall * 1000) / REQUESTS, rows, latency });
    };
    const connect = (index) => {
      let pending = "";
      let inFlight = 0;
      const socket = new MemorySocket((chunk) => {
        pending += chunk.toString("latin1");
        for (;;) {
          const end = pending.indexOf("\r\n\r\n");
          if (end === -1) return;
          const length = Number(/content-length: (\d+)/i.exec(pending.slice(0, end))[1]);
          if (pending.length < end + 4 + length) return;
          pending = pending.slice(end + 4 + length);
          if (latency) latency[answered] = performance.now() - sentAt[inFlight];
          answered += 1;
          if (answered === REQUESTS) {
            setImmediate(finish);
            return;
          }
          send();
        }
      });
      const send = () => {
        if (issued >= REQUESTS) return;
        issued += 1;
        const id = issued;
        const request = () => {
          if (sentAt) {
            inFlight = id;
            sentAt[id] = performance.now();
          }
          socket.push(`GET /items/${id % 1000}?run=x HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n${AGENT_LINE}\r\n`);
        };
        // a turn of the event loop between a response and the next request, as over a network;
        // with `--rate`, an exponential think time, as in the socket bench's fixed-rate phase
        if (RATE > 0) setTimeout(request, -Math.log(1 - Math.random()) * THINK_MS);
        else setImmediate(request);
      };
      server.emit("connection", socket);
      if (index === 0) begin();
      send();
    };
    for (let i = 0; i < CONNECTIONS; i += 1) connect(i);
  });
}

const results = Object.fromEntries(VARIANTS.map((v) => [v, []]));
const tails = {};
// warm-up: JIT, Express's caches
for (const variant of VARIANTS) await run(variant);
for (let round = 0; round < ROUNDS; round += 1) {
  for (const variant of VARIANTS) {
    const result = await sampled(variant, () => run(variant));
    if ((variant === "sdk" || variant === "alt") && result.rows !== REQUESTS) throw new Error(`stored ${result.rows} of ${REQUESTS}`);
    results[variant].push(result.cpuUs);
    let latencyLine = "";
    if (result.latency) {
      const sorted = result.latency.sort();
      const at = (q) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))].toFixed(3);
      (tails[variant] ??= []).push(sorted[Math.floor(0.99 * sorted.length)]);
      latencyLine = `  latency ms p50 ${at(0.5)} p99 ${at(0.99)} p99.9 ${at(0.999)} max ${at(1)}`;
    }
    console.log(`round ${round + 1} ${variant.padEnd(4)} ${result.cpuUs.toFixed(2)} µs CPU/req  ${result.wallUs.toFixed(2)} µs wall/req${result.gcLine}${latencyLine}`);
  }
}
const median = (values) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];
for (const variant of VARIANTS) {
  const p99 = tails[variant] ? `, p99 ${median(tails[variant]).toFixed(3)} ms` : "";
  console.log(`median ${variant}: ${median(results[variant]).toFixed(2)} µs CPU/req${p99}`);
}
if (allocation) {
  for (const variant of VARIANTS) {
    const perRequest = (bytes) => (bytes / (REQUESTS * ROUNDS)).toFixed(0).padStart(6);
    // the SDK's own functions (its build is `.../dist/esm/*.js`), or, bare, the app's
    const own = variant === "bare" || variant === "noop" ? () => true : (site) => site.includes(" esm/");
    console.log(`allocated ${variant}: ${perRequest(allocation.bytes[variant])} bytes/req (sampled 1 in ${allocation.interval} bytes); most by`);
    const top = [...allocation.sites[variant]].filter(([site]) => own(site)).sort((a, b) => b[1] - a[1]).slice(0, 8);
    for (const [site, bytes] of top) console.log(`  ${perRequest(bytes)}  ${site}`);
  }
}
if (results.sdk && results.alt) {
  const diffs = results.alt.map((v, i) => v - results.sdk[i]);
  console.log(`alt - sdk per round: ${diffs.map((d) => d.toFixed(2)).join(", ")}; median ${median(diffs).toFixed(2)} µs`);
}
if (results.bare && results.sdk) {
  console.log(`SDK adds ${(median(results.sdk) - median(results.bare)).toFixed(2)} µs; bare/sdk ${(median(results.bare) / median(results.sdk)).toFixed(3)}`);
}
