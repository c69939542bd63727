/** The real WhoWhyWhen collector (the Python package) as a subprocess, and a fault proxy. */
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, openSync } from "node:fs";
import { createServer, request as httpRequest, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { freePort } from "./fakeCollector.js";

const repoRoot = resolve(fileURLToPath(new URL("../../..", import.meta.url)));

export function collectorBinary(): string | null {
  const explicit = process.env.WHOWHYWHEN_BIN;
  if (explicit) return existsSync(explicit) ? explicit : null;
  const local = join(repoRoot, ".venv", "bin", "whowhywhen");
  return existsSync(local) ? local : null;
}

export class RealCollector {
  readonly dataDir = mkdtempSync(join(tmpdir(), "whowhywhen-js-"));
  readonly dbPath = join(this.dataDir, "whowhywhen.sqlite");
  url = "";
  key = "";
  projectId = 0;
  private port = 0;
  private process: ChildProcess | null = null;
  private readonly env: NodeJS.ProcessEnv;

  constructor(private readonly binary: string) {
    this.env = {
      ...process.env,
      DATABASE_URL: `sqlite+aiosqlite:///${this.dbPath}`,
      WHOWHYWHEN_DATA_DIR: this.dataDir,
    };
  }

  private cli(...args: string[]): string {
    const result = spawnSync(this.binary, args, { env: this.env, encoding: "utf8", timeout: 120_000 });
    if (result.status !== 0) throw new Error(`whowhywhen ${args.join(" ")}: ${result.stderr}`);
    return result.stdout;
  }

  createKey(): string {
    const email = "sdk-js@example.com";
    this.cli("create-user", "--email", email, "--password", "correct-horse-battery-9");
    this.projectId = Number(this.cli("create-project", "--owner", email, "--name", "sdk-js").trim().split("\n").at(-1));
    this.key = this.cli("create-key", "--project", String(this.projectId)).trim().split("\n").at(-1) ?? "";
    return this.key;
  }

  async start(timeoutMs = 60_000): Promise<void> {
    if (!this.port) this.port = await freePort();
    this.url = `http://127.0.0.1:${this.port}`;
    const log = openSync(join(this.dataDir, "collector.log"), "a");
    this.process = spawn(this.binary, ["collector", "--host", "127.0.0.1", "--port", String(this.port)], {
      env: this.env,
      stdio: ["ignore", log, log],
    });
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      if (this.process.exitCode !== null) throw new Error(`collector exited, see ${this.dataDir}/collector.log`);
      try {
        if ((await fetch(`${this.url}/api/health`)).status === 200) return;
      } catch {
        // not up yet
      }
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error("collector did not become healthy");
  }

  async stop(): Promise<void> {
    const proc = this.process;
    this.process = null;
    if (!proc || proc.exitCode !== null) return;
    await new Promise<void>((resolveExit) => {
      proc.once("exit", () => resolveExit());
      proc.kill("SIGTERM");
      setTimeout(() => proc.kill("SIGKILL"), 15_000).unref();
    });
  }

  query(sql: string, ...params: Array<string | number>): unknown[][] {
    const code =
      "import json, sqlite3, sys; c = sqlite3.connect(sys.argv[1], timeout=30); " +
      "print(json.dumps(c.execute(sys.argv[2], json.loads(sys.argv[3])).fetchall()))";
    const result = spawnSync("python3", ["-c", code, this.dbPath, sql, JSON.stringify(params)], {
      encoding: "utf8",
    });
    if (result.status !== 0) throw new Error(result.stderr);
    return JSON.parse(result.stdout) as unknown[][];
  }

  storedUrls(marker: string): string[] {
    return this.query("SELECT url FROM request_logs WHERE url LIKE ?", `%${marker}%`).map((row) => String(row[0]));
  }

  sdkDropped(reason: string): number {
    const rows = this.query(
      `SELECT COALESCE(SUM(sdk_${reason}), 0) FROM ingest_outcomes WHERE project_id = ?`,
      this.projectId,
    );
    return Number(rows[0]?.[0] ?? 0);
  }
}

/** Forwards to the collector, or answers scripted statuses, adds latency, or holds requests. */
export class FaultProxy {
  url = "";
  readonly script: Array<{ status: number; headers?: Record<string, string> }> = [];
  readonly answered: number[] = [];
  delayMs = 0;
  blackhole = false;
  private server: Server;

  private constructor(private readonly target: string) {
    this.server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on("data", (c: Buffer) => chunks.push(c));
      req.on("end", async () => {
        while (this.blackhole) await new Promise((r) => setTimeout(r, 50));
        const scripted = this.script.shift();
        if (scripted) {
          this.answered.push(scripted.status);
          res.writeHead(scripted.status, { "content-type": "application/json", ...scripted.headers });
          res.end('{"error":"Injected"}');
          return;
        }
        if (this.delayMs) await new Promise((r) => setTimeout(r, this.delayMs));
        const upstream = httpRequest(
          `${this.target}${req.url}`,
          { method: "POST", headers: { ...req.headers, host: new URL(this.target).host } },
          (answer) => {
            const body: Buffer[] = [];
            answer.on("data", (c: Buffer) => body.push(c));
            answer.on("end", () => {
              this.answered.push(answer.statusCode ?? 0);
              res.writeHead(answer.statusCode ?? 502, { "content-type": "application/json" });
              res.end(Buffer.concat(body));
            });
          },
        );
        upstream.on("error", () => {
          res.writeHead(502);
          res.end();
        });
        upstream.end(Buffer.concat(chunks));
      });
    });
  }

  static async start(target: string): Promise<FaultProxy> {
    const proxy = new FaultProxy(target);
    await new Promise<void>((r) => proxy.server.listen(0, "127.0.0.1", r));
    proxy.url = `http://127.0.0.1:${(proxy.server.address() as AddressInfo).port}`;
    return proxy;
  }

  async close(): Promise<void> {
    this.blackhole = false;
    this.server.closeAllConnections();
    await new Promise<void>((r) => this.server.close(() => r()));
  }
}
