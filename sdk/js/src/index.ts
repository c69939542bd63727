/**
 * WhoWhyWhen for Node: report every request your API serves to your self-hosted collector.
 *
 * - Express 4/5: `app.use(whowhywhen({ apiKey, url }))`
 * - plain `http`: `http.createServer(withWhoWhyWhen(handler, { apiKey, url }))`
 *
 * Importing starts nothing; the (unref'd) flush timer starts with the first request.
 */
export { type Client, flush, setConsumer, shutdown } from "./client.js";
export {
  type ConsumerValue,
  DEFAULT_EXCLUDE_PATHS,
  DEFAULT_TRUSTED_PROXIES,
  type WhoWhyWhenOptions,
} from "./config.js";
export type { DropCounts, DropReason, LogEvent } from "./buffer.js";
export { whowhywhen, type WhoWhyWhenMiddleware } from "./express.js";
export type { Logger } from "./log.js";
export { type InstrumentedHandler, withWhoWhyWhen } from "./node.js";
export type { Transport, TransportResponse } from "./transport.js";
export { VERSION } from "./version.js";
