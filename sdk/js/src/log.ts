/** Logging that never floods: at most one line per fault kind per minute. */
export interface Logger {
  warn(message: string): void;
  error(message: string): void;
}

export const LOG_INTERVAL_MS = 60_000;

const lastLogged = new Map<string, number>();

export function logLimited(
  logger: Logger,
  kind: string,
  level: "warn" | "error",
  message: string,
): void {
  const now = Date.now();
  const last = lastLogged.get(kind);
  if (last !== undefined && now - last < LOG_INTERVAL_MS) return;
  lastLogged.set(kind, now);
  try {
    logger[level](message);
  } catch {
    // a broken logger must not break the host either
  }
}

/** For tests: forget which faults were logged. */
export function resetLogLimits(): void {
  lastLogged.clear();
}

/** The part of a key that is safe to show in logs (never the whole secret). */
export function keyPrefix(apiKey: string): string {
  return `${apiKey.slice(0, Math.min(8, Math.floor(apiKey.length / 4)))}…`;
}
