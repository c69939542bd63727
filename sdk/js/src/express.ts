import type { IncomingMessage, ServerResponse } from "node:http";
import { type Client, createClient, recordException, track } from "./client.js";
import type { WhoWhyWhenOptions } from "./config.js";
import type { Transport } from "./transport.js";

type Next = (error?: unknown) => void;

/** Express middleware (Express 4 and 5) with its error recorder and lifecycle controls. */
export interface WhoWhyWhenMiddleware {
  (req: IncomingMessage, res: ServerResponse, next: Next): void;
  /**
   * Optional error middleware, registered after your routes: records the error's type with
   * the request, then passes the error on unchanged (`app.use(ww.errorHandler)`).
   */
  errorHandler: (error: unknown, req: IncomingMessage, res: ServerResponse, next: Next) => void;
  /** The shared core, or null when disabled or misconfigured. */
  readonly client: Client | null;
  /** Send everything queued now. */
  flush(timeoutMs?: number): Promise<boolean>;
  /** Deliver what is queued (5 s at most by default) and stop the timers. */
  shutdown(timeoutMs?: number): Promise<void>;
}

/**
 * Report every request an Express app serves to your WhoWhyWhen collector.
 *
 * ```ts
 * import express from "express";
 * import { whowhywhen } from "whowhywhen";
 *
 * const app = express();
 * const ww = whowhywhen({ apiKey: "www_...", url: "http://whowhywhen.internal:8001" });
 * app.use(ww);                 // first, so every route is timed
 * // ... your routes ...
 * app.use(ww.errorHandler);    // optional: exception types
 * process.on("SIGTERM", () => ww.shutdown().finally(() => process.exit(0)));
 * ```
 *
 * Options fall back to `WHOWHYWHEN_API_KEY` / `WHOWHYWHEN_URL`; a missing or invalid setting
 * logs one warning and turns the middleware into a pass-through.
 */
export function whowhywhen(options: WhoWhyWhenOptions = {}, transport?: Transport): WhoWhyWhenMiddleware {
  const client = createClient(options, transport);
  const middleware = ((req: IncomingMessage, res: ServerResponse, next: Next) => {
    if (client !== null) {
      try {
        track(client, req, res, true, false);
      } catch {
        // never break the host
      }
    }
    next();
  }) as WhoWhyWhenMiddleware;
  middleware.errorHandler = (error, req, _res, next) => {
    try {
      recordException(req, error);
    } catch {
      // never break the host
    }
    next(error);
  };
  Object.defineProperty(middleware, "client", { value: client, enumerable: true });
  middleware.flush = (timeoutMs) => client?.flush(timeoutMs) ?? Promise.resolve(true);
  middleware.shutdown = (timeoutMs) => client?.shutdown(timeoutMs) ?? Promise.resolve();
  return middleware;
}
