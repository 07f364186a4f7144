/**
 * Fuzz target: NumPy `.npz` archives read by `readNpz` (src/io/npz.ts over the shared zip reader,
 * src/io/zip.ts), every member decoded. Seeds: files written by `writeNpz` (stored, as np.savez),
 * the same members deflated (as np.savez_compressed) and a zip64 archive.
 * Lies: central-directory sizes / offsets past the end or onto other records, EOCD counts and
 * offsets that lie, declared deflate sizes, unknown methods and the encrypted flag, wrong CRC-32s,
 * names that escape the archive and duplicate names, and `.npy` members (rebuilt with a right
 * CRC-32, so the parser sees them) whose headers lie: versions, header lengths, dtypes, shapes
 * (negative, fractional, huge products), Fortran order, truncated or extra data.
 */
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { inflateRawSync } from "node:zlib";
import { encodeNpy, readNpz, writeNpz, type NpyArray } from "../../../src/io/npz.js";
import { buildZip, buildZip64, parseZip, type ZipRecord } from "../../io/pickle-builder.js";
import type { FuzzMutant, FuzzSeed, FuzzTarget } from "../target.js";

const int = (rand: () => number, n: number): number => Math.floor(rand() * n);
const pick = <T>(rand: () => number, xs: readonly T[]): T => xs[int(rand, xs.length)]!;

function arrays(): Record<string, NpyArray> {
  return {
    arr_0: { dtype: "uint8", shape: [2, 3, 4, 1], data: Uint8Array.from({ length: 24 }, (_, i) => (i * 37) & 0xff) },
    labels: { dtype: "int64", shape: [2], data: BigInt64Array.from([3n, -1n]) },
    mu: { dtype: "float64", shape: [3], data: Float64Array.from([0.5, -1.25, 1e300]) },
    sigma: { dtype: "float32", shape: [2, 2], data: Float32Array.from([1, 0.5, 0.5, 2]) },
    idx: { dtype: "int32", shape: [], data: Int32Array.from([7]) },
    empty: { dtype: "float32", shape: [0, 4], data: new Float32Array(0) },
  };
}

