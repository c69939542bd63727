import { BlockList, isIP } from "node:net";
import type { IncomingMessage } from "node:http";
import type { Logger } from "./log.js";

/** Paths not reported unless you pass `excludePaths`: health checks and static files. */
export const DEFAULT_EXCLUDE_PATHS: readonly string[] = [
  "(/api)?/(health|healthz|healthcheck|health-check|health_check|readyz|ready|readiness|livez|live|liveness|ping|_health)/?",
  "/static/.*",
  "/favicon\\.ico",
];
export const DEFAULT_EXCLUDE_METHODS: readonly string[] = ["OPTIONS"];
/** Proxies whose `X-Forwarded-For` is believed: loopback and private networks. */
export const DEFAULT_TRUSTED_PROXIES: readonly string[] = [
  "127.0.0.0/8",
  "::1/128",
  "10.0.0.0/8",
  "172.16.0.0/12",
  "192.168.0.0/16",
  "fc00::/7",
];
export const BULK_PATH = "/api/log/bulk";
export const MAX_BATCH_EVENTS = 1000;

/** What a consumer callback may return: an id, `{ id, name }` or `[id, name]`. */
export type ConsumerValue =
  | string
  | number
  | { id: string | number; name?: string | null }
  | readonly [string | number, (string | null)?]
  | null
  | undefined;

export interface WhoWhyWhenOptions {
  /** The project's ingest key; default `process.env.WHOWHYWHEN_API_KEY`. */
  apiKey?: string;
  /** The collector's base URL, e.g. `http://whowhywhen:8001`; default `WHOWHYWHEN_URL`. */
  url?: string;
  /** `false` (or `WHOWHYWHEN_ENABLED=false`) turns the middleware into a pass-through. */
  enabled?: boolean;
  /** Regular expressions (strings match the whole path) of paths not to report. */
  excludePaths?: ReadonlyArray<string | RegExp>;
  /** Methods not to report; default `["OPTIONS"]`. */
  excludeMethods?: readonly string[];
  /** Fraction of requests to report, 0..1; default 1 (`WHOWHYWHEN_SAMPLE_RATE`). */
  sampleRate?: number;
  /** IPs/CIDRs whose `X-Forwarded-For` is believed, `"*"` for any, `[]` for none. */
  trustedProxies?: readonly string[] | "*";
  /** Who made the request (a customer, an app): called once the response is sent. */
  consumer?: (req: IncomingMessage) => ConsumerValue;
  /** Where the SDK logs (at most one line per fault kind per minute); default `console`. */
  logger?: Logger;
  maxQueueSize?: number;
  maxQueueBytes?: number;
  maxEventBytes?: number;
  batchSize?: number;
  flushIntervalMs?: number;
  shutdownTimeoutMs?: number;
  timeoutMs?: number;
  retryBackoffMs?: number;
  retryBackoffMaxMs?: number;
}

export interface Config {
  apiKey: string;
  url: string;
  endpoint: string;
  exclude: RegExp;
  excludeMethods: ReadonlySet<string>;
  sampleRate: number;
  trustAll: boolean;
  trusted: BlockList | null;
  consumer: ((req: IncomingMessage) => ConsumerValue) | undefined;
  logger: Logger;
  maxQueueSize: number;
  maxQueueBytes: number;
  maxEventBytes: number;
  batchSize: number;
  flushIntervalMs: number;
  shutdownTimeoutMs: number;
  timeoutMs: number;
  retryBackoffMs: number;
  retryBackoffMaxMs: number;
}

export class ConfigError extends Error {
  override name = "ConfigError";
}

function env(name: string): string | undefined {
  const value = process.env[name]?.trim();
  return value ? value : undefined;
}

export function envEnabled(): boolean {
  const value = env("WHOWHYWHEN_ENABLED")?.toLowerCase();
  return value === undefined || !["0", "false", "no", "off"].includes(value);
}

function normaliseUrl(raw: string): string {
  let url = raw.trim().replace(/\/+$/, "");
  for (const suffix of [BULK_PATH, "/api/log"]) {
    if (url.endsWith(suffix)) url = url.slice(0, -suffix.length);
  }
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new ConfigError(`url must look like http(s)://host[:port], got ${JSON.stringify(raw)}`);
  }
  if (!["http:", "https:"].includes(parsed.protocol) || !parsed.host) {
    throw new ConfigError(`url must look like http(s)://host[:port], got ${JSON.stringify(raw)}`);
  }
  if (parsed.search || parsed.hash) {
    throw new ConfigError("url must not contain a query string or fragment");
  }
  return url;
}

function positive(value: number | undefined, fallback: number, name: string, integer = false) {
  const number = value ?? fallback;
  if (typeof number !== "number" || !Number.isFinite(number) || number <= 0) {
    throw new ConfigError(`${name} must be a positive number, got ${String(value)}`);
  }
  return integer ? Math.floor(number) : number;
}

