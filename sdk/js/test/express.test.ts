import { createRequire } from "node:module";
import request from "supertest";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { shutdown, tracked } from "../src/client.js";
import { whowhywhen, type WhoWhyWhenMiddleware } from "../src/express.js";
import { setConsumer } from "../src/index.js";
import { resetLogLimits } from "../src/log.js";
import { API_KEY, FakeCollector, silentLogger } from "./fakeCollector.js";

const require = createRequire(import.meta.url);
const versions = [
  ["express 4", require("express4")],
  ["express 5", require("express5")],
] as const;

let collector: FakeCollector;

beforeEach(async () => {
  resetLogLimits();
  collector = await FakeCollector.start();
});

afterEach(async () => {
  await shutdown(500);
  await collector.close();
});

class PaymentRequired extends Error {}

function buildApp(express: any, ww: WhoWhyWhenMiddleware | null) {
  const app = express();
  // Development error pages print the stack, which names every middleware in the chain.
  app.set("env", "production");
  if (ww) app.use(ww);
  app.get("/users/:id", (req: any, res: any) => res.json({ id: Number(req.params.id) }));
  app.post("/echo", express.raw({ type: "*/*" }), (req: any, res: any) => res.send(req.body));
  app.get("/boom", () => {
    throw new PaymentRequired("no money");
  });
  app.get("/stream", (_req: any, res: any) => {
    res.write("a".repeat(10));
    res.write(Buffer.from("b".repeat(20)));
    res.end("c".repeat(30));
  });
  app.get("/whoami", (req: any, res: any) => {
    setConsumer(req, "acme", "Acme Inc");
    res.send("ok");
  });
  app.get("/health", (_req: any, res: any) => res.send("ok"));
  const router = express.Router();
  router.get("/orders/:orderId", (req: any, res: any) => res.send(req.params.orderId));
  app.use("/v1", router);
  if (ww) app.use(ww.errorHandler);
  return app;
}

/** Serve `app` on a free port while `use` runs, given the server's base URL. */
async function serving(app: any, use: (base: string) => Promise<void>): Promise<void> {
  const server = app.listen(0, "127.0.0.1");
  await new Promise((resolve) => server.once("listening", resolve));
  try {
    await use(`http://127.0.0.1:${server.address().port}`);
  } finally {
    server.close();
  }
}

async function stored() {
  const { flush } = await import("../src/client.js");
  expect(await flush(3000)).toBe(true);
  return collector.stored;
}

