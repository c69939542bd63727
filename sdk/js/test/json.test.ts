import { describe, expect, it } from "vitest";
import { JsonWriter } from "../src/json.js";
import { serialise } from "../src/sender.js";

/** What the writer makes of `value`, as text. */
function written(value: unknown, size = 16): string {
  const out = new JsonWriter(size);
  out.value(value);
  return out.buf.toString("utf8", 0, out.pos);
}

const STRINGS = [
  "",
  "plain ascii /items/42?x=1&y=2",
  'quote " and backslash \\ inside',
  "controls \u0000 \u0001 \b \f \n \r \t \u001f end",
  "DEL \u007f kept",
  "Latin-1 caf\u00e9, na\u00efve",
  "CJK \u65e5\u672c\u8a9e and emoji \u{1f680}\u{1f9ea}",
  "lone high \ud800 and lone low \udc00 surrogates",
  "\ud83d",
  "ends with an escape\n",
  "x".repeat(5000),
  "\u00e9".repeat(3000),
];

const NUMBERS = [
  0, -0, 1, 9, 10, 99, 100, 404, 2 ** 31 - 1, 2 ** 31, 2 ** 32, 1e15, 999_999_999_999_999,
  Number.MAX_SAFE_INTEGER, 2 ** 53, 2 ** 60, 1e21, 1.5e300, -1, -(2 ** 40), 0.5, 1e-7, 12.25,
  Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY, Number.MIN_VALUE, -Number.MAX_VALUE,
];

describe("JsonWriter", () => {
  it.each(STRINGS)("writes the string %#j as JSON.stringify does", (text) => {
    expect(written(text)).toBe(JSON.stringify(text));
  });

  it.each(NUMBERS)("writes the number %d as JSON.stringify does", (value) => {
    expect(written(value)).toBe(JSON.stringify(value));
  });

  it("writes other values as an array element would be", () => {
    for (const value of [null, undefined, true, false, { a: [1, "b"] }, [1, 2], () => 1, Symbol("s")]) {
      expect(written(value)).toBe(JSON.stringify([value]).slice(1, -1));
    }
    expect(() => written(10n)).toThrow(TypeError);
  });

  it("agrees with JSON.stringify on random text, growing its buffer as it goes", () => {
    const out = new JsonWriter(8);
    const expected: string[] = [];
    let seed = 7;
    const random = () => {
      seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31;
      return seed / 2 ** 31;
    };
    for (let i = 0; i < 500; i++) {
      const length = Math.floor(random() * 40);
      let text = "";
      for (let j = 0; j < length; j++) {
        // mostly printable ASCII, some controls, Latin-1, surrogate halves and astral characters
        const kind = random();
        const code =
          kind < 0.7 ? 0x20 + Math.floor(random() * 95) : kind < 0.8 ? Math.floor(random() * 0x20) : kind < 0.9 ? 0x80 + Math.floor(random() * 0x780) : 0xd800 + Math.floor(random() * 0x800);
        text += String.fromCharCode(code);
      }
      if (i > 0) out.comma();
      out.value(text);
      expected.push(JSON.stringify(text));
    }
    expect(out.buf.toString("utf8", 0, out.pos)).toBe(expected.join(","));
    expect(out.buf.length).toBeGreaterThan(8);
  });

  it("pads digits to a width", () => {
    const out = new JsonWriter(4);
    out.ensure(32);
    out.digits(42, 9);
    out.digits(123_456_789, 9);
    out.digits(0, 0);
    expect(out.buf.toString("latin1", 0, out.pos)).toBe("0000000421234567890");
  });

  it("copies what it wrote into a buffer of its own", () => {
    const out = new JsonWriter(4);
    out.value("abc");
    const copy = out.copy(0, out.pos);
    out.pos = 0;
    out.value("xyz");
    expect(copy.toString()).toBe('"abc"');
  });
});

describe("a row's timestamp", () => {
  const event = {
    url: "/a",
    host: undefined,
    https: false,
    method: "GET",
    status_code: 200,
    duration: 0.25,
    started: 0,
    timestamp: undefined,
    user_agent: undefined,
    ip_address: undefined,
    route: undefined,
    consumer: undefined,
    consumer_name: undefined,
    request_size: undefined,
    response_size: undefined,
    exception: undefined,
  };
  const nanos = (text: string): bigint => BigInt(/^\["[^"]+","[^"]*","GET",200,\d+,(\d+|null),/.exec(text)![1]!);

  it("is the exact integer of nanoseconds, whole seconds and nine digits", () => {
    for (const ms of [1_764_979_200_000, 1_764_979_200_123.456, 1_764_979_200_999.9999, 1_000.000001, 1_767_225_599_999.5]) {
      const text = serialise({ ...event, started: ms }, 0, "id");
      const expected = BigInt(Math.round(ms * 1e6));
      // within the 2^-12 ms a double holds at this magnitude
      expect(Number(nanos(text) - expected)).toBeLessThanOrEqual(512);
      expect(Number(expected - nanos(text))).toBeLessThanOrEqual(512);
    }
    expect(nanos(serialise({ ...event, started: 1_764_979_200_123 }, 0, "id"))).toBe(1_764_979_200_123_000_000n);
    expect(nanos(serialise({ ...event, started: 1_764_979_200_999.9999999 }, 0, "id"))).toBe(1_764_979_201_000_000_000n);
  });

  it("falls back to a plain number before 1970 and to null when not a time", () => {
    expect(JSON.parse(serialise({ ...event, started: -5_000 }, 0, "id"))[5]).toBe(-5e9);
    expect(JSON.parse(serialise({ ...event, started: Number.NaN }, 0, "id"))[5]).toBeNull();
  });
});
