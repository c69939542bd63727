import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { EventEmitter } from "node:events";
import { createServer, type Server, ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { fileURLToPath } from "node:url";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { flush, shutdown, tracked } from "../src/client.js";
import { resetLogLimits } from "../src/log.js";
import { withWhoWhyWhen } from "../src/node.js";
import { VERSION } from "../src/version.js";
import { API_KEY, FakeCollector, silentLogger } from "./fakeCollector.js";

const root = fileURLToPath(new URL("..", import.meta.url));
let collector: FakeCollector;
let server: Server | null = null;

beforeEach(async () => {
  resetLogLimits();
  collector = await FakeCollector.start();
});

afterEach(async () => {
  if (server) await new Promise((resolve) => server!.close(resolve));
  server = null;
  await shutdown(500);
  await collector.close();
});

async function listen(handler: Parameters<typeof createServer>[1]): Promise<string> {
  server = createServer(handler);
  await new Promise<void>((resolve) => server!.listen(0, "127.0.0.1", resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

describe("plain node http", () => {
  it("records requests and the type of a rejected handler", async () => {
    const handler = withWhoWhyWhen(
      async (req, res) => {
        if (req.url === "/fail") {
          res.statusCode = 503;
          res.end("down");
          throw new RangeError("broken");
        }
        res.setHeader("content-type", "text/plain");
        res.end("hello");
      },
      { apiKey: API_KEY, url: collector.url, logger: silentLogger() },
    );
    const base = await listen((req, res) => {
      (handler(req, res) as Promise<unknown>).catch(() => undefined);
    });
    const response = await fetch(`${base}/hello?x=1`, { headers: { "user-agent": "node-test" } });
    expect(await response.text()).toBe("hello");
    await fetch(`${base}/fail`);
    expect(await flush(3000)).toBe(true);
    const [hello, fail] = collector.stored;
    expect(hello).toMatchObject({
      url: `${base}/hello?x=1`,
      method: "GET",
      status_code: 200,
      user_agent: "node-test",
      response_size: 5,
    });
    expect(hello!.route).toBeUndefined();
    expect(fail).toMatchObject({ status_code: 503, exception: "RangeError" });
  });

  it("records responses of a class whose own emit bypasses ServerResponse's", async () => {
    // Node's `ServerResponse` option: each response is one of these, and its 'close' never
    // passes through `ServerResponse.prototype.emit`.
    class OwnEmit extends ServerResponse {
      override emit(event: string | symbol, ...args: unknown[]): boolean {
        return EventEmitter.prototype.emit.call(this, event, ...args);
      }
    }
    const handler = withWhoWhyWhen((_req, res) => res.end("own"), {
      apiKey: API_KEY,
      url: collector.url,
      logger: silentLogger(),
    });
    server = createServer({ ServerResponse: OwnEmit }, handler);
    await new Promise<void>((resolve) => server!.listen(0, "127.0.0.1", resolve));
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    expect(await (await fetch(`${base}/own`)).text()).toBe("own");
    expect(await flush(3000)).toBe(true);
    expect(collector.stored.map((e) => [new URL(e.url).pathname, e.response_size])).toEqual([["/own", 3]]);
  });

  it("records a response tracked twice once per tracker, both with the first one's count", async () => {
    // two instrumented handlers around one response: the inner one's record is deferred too,
    // and reads the bytes the outer one counted (a streamed body: no Content-Length to read)
    const options = { apiKey: API_KEY, url: collector.url, logger: silentLogger() };
    const inner = withWhoWhyWhen((_req, res) => {
      res.write("ab");
      res.end("cde");
    }, options);
    const outer = withWhoWhyWhen((req, res) => inner(req, res), options);
    const base = await listen(outer);
    expect(await (await fetch(`${base}/twice`)).text()).toBe("abcde");
    expect(await flush(3000)).toBe(true);
    expect(collector.stored.map((e) => [e.status_code, e.response_size])).toEqual([
      [200, 5],
      [200, 5],
    ]);
    expect(tracked.openCount).toBe(0);
  });

  it("rethrows what a handler throws", () => {
    const handler = withWhoWhyWhen(() => {
      throw new TypeError("sync");
    }, { enabled: false });
    expect(() => handler({} as any, {} as any)).toThrow(TypeError);
  });
});

describe("the published package", () => {
  const built = existsSync(`${root}/dist/esm/index.js`) && existsSync(`${root}/dist/cjs/index.js`);

  it.skipIf(!built)("loads as ESM and as CommonJS, with types", () => {
    const esm = spawnSync(
      process.execPath,
      ["--input-type=module", "-e", "import { whowhywhen, withWhoWhyWhen, VERSION } from 'whowhywhen'; console.log(typeof whowhywhen, typeof withWhoWhyWhen, VERSION)"],
      { cwd: root, encoding: "utf8" },
    );
    expect(esm.stdout.trim()).toBe(`function function ${VERSION}`);
    const cjs = spawnSync(
      process.execPath,
      ["-e", "const { whowhywhen, setConsumer, VERSION } = require('whowhywhen'); console.log(typeof whowhywhen, typeof setConsumer, VERSION)"],
      { cwd: root, encoding: "utf8" },
    );
    expect(cjs.stdout.trim()).toBe(`function function ${VERSION}`);
    expect(existsSync(`${root}/dist/esm/index.d.ts`)).toBe(true);
    expect(existsSync(`${root}/dist/cjs/index.d.ts`)).toBe(true);
  });

  it.skipIf(!built)("never keeps a process alive, and delivers what is queued when it ends", async () => {
    const script = `
      import http from "node:http";
      import { withWhoWhyWhen } from "whowhywhen";
      const handler = withWhoWhyWhen((req, res) => res.end("ok"),
        { apiKey: ${JSON.stringify(API_KEY)}, url: ${JSON.stringify(collector.url)}, flushIntervalMs: 60000 });
      const server = http.createServer(handler).listen(0, "127.0.0.1", async () => {
        const { port } = server.address();
        await (await fetch("http://127.0.0.1:" + port + "/exit")).text();
        server.close();
      });
    `;
    const started = Date.now();
    const child = await new Promise<number | null>((resolve) => {
      import("node:child_process").then(({ spawn }) => {
        const proc = spawn(process.execPath, ["--input-type=module", "-e", script], { cwd: root, stdio: "inherit" });
        proc.on("exit", resolve);
      });
    });
    expect(child).toBe(0);
    expect(Date.now() - started).toBeLessThan(4000);
    expect(collector.stored.map((e) => new URL(e.url).pathname)).toEqual(["/exit"]);
  });

  it("keeps VERSION in step with package.json", async () => {
    const { readFileSync } = await import("node:fs");
    expect(JSON.parse(readFileSync(`${root}/package.json`, "utf8")).version).toBe(VERSION);
  });
});
