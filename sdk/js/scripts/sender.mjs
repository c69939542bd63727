// CPU per event of the sender alone, in-process: `--events` captured requests (the socket bench's
// URL, host and browser User-Agent) are queued, then flushed through the whole sender (rows, JSON,
// gzip) to a transport that answers 202 at once. Prints the min and median over `--rounds` (after
// two unmeasured ones) for this build and, with `--alt DIR`, for the build in DIR (its dist/esm),
// alternating. With `node --expose-gc`, also the V8 heap that queued events hold, per event
// (`heapUsed` after a full GC with the events queued, less before them): what a queue that
// waits for a slow collector keeps alive for the host's collector to trace and promote (the CPU
// figures then follow a full collection each round: compare them only with each other). Run on
// one core, as the bench pins its host:
//
//   cd sdk/js && npm run build && taskset -c 0 node --expose-gc scripts/sender.mjs [--events 20000] [--rounds 12] [--alt DIR]
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";

const here = fileURLToPath(new URL("..", import.meta.url));
const { values: args } = parseArgs({
  options: { events: { type: "string" }, rounds: { type: "string" }, alt: { type: "string" } },
});
const EVENTS = Number(args.events ?? 20_000);
const ROUNDS = Number(args.rounds ?? 12);
const UA = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36";
const builds = { sdk: here + "dist/esm" };
if (args.alt) builds.alt = args.alt;
const transport = async () => ({ status: 202, header: () => null, body: "{}" });

async function load(dir) {
  const { Client } = await import(dir + "/client.js");
  const { resolveConfig } = await import(dir + "/config.js");
  return () => new Client(resolveConfig({ apiKey: "www_sender_bench", url: "http://127.0.0.1:9", maxQueueSize: EVENTS, maxQueueBytes: 1e9 }), transport);
}

const held = Object.fromEntries(Object.keys(builds).map((name) => [name, []]));

async function once(make, name) {
  const client = make();
  const heapBefore = globalThis.gc ? (globalThis.gc(), process.memoryUsage().heapUsed) : 0;
  for (let i = 0; i < EVENTS; i++) {
    client.push({
      url: `/items/${i % 1000}?run=0123456789abcdef0123456789abcdef`, host: "127.0.0.1:40123", https: false, method: "GET",
      status_code: 200, duration: 0.00012 + i * 1e-9, started: performance.now(), timestamp: undefined, user_agent: UA,
      ip_address: "127.0.0.1", route: "/items/:id", consumer: undefined, consumer_name: undefined, request_size: undefined,
      response_size: 61, exception: undefined,
    });
  }
  if (globalThis.gc) {
    globalThis.gc();
    held[name].push((process.memoryUsage().heapUsed - heapBefore) / EVENTS);
  }
  const before = process.cpuUsage();
  await client.flush(30_000);
  const used = process.cpuUsage(before);
  await client.shutdown();
  if (client.stats.delivered !== EVENTS) throw new Error(`delivered ${client.stats.delivered} of ${EVENTS}`);
  return (used.user + used.system) / EVENTS;
}

const makers = Object.fromEntries(await Promise.all(Object.entries(builds).map(async ([name, dir]) => [name, await load(dir)])));
const results = Object.fromEntries(Object.keys(makers).map((name) => [name, []]));
for (let round = 0; round < ROUNDS + 2; round++) {
  for (const [name, make] of Object.entries(makers)) {
    const us = await once(make, name);
    if (round >= 2) results[name].push(us);
  }
}
for (const [name, values] of Object.entries(results)) {
  values.sort((a, b) => a - b);
  const bytes = held[name].sort((a, b) => a - b);
  const heap = bytes.length ? `; queued, ${bytes[Math.floor(bytes.length / 2)].toFixed(0)} bytes of heap an event` : "";
  console.log(`${name}: sender ${values[0].toFixed(3)} µs an event (min), ${values[Math.floor(values.length / 2)].toFixed(3)} (median of ${values.length})${heap}`);
}
