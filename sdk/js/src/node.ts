import type { IncomingMessage, ServerResponse } from "node:http";
import { type Client, createClient, recordException, track } from "./client.js";
import type { WhoWhyWhenOptions } from "./config.js";
import type { Transport } from "./transport.js";

type Handler<Req extends IncomingMessage, Res extends ServerResponse> = (
  req: Req,
  res: Res,
) => unknown;

/** A request listener wrapped by `withWhoWhyWhen`, with lifecycle controls. */
export type InstrumentedHandler<Req extends IncomingMessage, Res extends ServerResponse> = ((
  req: Req,
  res: Res,
) => unknown) & {
  readonly client: Client | null;
  flush(timeoutMs?: number): Promise<boolean>;
  shutdown(timeoutMs?: number): Promise<void>;
};

/**
 * Report every request a plain Node `http` (or `https`) server handles.
 *
 * ```ts
 * import http from "node:http";
 * import { withWhoWhyWhen } from "whowhywhen";
 *
 * const handler = withWhoWhyWhen((req, res) => res.end("ok"), {
 *   apiKey: process.env.WHOWHYWHEN_API_KEY,
 *   url: "http://whowhywhen.internal:8001",
 * });
 * http.createServer(handler).listen(3000);
 * process.on("SIGTERM", () => handler.shutdown().finally(() => process.exit(0)));
 * ```
 *
 * A handler that throws, or returns a promise that rejects, is reported with the error's type;
 * the error itself propagates exactly as it would without the SDK.
 */
export function withWhoWhyWhen<Req extends IncomingMessage, Res extends ServerResponse>(
  handler: Handler<Req, Res>,
  options: WhoWhyWhenOptions = {},
  transport?: Transport,
): InstrumentedHandler<Req, Res> {
  const client = createClient(options, transport);
  const wrapped = function (this: unknown, req: Req, res: Res): unknown {
    if (client !== null) {
      try {
        track(client, req, res, false, true);
      } catch {
        // never break the host
      }
    }
    let result: unknown;
    try {
      result = handler.call(this, req, res);
    } catch (error) {
      recordException(req, error);
      throw error;
    }
    if (result instanceof Promise) {
      return result.catch((error: unknown) => {
        recordException(req, error);
        throw error;
      });
    }
    return result;
  } as InstrumentedHandler<Req, Res>;
  Object.defineProperty(wrapped, "client", { value: client, enumerable: true });
  wrapped.flush = (timeoutMs) => client?.flush(timeoutMs) ?? Promise.resolve(true);
  wrapped.shutdown = (timeoutMs) => client?.shutdown(timeoutMs) ?? Promise.resolve();
  return wrapped;
}
