/**
 * NumPy `.npy` arrays and `.npz` archives (a zip of `.npy` members), written
 * and read without dependencies: what the ADM evaluation suite
 * (openai/guided-diffusion `evaluations/evaluator.py`) reads as `arr_0`.
 *
 * Format: https://numpy.org/doc/stable/reference/generated/numpy.lib.format.html
 * (version 1.0: magic "\x93NUMPY", header dict padded to a multiple of 64 bytes).
 * The zip is written with STORED members (no compression), as `np.savez`; read with STORED or
 * DEFLATE members (`np.savez_compressed`) through ./zip.ts.
 */
import { DitError } from "../errors.js";
import { crc32 } from "node:zlib";
import { writeFileAtomic } from "./atomic-file.js";
import { FileBytes, readZipDirectory, readZipEntry } from "./zip.js";

/** Element types this module writes and reads. */
export type NpyDType = "uint8" | "int32" | "int64" | "float32" | "float64";

/** An n-dimensional C-order array. */
export interface NpyArray {
  dtype: NpyDType;
  shape: number[];
  data: Uint8Array | Int32Array | BigInt64Array | Float32Array | Float64Array;
}

export class NpzError extends DitError {
  constructor(where: string, message: string) {
    super(`${where}: ${message}`);
    this.name = "NpzError";
  }
}

const DESCR: Record<NpyDType, string> = { uint8: "|u1", int32: "<i4", int64: "<i8", float32: "<f4", float64: "<f8" };
const BYTES: Record<NpyDType, number> = { uint8: 1, int32: 4, int64: 8, float32: 4, float64: 8 };

function dtypeOfData(data: NpyArray["data"]): NpyDType {
  if (data instanceof Uint8Array) return "uint8";
  if (data instanceof Int32Array) return "int32";
  if (data instanceof BigInt64Array) return "int64";
  if (data instanceof Float32Array) return "float32";
  return "float64";
}

/** One array as `.npy` bytes (format version 1.0, little-endian, C order). */
export function encodeNpy(a: NpyArray): Uint8Array {
  if (dtypeOfData(a.data) !== a.dtype) throw new NpzError("encodeNpy", `data is ${dtypeOfData(a.data)}, dtype says ${a.dtype}`);
  const n = a.shape.reduce((x, y) => x * y, 1);
  if (n !== a.data.length) throw new NpzError("encodeNpy", `shape (${a.shape.join(", ")}) holds ${n} elements, data has ${a.data.length}`);
  const shape = a.shape.length === 1 ? `(${a.shape[0]},)` : `(${a.shape.join(", ")})`;
  let header = `{'descr': '${DESCR[a.dtype]}', 'fortran_order': False, 'shape': ${shape}, }`;
  // magic (6) + version (2) + header length (2) + header + "\n", padded with spaces to a multiple of 64
  const total = Math.ceil((10 + header.length + 1) / 64) * 64;
  header = header.padEnd(total - 10 - 1, " ") + "\n";
  if (header.length > 0xffff) throw new NpzError("encodeNpy", "header too long for format 1.0");
  const body = new Uint8Array(a.data.buffer, a.data.byteOffset, a.data.byteLength);
  const out = new Uint8Array(total + body.length);
  out.set([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0, header.length & 0xff, header.length >> 8]);
  out.set(Buffer.from(header, "latin1"), 10);
  out.set(body, total);
  return out;
}

/** Parse `.npy` bytes (versions 1–3, the dtypes of NpyDType, C order). */
export function decodeNpy(bytes: Uint8Array, where = "npy"): NpyArray {
  if (bytes.length < 10 || bytes[0] !== 0x93 || Buffer.from(bytes.subarray(1, 6)).toString("latin1") !== "NUMPY") throw new NpzError(where, "not a .npy array (bad magic)");
  const major = bytes[6]!;
  if (major < 1 || major > 3) throw new NpzError(where, `.npy format version ${major}.${bytes[7]!} is not supported (expected 1.0, 2.0 or 3.0)`);
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (major > 1 && bytes.length < 12) throw new NpzError(where, "truncated header");
  const [hlen, start] = major === 1 ? [dv.getUint16(8, true), 10] : [dv.getUint32(8, true), 12];
  if (start + hlen > bytes.length) throw new NpzError(where, "truncated header");
  const header = Buffer.from(bytes.subarray(start, start + hlen)).toString(major === 3 ? "utf8" : "latin1");
  const descr = /'descr':\s*'([^']+)'/.exec(header)?.[1];
  const fortran = /'fortran_order':\s*(True|False)/.exec(header)?.[1];
  const shapeText = /'shape':\s*\(([^)]*)\)/.exec(header)?.[1];
  const shown = () => JSON.stringify(header.trim().slice(0, 200)) + (header.trim().length > 200 ? "…" : "");
  if (!descr || !fortran || shapeText === undefined) throw new NpzError(where, `unreadable header ${shown()}`);
  if (fortran === "True") throw new NpzError(where, "Fortran-order arrays are not supported");
  const dtype = (Object.keys(DESCR) as NpyDType[]).find((d) => DESCR[d] === descr || (d === "uint8" && descr === "<u1"));
  if (!dtype) throw new NpzError(where, `dtype '${descr.slice(0, 40)}' is not supported (${Object.values(DESCR).join(", ")})`);
  const dims = shapeText.trim() === "" ? [] : shapeText.split(",").map((s) => s.trim()); // "()": a scalar
  if (dims.length > 1 && dims.at(-1) === "") dims.pop(); // "(3,)"
  if (!dims.every((d) => /^\d{1,15}$/.test(d))) throw new NpzError(where, `shape (${shapeText.slice(0, 80)}) is not a tuple of non-negative integers`);
  const shape = dims.map(Number);
  const n = shape.reduce((x, y) => x * y, 1);
  const off = start + hlen;
  if (bytes.length - off !== n * BYTES[dtype]) throw new NpzError(where, `${bytes.length - off} data bytes for ${dtype}[${shape}] (expected ${n * BYTES[dtype]})`);
  const raw = new Uint8Array(bytes.subarray(off)); // an aligned copy (Buffer.slice would be a view)
  const data = dtype === "uint8" ? raw : dtype === "int32" ? new Int32Array(raw.buffer) : dtype === "int64" ? new BigInt64Array(raw.buffer) : dtype === "float32" ? new Float32Array(raw.buffer) : new Float64Array(raw.buffer);
  return { dtype, shape, data };
}