function trustedList(entries: readonly string[]): BlockList {
  const list = new BlockList();
  for (const entry of entries) {
    const [address = "", bits] = entry.split("/");
    const family = isIP(address);
    if (family === 0) throw new ConfigError(`trustedProxies: ${entry} is not an IP or CIDR`);
    const type = family === 4 ? "ipv4" : "ipv6";
    if (bits === undefined) {
      list.addAddress(address, type);
    } else {
      const prefix = Number(bits);
      if (!Number.isInteger(prefix) || prefix < 0 || prefix > (family === 4 ? 32 : 128)) {
        throw new ConfigError(`trustedProxies: ${entry} is not an IP or CIDR`);
      }
      list.addSubnet(address, prefix, type);
    }
  }
  return list;
}

/** Merge options with `WHOWHYWHEN_*` environment variables (options win); throw on nonsense. */
export function resolveConfig(options: WhoWhyWhenOptions = {}): Config {
  const apiKey = (options.apiKey || env("WHOWHYWHEN_API_KEY") || "").trim();
  if (!apiKey) throw new ConfigError("no API key: pass apiKey or set WHOWHYWHEN_API_KEY");
  if (/[\s\x00-\x1f\x7f]/.test(apiKey)) {
    throw new ConfigError("the API key contains whitespace or control characters");
  }
  const rawUrl = options.url || env("WHOWHYWHEN_URL");
  if (!rawUrl) {
    throw new ConfigError(
      "no collector URL: pass url: 'http://your-whowhywhen:8001' or set WHOWHYWHEN_URL",
    );
  }
  const url = normaliseUrl(rawUrl);

  const paths = options.excludePaths ?? DEFAULT_EXCLUDE_PATHS;
  let exclude: RegExp;
  try {
    const sources = paths.map((p) => (typeof p === "string" ? p : p.source));
    exclude = sources.length ? new RegExp(`^(?:${sources.join("|")})$`) : /(?!)/;
  } catch (error) {
    throw new ConfigError(`excludePaths holds an invalid regular expression: ${String(error)}`);
  }
  const excludeMethods = new Set(
    (options.excludeMethods ?? DEFAULT_EXCLUDE_METHODS).map((m) => m.toUpperCase()),
  );

  const envRate = env("WHOWHYWHEN_SAMPLE_RATE");
  const sampleRate = options.sampleRate ?? (envRate === undefined ? 1 : Number(envRate));
  if (!(sampleRate >= 0 && sampleRate <= 1)) {
    throw new ConfigError(`sampleRate must be between 0 and 1, got ${String(sampleRate)}`);
  }

  const envProxies = env("WHOWHYWHEN_TRUSTED_PROXIES");
  const proxies =
    options.trustedProxies ??
    (envProxies === undefined
      ? DEFAULT_TRUSTED_PROXIES
      : envProxies === "*"
        ? "*"
        : envProxies.split(",").map((p) => p.trim()).filter(Boolean));
  const trustAll = proxies === "*" || (Array.isArray(proxies) && proxies.includes("*"));
  const trusted =
    trustAll || proxies.length === 0 ? null : trustedList(proxies as readonly string[]);

  if (options.consumer !== undefined && typeof options.consumer !== "function") {
    throw new ConfigError("consumer must be a function");
  }
  const batchSize = positive(options.batchSize, 500, "batchSize", true);
  if (batchSize > MAX_BATCH_EVENTS) {
    throw new ConfigError(`batchSize must be at most ${MAX_BATCH_EVENTS}`);
  }
  return {
    apiKey,
    url,
    endpoint: url + BULK_PATH,
    exclude,
    excludeMethods,
    sampleRate,
    trustAll,
    trusted,
    consumer: options.consumer,
    logger: options.logger ?? console,
    maxQueueSize: positive(options.maxQueueSize, 10_000, "maxQueueSize", true),
    maxQueueBytes: positive(options.maxQueueBytes, 16 * 1024 * 1024, "maxQueueBytes", true),
    maxEventBytes: positive(options.maxEventBytes, 256 * 1024, "maxEventBytes", true),
    batchSize,
    flushIntervalMs: positive(options.flushIntervalMs, 2000, "flushIntervalMs"),
    shutdownTimeoutMs: positive(options.shutdownTimeoutMs, 5000, "shutdownTimeoutMs"),
    timeoutMs: positive(options.timeoutMs, 10_000, "timeoutMs"),
    retryBackoffMs: positive(options.retryBackoffMs, 1000, "retryBackoffMs"),
    retryBackoffMaxMs: positive(options.retryBackoffMaxMs, 30_000, "retryBackoffMaxMs"),
  };
}
