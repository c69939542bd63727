import { promisify } from "node:util";
import { gzip } from "node:zlib";
import { VERSION } from "./version.js";

export const USER_AGENT = `whowhywhen-js/${VERSION}`;
export const GZIP_MIN_BYTES = 1024;
const gzipAsync = promisify(gzip);

export interface TransportResponse {
  status: number;
  header(name: string): string | null;
  body: string;
}

/** Sends one encoded batch; rejects on network failures and timeouts. */
export type Transport = (
  payload: Uint8Array,
  gzipped: boolean,
  timeoutMs: number,
) => Promise<TransportResponse>;

/** Gzip bodies of 1 KiB or more, fast level (off the event loop, in libuv's thread pool). */
export async function encodeBody(body: Uint8Array): Promise<[Uint8Array, boolean]> {
  if (body.byteLength < GZIP_MIN_BYTES) return [body, false];
  return [await gzipAsync(body, { level: 1 }), true];
}

/** The default transport: the built-in `fetch`, no redirects, a timeout per attempt. */
export function fetchTransport(endpoint: string, apiKey: string): Transport {
  return async (payload, gzipped, timeoutMs) => {
    const headers: Record<string, string> = {
      "content-type": "application/json",
      "x-api-key": apiKey,
      "user-agent": USER_AGENT,
    };
    if (gzipped) headers["content-encoding"] = "gzip";
    const response = await fetch(endpoint, {
      method: "POST",
      headers,
      body: payload,
      redirect: "manual",
      signal: AbortSignal.timeout(timeoutMs),
    });
    const body = await response.text();
    return { status: response.status, header: (name) => response.headers.get(name), body };
  };
}

/** Seconds to wait from a `Retry-After` header (delta-seconds or HTTP-date), else null. */
export function parseRetryAfter(value: string | null, now = Date.now()): number | null {
  if (value === null) return null;
  const text = value.trim();
  if (/^\d+$/.test(text)) return Number(text);
  if (!/[a-z]/i.test(text)) return null;
  const when = Date.parse(text);
  if (Number.isNaN(when)) return null;
  return Math.max(0, (when - now) / 1000);
}