/** A zip archive of STORED members (no compression, no zip64: each member and the whole archive < 4 GiB). */
export function encodeZipStored(members: { name: string; data: Uint8Array }[]): Uint8Array[] {
  const parts: Uint8Array[] = [];
  const central: Uint8Array[] = [];
  let offset = 0;
  // DOS date/time fixed at 1980-01-01 00:00 so the bytes depend on the contents only
  const dosTime = 0;
  const dosDate = (0 << 9) | (1 << 5) | 1;
  for (const m of members) {
    const name = Buffer.from(m.name, "utf8");
    const crc = crc32(m.data);
    if (m.data.length >= 0xffffffff || offset >= 0xffffffff) throw new NpzError("npz", `member '${m.name}' does not fit a zip without zip64 (4 GiB)`);
    const local = Buffer.alloc(30 + name.length);
    local.writeUInt32LE(0x04034b50, 0);
    local.writeUInt16LE(20, 4); // version needed
    local.writeUInt16LE(0, 6); // flags
    local.writeUInt16LE(0, 8); // method: stored
    local.writeUInt16LE(dosTime, 10);
    local.writeUInt16LE(dosDate, 12);
    local.writeUInt32LE(crc, 14);
    local.writeUInt32LE(m.data.length, 18);
    local.writeUInt32LE(m.data.length, 22);
    local.writeUInt16LE(name.length, 26);
    local.writeUInt16LE(0, 28);
    name.copy(local, 30);
    const cd = Buffer.alloc(46 + name.length);
    cd.writeUInt32LE(0x02014b50, 0);
    cd.writeUInt16LE(20, 4); // version made by
    cd.writeUInt16LE(20, 6);
    cd.writeUInt16LE(0, 8);
    cd.writeUInt16LE(0, 10);
    cd.writeUInt16LE(dosTime, 12);
    cd.writeUInt16LE(dosDate, 14);
    cd.writeUInt32LE(crc, 16);
    cd.writeUInt32LE(m.data.length, 20);
    cd.writeUInt32LE(m.data.length, 24);
    cd.writeUInt16LE(name.length, 28);
    cd.writeUInt32LE(offset, 42); // local header offset (fields 30..41 zero)
    name.copy(cd, 46);
    parts.push(local, m.data);
    central.push(cd);
    offset += local.length + m.data.length;
  }
  const cdSize = central.reduce((s, c) => s + c.length, 0);
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(members.length, 8);
  end.writeUInt16LE(members.length, 10);
  end.writeUInt32LE(cdSize, 12);
  end.writeUInt32LE(offset, 16);
  return [...parts, ...central, end];
}

/** Write arrays as an `.npz` (np.savez layout: member "<name>.npy"), atomically (temp file, fsync, rename). */
export function writeNpz(path: string, arrays: Record<string, NpyArray>): void {
  const parts = encodeZipStored(Object.entries(arrays).map(([name, a]) => ({ name: `${name}.npy`, data: encodeNpy(a) })));
  writeFileAtomic(path, parts);
}

/** Write one array as `.npy`, atomically. */
export function writeNpy(path: string, a: NpyArray): void {
  writeFileAtomic(path, [encodeNpy(a)]);
}


/**
 * Read an `.npz` (what writeNpz, np.savez and np.savez_compressed write) → name (without ".npy") →
 * array. Members are read by offset through the shared zip reader (./zip.ts): zip64, stored and
 * deflated members, CRC-32 checked; names that escape the archive and duplicate names ("a.npy"
 * twice, or "a" and "a.npy") are refused. Every refusal is an NpzError naming the file (and the
 * member, where one is at fault).
 */
export function readNpz(path: string): Map<string, NpyArray> {
  const f = new FileBytes(path, (p, message) => new NpzError(p, message));
  try {
    const out = new Map<string, NpyArray>();
    for (const e of readZipDirectory(f).values()) {
      const key = e.name.replace(/\.npy$/, "");
      if (out.has(key)) throw new NpzError(path, `two members give the array '${key.slice(0, 80)}' ('${key.slice(0, 80)}' and '${key.slice(0, 80)}.npy'; ambiguous)`);
      out.set(key, decodeNpy(readZipEntry(f, e), `${path}: ${e.name}`));
    }
    return out;
  } finally {
    f.close();
  }
}