describe.each(versions)("%s", (_name, express) => {
  const options = () => ({ apiKey: API_KEY, url: collector.url, logger: silentLogger() });

  it("records method, url, route, status, sizes, user agent and ip", async () => {
    const app = buildApp(express, whowhywhen(options()));
    const response = await request(app).get("/users/42?expand=1").set("User-Agent", "curl/8.5");
    expect(response.body).toEqual({ id: 42 });
    await request(app).post("/echo").set("Content-Type", "application/octet-stream").send(Buffer.from("x".repeat(123)));
    await request(app).get("/v1/orders/o-7");
    await request(app).get("/no/such/path");
    const [user, echo, order, missing] = await stored();
    expect(user).toMatchObject({
      method: "GET",
      status_code: 200,
      route: "/users/:id",
      user_agent: "curl/8.5",
      response_size: Number(response.headers["content-length"]),
    });
    expect(user!.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/users\/42\?expand=1$/);
    expect(["127.0.0.1", "::1"]).toContain(user!.ip_address);
    expect(user!.duration).toBeGreaterThan(0);
    expect(echo).toMatchObject({ method: "POST", request_size: 123, response_size: 123, route: "/echo" });
    expect(order!.route).toBe("/v1/orders/:orderId");
    expect(missing!.status_code).toBe(404);
    expect(missing!.route).toBeUndefined();
  });

  it("records an aborted request once, as 499", async () => {
    const app = express();
    app.use(whowhywhen(options()));
    let entered!: () => void;
    const reached = new Promise<void>((resolve) => (entered = resolve));
    app.get("/slow", (_req: any, res: any) => {
      entered();
      setTimeout(() => res.send("late"), 300);
    });
    await serving(app, async (base) => {
      const controller = new AbortController();
      const call = fetch(`${base}/slow`, { signal: controller.signal }).catch(() => null);
      await reached;
      controller.abort();
      await call;
      await new Promise((resolve) => setTimeout(resolve, 400));
    });
    const events = await stored();
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({ status_code: 499, route: "/slow", method: "GET" });
  });

  it("keeps finding a response that outlives a rotation, and holds none that never closes", async () => {
    const app = express();
    app.use(whowhywhen(options()));
    let reached!: () => void;
    const bothReached = new Promise<void>((resolve) => (reached = resolve));
    let entered = 0;
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    app.get("/long", (_req: any, res: any) => {
      res.write("x".repeat(5)); // counted while the response is in the plain map
      if (++entered === 2) reached();
      released.then(() => res.end("y".repeat(7))); // counted after it moved to the WeakMap
    });
    app.get("/hang", () => {
      if (++entered === 2) reached(); // never answers: only the client's abort closes it
    });
    await serving(app, async (base) => {
      const long = fetch(`${base}/long`).then((response) => response.text());
      const controller = new AbortController();
      const hang = fetch(`${base}/hang`, { signal: controller.signal }).catch(() => null);
      await bothReached;
      expect(tracked.openCount).toBe(2);
      tracked.rotate();
      expect(tracked.openCount).toBe(0);
      release();
      expect(await long).toBe("xxxxxyyyyyyy");
      controller.abort();
      await hang;
      await new Promise((resolve) => setTimeout(resolve, 100));
    });
    const events = await stored();
    expect(events.map((event) => [event.route, event.status_code, event.response_size])).toEqual([
      ["/long", 200, 12],
      ["/hang", 499, 0],
    ]);
  });

  it("records each response once, beside the host's own 'close' listeners and emit wrappers", async () => {
    const app = express();
    const closes: string[] = [];
    app.use((req: any, res: any, next: () => void) => {
      // a library wrapping this response's emit before the middleware sees it, calling through
      if (req.url !== "/wrapped") return next();
      const emit = res.emit;
      res.emit = function (this: unknown, ...args: unknown[]) {
        if (args[0] === "close") closes.push("wrapped");
        return emit.apply(this, args);
      };
      next();
    });
    app.use(whowhywhen(options()));
    app.get("/listener", (_req: any, res: any) => {
      res.on("close", () => closes.push("listener"));
      expect(res.emit("custom")).toBe(false);
      res.once("custom", () => closes.push("custom"));
      expect(res.emit("custom")).toBe(true);
      res.send("a");
    });
    app.get("/wrapped", (_req: any, res: any) => res.send("bb"));
    app.get("/twice", (_req: any, res: any) => {
      res.send("ccc");
      res.emit("close");
    });
    await serving(app, async (base) => {
      for (const path of ["/listener", "/wrapped", "/twice"]) await (await fetch(base + path)).text();
      await new Promise((resolve) => setTimeout(resolve, 50));
    });
    expect(closes.sort()).toEqual(["custom", "listener", "wrapped"]);
    expect(tracked.openCount).toBe(0);
    const events = await stored();
    expect(events.map((event) => [event.route, event.response_size])).toEqual([
      ["/listener", 1],
      ["/wrapped", 2],
      ["/twice", 3],
    ]);
  });

  it("records requests answered by a mounted sub-app once", async () => {
    const app = express();
    app.use(whowhywhen(options()));
    const sub = express();
    sub.get("/items/:id", (req: any, res: any) => res.send(req.params.id));
    sub.get("/stream", (_req: any, res: any) => {
      res.write("x".repeat(5));
      res.end("y".repeat(7));
    });
    app.use("/sub", sub);
    expect((await request(app).get("/sub/items/3")).text).toBe("3");
    expect((await request(app).get("/sub/stream")).text).toBe("xxxxxyyyyyyy");
    const events = await stored();
    expect(events).toHaveLength(2);
    expect(events[0]).toMatchObject({ status_code: 200, route: "/sub/items/:id", response_size: 1 });
    expect(events[1]).toMatchObject({ status_code: 200, route: "/sub/stream" });
  });

  it("records an error's type with its 500", async () => {
    const app = buildApp(express, whowhywhen(options()));
    expect((await request(app).get("/boom")).status).toBe(500);
    const [event] = await stored();
    expect(event).toMatchObject({ status_code: 500, exception: "PaymentRequired", route: "/boom" });
  });

  it("counts streamed bytes", async () => {
    const app = buildApp(express, whowhywhen(options()));
    expect((await request(app).get("/stream")).text).toBe("a".repeat(10) + "b".repeat(20) + "c".repeat(30));
    expect((await stored())[0]!.response_size).toBe(60);
  });

  it("skips health checks, OPTIONS and its own requests; honours sampling", async () => {
    const app = buildApp(express, whowhywhen(options()));
    await request(app).get("/health");
    await request(app).options("/users/1");
    await request(app).get("/users/1").set("User-Agent", "whowhywhen-python/0.1.0");
    const sampled = buildApp(express, whowhywhen({ ...options(), sampleRate: 0 }));
    await request(sampled).get("/users/2");
    expect(await stored()).toEqual([]);
  });

  it("attributes consumers from setConsumer or the callback", async () => {
    const app = buildApp(express, whowhywhen(options()));
    await request(app).get("/whoami");
    const viaCallback = buildApp(
      express,
      whowhywhen({ ...options(), consumer: (req) => ({ id: String(req.headers["x-org"]), name: "Globex" }) }),
    );
    await request(viaCallback).get("/users/1").set("X-Org", "globex");
    const [first, second] = await stored();
    expect([first!.consumer, first!.consumer_name]).toEqual(["acme", "Acme Inc"]);
    expect([second!.consumer, second!.consumer_name]).toEqual(["globex", "Globex"]);
  });

  it("reads the client address from trusted proxies only", async () => {
    const app = buildApp(express, whowhywhen(options()));
    await request(app).get("/users/1").set("X-Forwarded-For", "198.51.100.7, 10.0.0.2");
    const strict = buildApp(express, whowhywhen({ ...options(), trustedProxies: [] }));
    await request(strict).get("/users/2").set("X-Forwarded-For", "198.51.100.7");
    const [proxied, direct] = await stored();
    expect(proxied!.ip_address).toBe("198.51.100.7");
    expect(["127.0.0.1", "::1"]).toContain(direct!.ip_address);
  });

  it.each([
    ["get", "/users/7"],
    ["post", "/echo"],
    ["get", "/boom"],
    ["get", "/stream"],
    ["get", "/nowhere"],
    ["get", "/health"],
  ])("answers %s %s byte-identically with and without the SDK", async (method, path) => {
    const call = async (app: any) => {
      const response = await (request(app) as any)[method](path)
        .set("Content-Type", "application/octet-stream")
        .send(method === "post" ? Buffer.from("payload") : undefined)
        .buffer(true)
        .parse((res: any, done: any) => {
          const chunks: Buffer[] = [];
          res.on("data", (c: Buffer) => chunks.push(c));
          res.on("end", () => done(null, Buffer.concat(chunks)));
        });
      const { date: _date, ...headers } = response.headers;
      return { status: response.status, headers, body: response.body.toString("base64") };
    };
    const bare = await call(buildApp(express, null));
    const instrumented = await call(buildApp(express, whowhywhen(options())));
    expect(instrumented).toEqual(bare);
  });

  it("never breaks the host when its own parts fail", async () => {
    const logger = silentLogger();
    const ww = whowhywhen({ ...options(), logger, consumer: () => { throw new Error("callback bug"); } });
    ww.client!.buffer.push = () => {
      throw new Error("queue exploded");
    };
    const app = buildApp(express, ww);
    for (let i = 0; i < 50; i += 1) {
      expect((await request(app).get("/users/1")).body).toEqual({ id: 1 });
    }
    expect(logger.lines).toHaveLength(2);
  });

  it("passes through, with one warning, when misconfigured", async () => {
    const logger = silentLogger();
    const app = buildApp(express, whowhywhen({ logger, url: collector.url }));
    expect((await request(app).get("/users/3")).body).toEqual({ id: 3 });
    expect(logger.lines.map((l) => l.message)).toEqual([
      "WhoWhyWhen disabled: no API key: pass apiKey or set WHOWHYWHEN_API_KEY",
    ]);
  });
});
