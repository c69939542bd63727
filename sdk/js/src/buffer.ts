/** One request as the collector expects it (`POST /api/log/bulk`, field `events`). */
export interface LogEvent {
  id: string;
  url: string;
  method: string;
  status_code: number;
  /** Seconds. */
  duration: number;
  timestamp: string;
  user_agent?: string;
  ip_address?: string;
  route?: string;
  consumer?: string;
  consumer_name?: string;
  request_size?: number;
  response_size?: number;
  exception?: string;
}

export const DROP_REASONS = [
  "queue_overflow",
  "network_error",
  "ratelimit_backoff",
  "send_error",
  "too_large",
  "auth_error",
] as const;
export type DropReason = (typeof DROP_REASONS)[number];
export type DropCounts = Record<DropReason, number>;

const zero = (): DropCounts => ({
  queue_overflow: 0,
  network_error: 0,
  ratelimit_backoff: 0,
  send_error: 0,
  too_large: 0,
  auth_error: 0,
});

/** Loss accounting: `produced === delivered + rejected + dropped + buffered`. */
export class Stats {
  produced = 0;
  delivered = 0;
  rejected = 0;
  readonly dropped: DropCounts = zero();
  private unreported: DropCounts = zero();

  drop(reason: DropReason, count: number): void {
    if (count <= 0) return;
    this.dropped[reason] += count;
    this.unreported[reason] += count;
  }

  takeUnreported(): DropCounts {
    const report = this.unreported;
    this.unreported = zero();
    return report;
  }

  restore(report: DropCounts): void {
    for (const reason of DROP_REASONS) this.unreported[reason] += report[reason];
  }

  hasUnreported(): boolean {
    return DROP_REASONS.some((reason) => this.unreported[reason] > 0);
  }

  snapshot(): { produced: number; delivered: number; rejected: number; dropped: DropCounts } {
    return {
      produced: this.produced,
      delivered: this.delivered,
      rejected: this.rejected,
      dropped: { ...this.dropped },
    };
  }
}

/**
 * One captured request as the request path leaves it: a plain object of fixed shape (every field
 * always present, `undefined` when absent) holding only values the request already had. The
 * sender turns it into one row of the collector's columns (id, full URL, truncation, times in
 * nanoseconds) and serialises it once, off the request path, just before its first send; retries
 * reuse that serialisation.
 */
export interface Captured {
  /** The path and query when `host` is set, else the full URL. */
  url: string;
  host: string | undefined;
  https: boolean;
  method: string;
  status_code: number;
  duration: number;
  /** `performance.now()` when the request started, or NaN when `timestamp` is set. */
  started: number;
  timestamp: string | undefined;
  user_agent: string | undefined;
  ip_address: string | undefined;
  route: string | undefined;
  consumer: string | undefined;
  consumer_name: string | undefined;
  request_size: number | undefined;
  response_size: number | undefined;
  exception: string | undefined;
}

/**
 * A bounded FIFO (by count and estimated bytes) that drops its oldest entries. Pushing is O(1)
 * and allocation-free: a preallocated ring of slots.
 */
export class EventBuffer {
  private items: Array<Captured | undefined>;
  private sizes: Float64Array;
  private head = 0;
  private count = 0;
  private bytes = 0;
  overflowReason: DropReason = "queue_overflow";
  private threshold = 0;
  private signal: (() => void) | null = null;

  constructor(
    private readonly maxItems: number,
    private readonly maxBytes: number,
    private readonly stats: Stats,
  ) {
    this.items = new Array<Captured | undefined>(maxItems).fill(undefined);
    this.sizes = new Float64Array(maxItems);
  }

  get length(): number {
    return this.count;
  }

  /** Call `signal` once, the next time at least `threshold` events are waiting. */
  arm(threshold: number, signal: () => void): void {
    this.threshold = threshold;
    this.signal = signal;
    if (this.count >= threshold) this.fire();
  }

  private fire(): void {
    const signal = this.signal;
    this.signal = null;
    signal?.();
  }

  private dropOldest(): void {
    this.bytes -= this.sizes[this.head] ?? 0;
    this.items[this.head] = undefined;
    this.head = (this.head + 1) % this.maxItems;
    this.count -= 1;
  }

  push(event: Captured, size: number): void {
    this.stats.produced += 1;
    let dropped = 0;
    if (this.count === this.maxItems) {
      this.dropOldest();
      dropped += 1;
    }
    const tail = (this.head + this.count) % this.maxItems;
    this.items[tail] = event;
    this.sizes[tail] = size;
    this.count += 1;
    this.bytes += size;
    while (this.bytes > this.maxBytes && this.count > 1) {
      this.dropOldest();
      dropped += 1;
    }
    if (dropped) this.stats.drop(this.overflowReason, dropped);
    if (this.signal !== null && this.count >= this.threshold) this.fire();
  }

  take(max: number): Captured[] {
    const out: Captured[] = [];
    while (this.count > 0 && out.length < max) {
      const event = this.items[this.head];
      this.dropOldest();
      if (event !== undefined) out.push(event);
    }
    return out;
  }

  clear(reason: DropReason): number {
    const count = this.count;
    this.take(count);
    this.stats.drop(reason, count);
    return count;
  }
}
