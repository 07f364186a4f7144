/**
 * Fuzz target: safetensors files (`readSafetensors`), seeds written by `writeSafetensors`
 * (several dtypes, an empty tensor, metadata, with and without the data SHA-256).
 */
import { createHash } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { readSafetensors, writeSafetensors, type StArray, type SafetensorsDType } from "../../../src/io/safetensors.js";
import type { FuzzSeed, FuzzTarget } from "../target.js";

type Tensors = Record<string, { data: StArray; shape: number[]; dtype?: SafetensorsDType }>;

/** Write tensors with the project's writer and return the bytes. */
export function writeToBytes(tensors: Tensors, metadata: Record<string, string> = {}, options?: { sha256?: boolean }): Uint8Array {
  const dir = mkdtempSync(join(tmpdir(), "dit-fuzz-seed-"));
  try {
    const p = join(dir, "seed.safetensors");
    // the options argument is new with the data SHA-256; older writers ignore it
    (writeSafetensors as (...a: unknown[]) => void)(p, tensors, metadata, options);
    return new Uint8Array(readFileSync(p));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * Assemble a safetensors file in memory (for lies: no temp file, no fsync), with the data SHA-256
 * in `__metadata__` as dit-ts writes it. Tensors are laid out in the given order.
 */
export function encodeSafetensors(tensors: Tensors, metadata: Record<string, string> = {}): Uint8Array {
  const header: Record<string, unknown> = {};
  const parts: Uint8Array[] = [];
  let at = 0;
  for (const [name, t] of Object.entries(tensors)) {
    const b = new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength);
    header[name] = { dtype: t.dtype ?? "F32", shape: t.shape, data_offsets: [at, at + b.length] };
    parts.push(b);
    at += b.length;
  }
  const data = Buffer.concat(parts);
  const meta = { ...metadata, dit_ts_sha256: createHash("sha256").update(data).digest("hex") };
  const text = Buffer.from(JSON.stringify({ __metadata__: meta, ...header }));
  const out = new Uint8Array(8 + text.length + data.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(text.length), true);
  out.set(text, 8);
  out.set(data, 8 + text.length);
  return out;
}

/** Structural boundaries of a safetensors file: length field, header end, every tensor's byte range. */
export function safetensorsBoundaries(bytes: Uint8Array): number[] {
  const n = Number(new DataView(bytes.buffer, bytes.byteOffset).getBigUint64(0, true));
  const header = JSON.parse(Buffer.from(bytes.subarray(8, 8 + n)).toString("utf8")) as Record<string, { data_offsets?: [number, number] }>;
  const out = new Set<number>([0, 8, 8 + n, bytes.length]);
  for (const [k, v] of Object.entries(header)) {
    if (k === "__metadata__" || !v.data_offsets) continue;
    out.add(8 + n + v.data_offsets[0]);
    out.add(8 + n + v.data_offsets[1]);
  }
  return [...out].sort((a, b) => a - b);
}

const seedOf = (name: string, bytes: Uint8Array): FuzzSeed => ({ name, bytes, boundaries: safetensorsBoundaries(bytes) });

function seeds(): FuzzSeed[] {
  const f32 = Float32Array.from({ length: 12 }, (_, i) => i * 0.5 - 2);
  const mixed: Tensors = {
    "w.f32": { data: f32, shape: [3, 4] },
    "b.f64": { data: Float64Array.from([1.5, -2.25]), shape: [2] },
    "i.i64": { data: BigInt64Array.from([1n, -1n, 2n ** 40n]), shape: [3] },
    "h.f16": { data: Uint16Array.from([0x3c00, 0xc000, 0x7bff, 0]), shape: [2, 2], dtype: "F16" },
    "bf.bf16": { data: Uint16Array.from([0x3f80, 0x4000]), shape: [2], dtype: "BF16" },
    "n.i32": { data: Int32Array.from([7, -7, 0]), shape: [3] },
    "s.i16": { data: Int16Array.from([300, -300]), shape: [1, 2] },
    "c.i8": { data: Int8Array.from([-1, 1, 2]), shape: [3] },
    "u.u8": { data: Uint8Array.from([0, 255, 9, 1]), shape: [4] },
    "m.bool": { data: Uint8Array.from([1, 0]), shape: [2], dtype: "BOOL" },
    "empty": { data: new Float32Array(0), shape: [0, 3] },
    "scalar": { data: Float32Array.from([3.25]), shape: [] },
  };
  return [
    seedOf("mixed+meta+sha", writeToBytes(mixed, { config: JSON.stringify({ depth: 2 }), note: "fuzz seed" })),
    seedOf("mixed-no-sha", writeToBytes(mixed, {}, { sha256: false })),
    seedOf("one-f32", writeToBytes({ weight: { data: f32, shape: [12] } }, {}, { sha256: false })),
    seedOf("empty-only", writeToBytes({ nothing: { data: new Float32Array(0), shape: [0] } }, { format: "pt" })),
  ];
}

interface Parsed {
  header: Record<string, unknown>;
  data: Uint8Array;
}

function parse(bytes: Uint8Array): Parsed {
  const n = Number(new DataView(bytes.buffer, bytes.byteOffset).getBigUint64(0, true));
  return { header: JSON.parse(Buffer.from(bytes.subarray(8, 8 + n)).toString("utf8")) as Record<string, unknown>, data: bytes.subarray(8 + n) };
}

/** Assemble a file from raw header text (no padding fix-up: lies may be unaligned) and data. */
function assemble(headerText: string | Uint8Array, data: Uint8Array, declared?: bigint): Uint8Array {
  const h = typeof headerText === "string" ? Buffer.from(headerText, "utf8") : headerText;
  const out = new Uint8Array(8 + h.length + data.length);
  new DataView(out.buffer).setBigUint64(0, declared ?? BigInt(h.length), true);
  out.set(h, 8);
  out.set(data, 8 + h.length);
  return out;
}

type Entry = { dtype: string; shape: unknown; data_offsets: unknown };

function lie(seed: FuzzSeed, rand: () => number): { bytes: Uint8Array; what: string } {
  const { header, data } = parse(seed.bytes);
  const names = Object.keys(header).filter((k) => k !== "__metadata__");
  const name = names[Math.floor(rand() * names.length)]!;
  const e = header[name] as Entry;
  const off = e.data_offsets as [number, number];
  const big = [1e12, 2 ** 53, 2 ** 53 + 2, 2 ** 64, 1e300, Number.MAX_SAFE_INTEGER];
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)]!;
  const withHeader = (what: string, h: unknown = header) => ({ what, bytes: assemble(JSON.stringify(h), data) });
  const lies: (() => { bytes: Uint8Array; what: string })[] = [
    () => {
      const n = pick([1e12, 2 ** 53, 2 ** 63, 2 ** 64 - 1, 2 ** 32, 100 * 2 ** 20 + 1]);
      const b = seed.bytes.slice();
      new DataView(b.buffer).setBigUint64(0, BigInt(n), true);
      return { what: `header length ${n}`, bytes: b };
    },
    () => {
      const b = seed.bytes.slice();
      const n = Number(new DataView(b.buffer).getBigUint64(0, true));
      new DataView(b.buffer).setBigUint64(0, BigInt(n + 1 + Math.floor(rand() * 64)), true);
      return { what: "header length past the JSON", bytes: b };
    },
    () => {
      const end = data.length + 1 + Math.floor(rand() * 1e6);
      e.data_offsets = [off[0], end];
      return withHeader(`'${name}' data_offsets end ${end} past the end`);
    },
    () => {
      const v = pick(big);
      e.data_offsets = [v, v + (off[1] - off[0])];
      return withHeader(`'${name}' data_offsets start ${v}`);
    },
    () => {
      e.data_offsets = [off[1], off[0]];
      return withHeader(`'${name}' data_offsets reversed`);
    },
    () => {
      // overlap: move this tensor onto another one's bytes
      const other = header[pick(names)] as Entry;
      const o = other.data_offsets as [number, number];
      e.data_offsets = [o[0], o[0] + (off[1] - off[0])];
      return withHeader(`'${name}' overlaps another tensor`);
    },
    () => {
      // a gap: shift every tensor one element later
      const shift = 1 + Math.floor(rand() * 8);
      for (const k of names) {
        const x = header[k] as Entry;
        const d = x.data_offsets as [number, number];
        x.data_offsets = [d[0] + shift, d[1] + shift];
      }
      return { what: `every tensor shifted by ${shift} (gap at the start)`, bytes: assemble(JSON.stringify(header), Buffer.concat([new Uint8Array(shift), data])) };
    },
    () => {
      e.data_offsets = [off[0], off[1] + pick([-1, 1, 2, 4])];
      return withHeader(`'${name}' byte count not dtype × shape`);
    },
    () => {
      e.shape = pick([[2 ** 27, 2 ** 27], [1e6, 1e6, 1e6], [2 ** 53], [2 ** 31, 2 ** 31, 4], [1e12]]);
      return withHeader(`'${name}' shape ${JSON.stringify(e.shape)} (huge product)`);
    },
    () => {
      // a huge shape whose byte count the offsets do claim
      const n = pick([1e12, 2 ** 40, 2 ** 53 / 4]);
      e.shape = [n];
      e.dtype = "F32";
      e.data_offsets = [0, n * 4];
      return withHeader(`'${name}' claims ${n} F32 elements`);
    },
    () => {
      e.shape = pick([[-1], [-3, -4], [2, -2], [0, -1], [1.5], ["3"], [null], [NaN], {}, "12", 7, null]);
      return withHeader(`'${name}' shape ${JSON.stringify(e.shape)}`);
    },
    () => {
      e.data_offsets = pick([[-4, 0], [0.5, 4.5], ["0", "4"], [0], [0, 4, 8], null, {}, [null, null], "0-4"]);
      return withHeader(`'${name}' data_offsets ${JSON.stringify(e.data_offsets)}`);
    },
    () => {
      e.dtype = pick(["F8", "U64", "C64", "f32", "", "__proto__", "constructor", "toString", "F32 ", "U16", "U32", "F8_E4M3"]) as string;
      return withHeader(`'${name}' dtype '${e.dtype}'`);
    },
    () => {
      (e as unknown as Record<string, unknown>).dtype = pick([1, null, true, ["F32"], { F32: 1 }]);
      return withHeader(`'${name}' dtype ${JSON.stringify(e.dtype)}`);
    },
    () => {
      const h = pick(["[]", "[1,2,3]", "42", '"safetensors"', "null", "true", "{}", "[{}]"]);
      return { what: `header ${h}`, bytes: assemble(h, data) };
    },
    () => {
      const depth = pick([1000, 1e4, 1e5]);
      const nest = "[".repeat(depth) + "]".repeat(depth);
      const where = pick(["top", "entry", "metadata", "shape"]);
      const text =
        where === "top" ? nest : where === "entry" ? `{"${name}":${nest}}` : where === "metadata" ? `{"__metadata__":${nest}}` : `{"${name}":{"dtype":"F32","shape":${nest},"data_offsets":[0,0]}}`;
      return { what: `nesting depth ${depth} (${where})`, bytes: assemble(text, data) };
    },
    () => {
      // duplicate keys: the same tensor name twice with different entries
      const text = JSON.stringify(header);
      const dup = `"${name}":${JSON.stringify({ ...e, data_offsets: [0, data.length + 8] })},`;
      return { what: `duplicate key '${name}'`, bytes: assemble(`{${dup}${text.slice(1)}`, data) };
    },
    () => {
      header.__metadata__ = pick([{ a: 1 }, { a: null }, { a: { b: "c" } }, { a: ["x"] }, [], "meta", 5, null, { dit_ts_sha256: 12 }, { dit_ts_sha256: "zz" }]);
      return withHeader(`__metadata__ ${JSON.stringify(header.__metadata__)}`);
    },
    () => {
      const meta = (header.__metadata__ ?? {}) as Record<string, unknown>;
      meta.dit_ts_sha256 = pick(["0".repeat(64), "f".repeat(64), "abc", "", "0".repeat(63) + "g"]);
      header.__metadata__ = meta;
      return withHeader(`__metadata__ dit_ts_sha256 '${String(meta.dit_ts_sha256)}'`);
    },
    () => {
      const n = pick(["__proto__", "constructor", "hasOwnProperty", "", "a".repeat(5000)]);
      header[n] = e;
      return withHeader(`tensor named '${n.slice(0, 20)}'`);
    },
    () => {
      // invalid UTF-8 / a BOM / trailing garbage in the header
      const text = Buffer.from(JSON.stringify(header), "utf8");
      const kind = pick(["bom", "invalid-utf8", "trailing", "nul"]);
      const h =
        kind === "bom"
          ? Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), text])
          : kind === "invalid-utf8"
            ? Buffer.concat([text.subarray(0, 2), Buffer.from([0xff, 0xfe, 0xc0]), text.subarray(2)])
            : kind === "trailing"
              ? Buffer.concat([text, Buffer.from("}}x")])
              : Buffer.concat([text, Buffer.from([0, 0, 0])]);
      return { what: `header with ${kind}`, bytes: assemble(h, data) };
    },
    () => {
      // many tensors that all claim the whole data region (amplification by aliasing)
      const h: Record<string, unknown> = {};
      const n = pick([100, 1000, 10000]);
      const len = data.length - (data.length % 4);
      for (let i = 0; i < n; i++) h[`t${i}`] = { dtype: "U8", shape: [len], data_offsets: [0, len] };
      return { what: `${n} tensors aliasing the whole data region`, bytes: assemble(JSON.stringify(h), data) };
    },
  ];
  return pick(lies)();
}

const target: FuzzTarget = {
  format: "safetensors",
  ext: ".safetensors",
  seeds,
  lie,
  load(path: string) {
    const { tensors, metadata } = readSafetensors(path);
    let bytes = 0;
    for (const t of tensors.values()) bytes += t.data.byteLength;
    return { tensors: tensors.size, bytes, metadata: Object.keys(metadata).length };
  },
};

export default target;
