/**
 * JSON text written straight into a reused `Buffer`, in UTF-8: no string, array or number object
 * is made on V8's heap for what it writes (but for the rare string that needs escaping). The
 * sender writes each batch's rows with it, so sending an event allocates nothing per event that
 * the host's young-generation collections would have to scan or copy; `JSON.stringify` of a row
 * made ≈ 800 bytes of garbage an event (the row array, its numbers, the text, its UTF-8 copy).
 */

export const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COMMA = 0x2c;
/** Room a number needs at most (`String(-Number.MAX_VALUE)` is 24 characters). */
const NUMBER_ROOM = 32;
const NULL = [0x6e, 0x75, 0x6c, 0x6c] as const;

export class JsonWriter {
  buf: Buffer;
  pos = 0;

  constructor(size = 16 * 1024) {
    this.buf = Buffer.allocUnsafeSlow(size);
  }

  /** Make room for `extra` more bytes, keeping what is written. */
  ensure(extra: number): void {
    const needed = this.pos + extra;
    if (needed <= this.buf.length) return;
    const grown = Buffer.allocUnsafeSlow(Math.max(needed, this.buf.length * 2));
    this.buf.copy(grown, 0, 0, this.pos);
    this.buf = grown;
  }

  /** One byte; the caller has made room. */
  byte(code: number): void {
    this.buf[this.pos++] = code;
  }

  /** A comma between two values. */
  comma(): void {
    this.ensure(1);
    this.buf[this.pos++] = COMMA;
  }

  /** A copy of bytes `start`..`end` in a Buffer of their own. */
  copy(start: number, end: number): Buffer {
    const out = Buffer.allocUnsafe(end - start);
    this.buf.copy(out, 0, start, end);
    return out;
  }

  null(): void {
    this.ensure(4);
    const buf = this.buf;
    let pos = this.pos;
    for (const code of NULL) buf[pos++] = code;
    this.pos = pos;
  }

  /** A JSON string: quotes and escaped characters. */
  string(text: string): void {
    this.ensure(6 * text.length + 2);
    this.byte(QUOTE);
    this.chars(text);
    this.byte(QUOTE);
  }

  /**
   * The characters of a JSON string without its quotes; the caller has made room (6 bytes a
   * UTF-16 unit). Printable ASCII is copied a byte at a time; from the first character that
   * needs escaping or encoding, the rest goes through `JSON.stringify` (the same escapes).
   */
  chars(text: string): void {
    const buf = this.buf;
    let pos = this.pos;
    const length = text.length;
    for (let i = 0; i < length; i++) {
      const code = text.charCodeAt(i);
      if (code < 0x20 || code > 0x7f || code === QUOTE || code === BACKSLASH) {
        this.pos = pos;
        const escaped = JSON.stringify(i === 0 ? text : text.slice(i));
        this.pos += buf.write(escaped.slice(1, -1), pos, "utf8");
        return;
      }
      buf[pos++] = code;
    }
    this.pos = pos;
  }

  /** A number as `JSON.stringify` writes it (`null` when not finite). */
  number(value: number): void {
    if (value >= 0 && value <= Number.MAX_SAFE_INTEGER && Math.floor(value) === value) {
      this.ensure(NUMBER_ROOM);
      this.digits(value, 0);
    } else if (Number.isFinite(value)) {
      this.ensure(NUMBER_ROOM);
      const text = String(value);
      for (let i = 0; i < text.length; i++) this.buf[this.pos++] = text.charCodeAt(i);
    } else {
      this.null();
    }
  }

  /**
   * The decimal digits of a safe non-negative integer, zero-padded to `width`; the caller has
   * made room. `Math.floor(n / 10)` is exact here: below 2^53 the quotient is under 2^50, where
   * doubles are at most 1/8 apart, so a tenth's fraction (≤ 0.9) never rounds up to the next
   * integer.
   */
  digits(value: number, width: number): void {
    let length = 1;
    for (let rest = value; rest >= 10; rest = Math.floor(rest / 10)) length++;
    if (length < width) length = width;
    const buf = this.buf;
    let pos = this.pos + length;
    this.pos = pos;
    let rest = value;
    for (let i = 0; i < length; i++) {
      const quotient = Math.floor(rest / 10);
      buf[--pos] = 0x30 + (rest - quotient * 10);
      rest = quotient;
    }
  }

  /** Any value as `JSON.stringify` writes it inside an array (`null` for what it cannot write). */
  value(value: unknown): void {
    if (typeof value === "string") this.string(value);
    else if (typeof value === "number") this.number(value);
    else if (value === undefined || value === null) this.null();
    else {
      const text = JSON.stringify(value) as string | undefined; // throws on a BigInt
      if (text === undefined) {
        this.null();
        return;
      }
      this.ensure(3 * text.length);
      this.pos += this.buf.write(text, this.pos, "utf8");
    }
  }
}