/** writeNpz's bytes (the project's writer, through a temp file). */
function written(a: Record<string, NpyArray>): Uint8Array {
  const dir = mkdtempSync(join(tmpdir(), "dit-fuzz-npz-"));
  try {
    const p = join(dir, "seed.npz");
    writeNpz(p, a);
    return new Uint8Array(readFileSync(p));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function boundaries(bytes: Uint8Array): number[] {
  const { layout } = parseZip(bytes);
  const out = new Set<number>([0, bytes.length, layout.cdStart, layout.eocd]);
  for (const r of layout.records) for (const x of [r.local, r.start, r.start + 10, r.start + 64, r.end, r.central, r.central + 20, r.central + 42]) out.add(x);
  return [...out].filter((x) => x <= bytes.length).sort((a, b) => a - b);
}

function seeds(): FuzzSeed[] {
  const members = Object.entries(arrays()).map(([k, a]) => ({ name: `${k}.npy`, data: encodeNpy(a) }));
  const all = [
    { name: "savez", bytes: written(arrays()) },
    { name: "savez-compressed", bytes: buildZip(members.map((m) => ({ ...m, deflate: true }))).bytes },
    { name: "mixed", bytes: buildZip(members.map((m, i) => ({ ...m, deflate: i % 2 === 1 }))).bytes },
    { name: "zip64", bytes: buildZip64(members.slice(0, 3)) },
    { name: "one-scalar", bytes: written({ x: { dtype: "float64", shape: [], data: Float64Array.from([2.5]) } }) },
  ];
  return all.map((s) => ({ ...s, boundaries: boundaries(s.bytes) }));
}

const HUGE32 = [0xffffffff, 0x7fffffff, 0x80000000, 0xfffffff0];

/** An `.npy` member whose header tells a lie (the data bytes are those of `m`, or as the lie says). */
function lyingNpy(rand: () => number, m: Uint8Array): FuzzMutant {
  const header = (h: string, data: Uint8Array, version = 1, declared?: number): Uint8Array => {
    const pre = version === 1 ? 10 : 12;
    const text = Buffer.from(h, "latin1");
    const out = new Uint8Array(pre + text.length + data.length);
    out.set([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, version, 0]);
    const dv = new DataView(out.buffer);
    if (version === 1) dv.setUint16(8, declared ?? text.length, true);
    else dv.setUint32(8, declared ?? text.length, true);
    out.set(text, pre);
    out.set(data, pre + text.length);
    return out;
  };
  const dict = (descr: string, fortran: string, shape: string) => `{'descr': '${descr}', 'fortran_order': ${fortran}, 'shape': ${shape}, }\n`;
  const hlen = m[6] === 1 ? new DataView(m.buffer, m.byteOffset).getUint16(8, true) : 0;
  const data = m.subarray(10 + hlen);
  const kind = pick(rand, ["shape", "dtype", "fortran", "version", "hlen", "data", "text"] as const);
  switch (kind) {
    case "shape": {
      const s = pick(rand, ["(-1,)", "(-2, -3)", "(1.5, 2)", "(1e3,)", "(2**40,)", "(1000000000000, 1000000000000)", "(9007199254740993,)", "(,)", "(3,,4)", "(0, 99999999999999999)", "(a, b)", "(" + "1, ".repeat(1000) + ")", "(24)", "(3, 8)", "()"]);
      return { what: `npy shape ${s.slice(0, 40)}`, bytes: header(dict("|u1", "False", s), data) };
    }
    case "dtype": {
      const d = pick(rand, ["<c8", "O", "|O", "<U3", ">f4", "<f2", "|b1", "", "'", "<f4' 'x", "__proto__", "<i8"]);
      return { what: `npy dtype '${d}'`, bytes: header(dict(d, "False", `(${data.length},)`), data) };
    }
    case "fortran":
      return { what: "npy fortran_order True", bytes: header(dict("|u1", pick(rand, ["True", "1", "None"]), `(${data.length},)`), data) };
    case "version": {
      const v = pick(rand, [0, 2, 3, 4, 255]);
      const b = m.slice();
      b[6] = v;
      if (rand() < 0.3) return { what: `npy version ${v}, cut to 11 bytes`, bytes: b.subarray(0, 11) };
      return { what: `npy version ${v} (header length read as u32)`, bytes: b };
    }
    case "hlen": {
      const v = pick(rand, [0, 1, 0xffff, hlen + 1, hlen - 1]);
      return { what: `npy header length ${v}`, bytes: header(dict("|u1", "False", `(${data.length},)`), data, pick(rand, [1, 2]), v) };
    }
    case "data": {
      const cut = pick(rand, [-1, 1, 7, -data.length]);
      const d = cut < 0 ? data.subarray(0, Math.max(0, data.length + cut)) : Buffer.concat([data, new Uint8Array(cut)]);
      return { what: `npy data ${cut < 0 ? "short" : "long"} by ${Math.abs(cut)} bytes`, bytes: header(dict("<f8", "False", `(${Math.floor(data.length / 8)},)`), d) };
    }
    case "text": {
      const t = pick(rand, ["", "{}", "not a dict", "{'descr': '<f4'}", "{'shape': (1,), 'fortran_order': False}", "\u00ff".repeat(300), "{'descr': '|u1', 'fortran_order': False, 'shape': (" + "(".repeat(5000) + ")}"]);
      return { what: `npy header text ${JSON.stringify(t.slice(0, 30))}`, bytes: header(t, data) };
    }
  }
}

function lie(seed: FuzzSeed, rand: () => number): FuzzMutant {
  const { records, layout } = parseZip(seed.bytes);
  const deflated = records.map((r) => r.method === 8);
  // records as buildZip takes them (uncompressed data; parseZip gives deflated bytes as stored)
  const plain: ZipRecord[] = records.map((r, i) => ({ name: r.name, data: deflated[i] ? new Uint8Array(inflateRawSync(r.data)) : r.data, deflate: deflated[i] }));
  const rebuild = (rs: ZipRecord[]) => buildZip(rs).bytes;
  const patch = (f: (dv: DataView) => void) => {
    const out = seed.bytes.slice();
    f(new DataView(out.buffer));
    return out;
  };
  const ri = int(rand, layout.records.length);
  const r = layout.records[ri]!;
  const kind = pick(rand, ["cd-size", "cd-offset", "eocd-count", "eocd-cd", "method", "crc", "names", "npy", "npy", "npy", "many"] as const);
  switch (kind) {
    case "cd-size": {
      const v = pick(rand, [...HUGE32, seed.bytes.length, r.end - r.start + 1 + int(rand, 64), 0]);
      const field = pick(rand, [20, 24]);
      return { what: `'${r.name}' central ${field === 20 ? "compressed size" : "size"} ${v}`, bytes: patch((dv) => dv.setUint32(r.central + field, v, true)) };
    }
    case "cd-offset": {
      const other = pick(rand, layout.records);
      const v = pick(rand, [...HUGE32, seed.bytes.length - 10, other.local, other.start, r.local + 1, 0]);
      return { what: `'${r.name}' local offset ${v}`, bytes: patch((dv) => dv.setUint32(r.central + 42, v, true)) };
    }
    case "eocd-count": {
      const v = pick(rand, [0, 1, layout.records.length + 1, 0xfffe, 0xffff]);
      return { what: `EOCD count ${v}`, bytes: patch((dv) => dv.setUint16(layout.eocd + 10, v, true)) };
    }
    case "eocd-cd": {
      const field = pick(rand, [12, 16]);
      const v = pick(rand, [...HUGE32, 0, layout.cdStart + 1, layout.eocd, seed.bytes.length]);
      return { what: `EOCD ${field === 12 ? "directory size" : "directory offset"} ${v}`, bytes: patch((dv) => dv.setUint32(layout.eocd + field, v, true)) };
    }
    case "method": {
      const v = pick(rand, [1, 9, 12, 14, 99, 0xffff]);
      const enc = rand() < 0.3;
      return { what: `'${r.name}' method ${v}${enc ? ", encrypted" : ""}`, bytes: patch((dv) => (enc ? dv.setUint16(r.central + 8, 1, true) : dv.setUint16(r.central + 10, v, true))) };
    }
    case "crc":
      return { what: `'${r.name}' wrong CRC-32`, bytes: rebuild(plain.map((p, i) => (i === ri ? { ...p, crc: (int(rand, 2 ** 32) ^ 1) >>> 0 } : p))) };
    case "names": {
      const bad = pick(rand, ["../../x.npy", "/abs.npy", "C:/x.npy", "a\\..\\b.npy", "./a.npy", "", "x/../../y.npy", "\u0001.npy", plain[(ri + 1) % plain.length]!.name, plain[ri]!.name.replace(/\.npy$/, "")]);
      const rs = plain.map((p, i) => (i === ri ? { ...p, name: bad } : p));
      if (rand() < 0.3) rs.push({ ...plain[ri]! });
      return { what: `'${plain[ri]!.name}' renamed '${bad}'`, bytes: rebuild(rs) };
    }
    case "npy": {
      const m = lyingNpy(rand, plain[ri]!.data);
      return { what: `'${plain[ri]!.name}': ${m.what}`, bytes: rebuild(plain.map((p, i) => (i === ri ? { ...p, data: m.bytes } : p))) };
    }
    case "many": {
      const n = pick(rand, [100, 1000, 5000]);
      const one = plain[ri]!;
      return { what: `${n} members`, bytes: rebuild(Array.from({ length: n }, (_, i) => ({ ...one, name: `m${i}.npy` }))) };
    }
  }
}

const target: FuzzTarget = {
  format: "npz",
  ext: ".npz",
  seeds,
  lie,
  load(path) {
    const m = readNpz(path);
    let bytes = 0;
    for (const a of m.values()) bytes += a.data.byteLength;
    return { arrays: m.size, bytes };
  },
};
export default target;
