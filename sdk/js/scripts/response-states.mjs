// What finding a response's tracking state costs per response, alone: a response made as Node's
// server makes it, its prototype changed as Express changes it, its state stored, then looked up
// and let go at its 'close'. Variants: `none` (nothing stored), `weakmap` (one `WeakMap` entry per
// response, as the SDK did), `map` (a plain `Map`, deleted at 'close') and `states` (the SDK's
// `ResponseStates`, which is that `Map` plus a `WeakMap` for responses open across a rotation).
// Prints each variant's CPU µs per response over `--rounds` rounds, alternating orders (min,
// median, max). Run on one core, as the bench pins its host:
//
//   cd sdk/js && npm run build && taskset -c 0 node scripts/response-states.mjs [--responses 300000] [--rounds 7]
import { IncomingMessage, ServerResponse } from "node:http";
import { Socket } from "node:net";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";

const here = fileURLToPath(new URL("..", import.meta.url));
const { tracked } = await import(here + "dist/esm/client.js");
const { values: args } = parseArgs({ options: { responses: { type: "string" }, rounds: { type: "string" } } });
const RESPONSES = Number(args.responses ?? 300_000);
const ROUNDS = Number(args.rounds ?? 7);
// Express's `app.response`: an object whose prototype is ServerResponse's
const appResponse = Object.create(ServerResponse.prototype);
const weak = new WeakMap();
const map = new Map();

const variants = {
  none: () => {},
  weakmap: (res, state) => {
    weak.set(res, state);
    return () => weak.get(res);
  },
  map: (res, state) => {
    map.set(res, state);
    return () => {
      map.get(res);
      map.delete(res);
    };
  },
  states: (res, state) => {
    tracked.set(res, state);
    return () => {
      tracked.get(res);
      tracked.delete(res);
    };
  },
};

function round(store) {
  // states stay alive a while, as queued events do
  const queued = [];
  const start = process.cpuUsage();
  for (let i = 0; i < RESPONSES; i++) {
    const res = new ServerResponse(new IncomingMessage(new Socket()));
    Object.setPrototypeOf(res, appResponse);
    const state = { started: i, status: 0, sent: 0, closed: false };
    const close = store(res, state);
    queued.push(state);
    if (queued.length === 2000) queued.length = 0;
    close?.();
  }
  const used = process.cpuUsage(start);
  return (used.user + used.system) / RESPONSES;
}

const names = Object.keys(variants);
const results = Object.fromEntries(names.map((name) => [name, []]));
round(variants.none); // warm-up
for (let r = 0; r < ROUNDS; r++) {
  for (const name of r % 2 ? names : [...names].reverse()) results[name].push(round(variants[name]));
}
for (const name of names) {
  const values = results[name].sort((a, b) => a - b);
  const median = values[Math.floor(values.length / 2)];
  console.log(`${name.padEnd(8)} ${values[0].toFixed(3)} / ${median.toFixed(3)} / ${values.at(-1).toFixed(3)} µs per response (min / median / max)`);
}
process.exit(0);
