/**
 * Lies shared by the JSON config fuzz targets (targets/model-config.ts, targets/vae-config.ts):
 * a field set to a hostile value (wrong type, negative, zero, fractional, 1e9 / 1e12 / 2⁵³,
 * a huge string), unknown or prototype-polluting keys, deep nesting, non-object JSON, invalid
 * UTF-8, a BOM, truncation, duplicate keys and an oversized file.
 */
import type { FuzzSeed } from "./target.js";

const pick = <T>(rand: () => number, xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)]!;

const HOSTILE: unknown[] = [-1, 0, 0.5, 1e9, 1e12, 2 ** 53, -(2 ** 31), 1e308, "4", "", null, true, [], [1e12], {}, { a: 1 }, "x".repeat(10000), [[[[]]]], -0];

/** Character offsets of a JSON text's structure (after each `{`, `,`, `:`), as truncation points. */
export function jsonBoundaries(bytes: Uint8Array): number[] {
  const out = [0, bytes.length];
  bytes.forEach((b, i) => {
    if (b === 0x7b || b === 0x2c || b === 0x3a || b === 0x5b) out.push(i + 1);
  });
  return out;
}

export function jsonSeed(name: string, value: unknown): FuzzSeed {
  const bytes = new Uint8Array(Buffer.from(JSON.stringify(value, null, 2)));
  return { name, bytes, boundaries: jsonBoundaries(bytes) };
}

/** The objects of a parsed JSON value (the top level and nested ones), to mutate one of them. */
function objects(v: unknown, out: Record<string, unknown>[] = []): Record<string, unknown>[] {
  if (v && typeof v === "object" && !Array.isArray(v)) {
    out.push(v as Record<string, unknown>);
    for (const x of Object.values(v)) objects(x, out);
  }
  return out;
}

/** One lying mutant of a JSON seed; `names` are valid values for name-like fields (model names, block types). */
export function jsonLie(seed: FuzzSeed, rand: () => number, names: string[] = []): { bytes: Uint8Array; what: string } {
  const text = Buffer.from(seed.bytes).toString("utf8");
  const json = JSON.parse(text) as Record<string, unknown>;
  const enc = (v: unknown) => new Uint8Array(Buffer.from(typeof v === "string" ? v : JSON.stringify(v)));
  const lies: (() => { bytes: Uint8Array; what: string })[] = [
    () => {
      const o = pick(rand, objects(json));
      const k = pick(rand, Object.keys(o));
      o[k] = pick(rand, HOSTILE);
      return { what: `${k} = ${JSON.stringify(o[k])?.slice(0, 30)}`, bytes: enc(json) };
    },
    () => {
      const o = pick(rand, objects(json));
      const k = pick(rand, Object.keys(o));
      o[k] = pick(rand, [...names.map((n) => `${n}x`), "DiT-Q/3", "XL/3", "DiT-XL/2 ", "constructor", "__proto__", "toString", 42]);
      return { what: `${k} = unknown name ${JSON.stringify(o[k])}`, bytes: enc(json) };
    },
    () => {
      const k = pick(rand, ["__proto__", "constructor", "prototype", "hidden_sise", "hiddenSize ", "extra"]);
      const v = pick(rand, [{ hidden_size: 1e12, depth: 1e9 }, { polluted: true }, 1, null]);
      // JSON text with the key spelled out (an object literal would set the prototype instead)
      return { what: `key ${k}`, bytes: enc(`{${JSON.stringify(k)}:${JSON.stringify(v)},${text.trim().slice(1)}`) };
    },
    () => {
      const depth = pick(rand, [64, 1000, 1e5]);
      const k = pick(rand, Object.keys(json));
      const nest = pick(rand, ["[", '{"a":'] as const);
      const close = nest === "[" ? "]" : "}";
      return { what: `${k} nested ${depth} deep`, bytes: enc(`{${JSON.stringify(k)}:${nest.repeat(depth)}1${close.repeat(depth)}}`) };
    },
    () => {
      const v = pick(rand, ["[]", "[1,2]", "42", '"config"', "null", "true", "", " ", "{}", "[{}]"]);
      return { what: `JSON ${JSON.stringify(v)}`, bytes: enc(v) };
    },
    () => {
      const kind = pick(rand, ["invalid-utf8", "bom", "nul", "lone-surrogate"] as const);
      const t = Buffer.from(text);
      const at = 1 + Math.floor(rand() * (t.length - 1));
      const ins = kind === "invalid-utf8" ? Buffer.from([0xff, 0xc0, 0x80]) : kind === "bom" ? Buffer.from([0xef, 0xbb, 0xbf]) : kind === "nul" ? Buffer.from([0]) : Buffer.from([0xed, 0xa0, 0x80]);
      return { what: kind, bytes: new Uint8Array(Buffer.concat(kind === "bom" ? [ins, t] : [t.subarray(0, at), ins, t.subarray(at)])) };
    },
    () => {
      const k = pick(rand, Object.keys(json));
      return { what: `duplicate key ${k}`, bytes: enc(`{${JSON.stringify(k)}:${JSON.stringify(pick(rand, HOSTILE))},${text.trim().slice(1)}`) };
    },
    () => ({ what: "2 MiB of whitespace", bytes: enc(text + " ".repeat(2 * 2 ** 20)) }),
    () => {
      const k = pick(rand, Object.keys(json));
      return { what: `${k} = a 100k-element array`, bytes: enc(`{${JSON.stringify(k)}:[${Array(1e5).fill(1e12).join(",")}]}`) };
    },
  ];
  return pick(rand, lies)();
}
