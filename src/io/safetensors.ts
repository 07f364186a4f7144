/**
 * safetensors reading and writing.
 *
 * Layout: u64 little-endian header length N, N bytes of JSON
 * `{name: {dtype, shape, data_offsets: [start, end]}, "__metadata__": {…}}`,
 * then the raw little-endian C-order tensor bytes. Tensors are read one at a
 * time by file offset, so files over 2 GiB (which `readFileSync` refuses) work.
 * Writing goes to a temporary file renamed at the end.
 */
import { DitError } from "../errors.js";
import { dirname } from "node:path";
import { closeSync, fstatSync, fsyncSync, mkdirSync, openSync, readSync, renameSync, rmSync, writeSync } from "node:fs";

import { ELEMENT_TYPES, elementTypeOfArray, fromSafetensors, type SafetensorsDType } from "../runtime/dtype.js";

export type { SafetensorsDType };

/** Bytes per element (sizes come from the one dtype table, runtime/dtype.ts). */
const elementBytes = (dtype: SafetensorsDType): number => ELEMENT_TYPES[fromSafetensors(dtype)!].bytes;

export type StArray = Float32Array | Float64Array | BigInt64Array | Int32Array | Int16Array | Int8Array | Uint8Array | Uint16Array;

export interface StTensor {
  dtype: SafetensorsDType;
  shape: number[];
  data: StArray;
}

interface Entry {
  dtype: SafetensorsDType;
  shape: number[];
  begin: number;
  end: number;
}

/** Thrown for malformed or truncated files; names the file and what was expected. */
export class SafetensorsError extends DitError {
  constructor(path: string, message: string) {
    super(`${path}: ${message}`);
    this.name = "SafetensorsError";
  }
}

/** A typed array of `dtype` over `bytes` (copied only when not already a whole, aligned buffer). */
export function makeArray(dtype: SafetensorsDType, bytes: Uint8Array): StArray {
  const whole = bytes.byteOffset === 0 && bytes.buffer.byteLength === bytes.byteLength;
  const buf = (whole ? bytes.buffer : bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength)) as ArrayBuffer;
  return new ELEMENT_TYPES[fromSafetensors(dtype)!].array(buf) as StArray; // float16/bfloat16 as Uint16Array bits
}

/** Whether a safetensors dtype is a floating-point type. */
export function isFloatDType(dtype: SafetensorsDType): boolean {
  return ELEMENT_TYPES[fromSafetensors(dtype)!].float;
}

/** An open safetensors file: header parsed, tensors read on demand. */
export class SafetensorsFile {
  readonly metadata: Record<string, string>;
  private readonly entries: Map<string, Entry>;
  private readonly dataStart: number;

  private constructor(
    readonly path: string,
    private readonly fd: number,
    header: Record<string, unknown>,
    dataStart: number,
    fileSize: number,
  ) {
    this.dataStart = dataStart;
    this.metadata = (header.__metadata__ as Record<string, string> | undefined) ?? {};
    this.entries = new Map();
    for (const [name, raw] of Object.entries(header)) {
      if (name === "__metadata__") continue;
      const e = raw as { dtype?: string; shape?: number[]; data_offsets?: [number, number] };
      if (!e || typeof e !== "object" || !e.dtype || !Array.isArray(e.shape) || !Array.isArray(e.data_offsets)) {
        throw new SafetensorsError(path, `tensor '${name}' has a malformed header entry (expected dtype, shape, data_offsets)`);
      }
      const dtype = e.dtype as SafetensorsDType;
      if (fromSafetensors(dtype) === undefined) throw new SafetensorsError(path, `tensor '${name}' has unsupported dtype '${e.dtype}'`);
      const [begin, end] = e.data_offsets;
      const n = e.shape.reduce((a, b) => a * b, 1);
      if (end - begin !== n * elementBytes(dtype)) {
        throw new SafetensorsError(path, `tensor '${name}': ${end - begin} bytes for ${dtype}[${e.shape}] (expected ${n * elementBytes(dtype)})`);
      }
      if (begin < 0 || dataStart + end > fileSize) {
        throw new SafetensorsError(path, `tensor '${name}' lies beyond the end of the file (truncated? file is ${fileSize} bytes, needs ${dataStart + end})`);
      }
      this.entries.set(name, { dtype, shape: e.shape, begin, end });
    }
  }

  static open(path: string): SafetensorsFile {
    const fd = openSync(path, "r");
    try {
      const size = fstatSync(fd).size;
      if (size < 8) throw new SafetensorsError(path, `file is ${size} bytes; a safetensors file starts with an 8-byte header length`);
      const lenBuf = Buffer.alloc(8);
      readSync(fd, lenBuf, 0, 8, 0);
      const n = Number(lenBuf.readBigUInt64LE(0));
      if (n > size - 8 || n > 100 * 2 ** 20) throw new SafetensorsError(path, `header length ${n} exceeds the file size ${size} (not a safetensors file, or truncated)`);
      const hbuf = Buffer.alloc(n);
      readSync(fd, hbuf, 0, n, 8);
      let header: Record<string, unknown>;
      try {
        header = JSON.parse(hbuf.toString("utf8")) as Record<string, unknown>;
      } catch {
        throw new SafetensorsError(path, "header is not valid JSON (not a safetensors file, or corrupt)");
      }
      return new SafetensorsFile(path, fd, header, 8 + n, size);
    } catch (e) {
      closeSync(fd);
      throw e;
    }
  }

  keys(): string[] {
    return [...this.entries.keys()];
  }

  has(name: string): boolean {
    return this.entries.has(name);
  }

  info(name: string): { dtype: SafetensorsDType; shape: number[] } {
    const e = this.entries.get(name);
    if (!e) throw new SafetensorsError(this.path, `no tensor '${name}'`);
    return { dtype: e.dtype, shape: [...e.shape] };
  }

  get(name: string): StTensor {
    const e = this.entries.get(name);
    if (!e) throw new SafetensorsError(this.path, `no tensor '${name}' (has: ${this.keys().slice(0, 20).join(", ")}${this.entries.size > 20 ? ", …" : ""})`);
    const bytes = new Uint8Array(e.end - e.begin);
    const CHUNK = 1 << 30;
    for (let off = 0; off < bytes.length; off += CHUNK) {
      const len = Math.min(CHUNK, bytes.length - off);
      let done = 0;
      while (done < len) {
        const r = readSync(this.fd, bytes, off + done, len - done, this.dataStart + e.begin + off + done);
        if (r === 0) throw new SafetensorsError(this.path, `unexpected end of file reading '${name}'`);
        done += r;
      }
    }
    return { dtype: e.dtype, shape: [...e.shape], data: makeArray(e.dtype, bytes) };
  }

  close(): void {
    closeSync(this.fd);
  }
}

/** Read every tensor of a file into memory. */
export function readSafetensors(path: string): { tensors: Map<string, StTensor>; metadata: Record<string, string> } {
  const f = SafetensorsFile.open(path);
  try {
    const tensors = new Map<string, StTensor>();
    for (const k of f.keys()) tensors.set(k, f.get(k));
    return { tensors, metadata: f.metadata };
  } finally {
    f.close();
  }
}

/** The safetensors dtype of a typed array (Uint16Array: F16 bits, Uint8Array: U8). */
function dtypeOf(data: StArray): SafetensorsDType {
  return ELEMENT_TYPES[elementTypeOfArray(data)].safetensors!;
}

/**
 * Write tensors (a name → {data, shape[, dtype]} map) with optional string
 * metadata. 8-byte dtypes come first so every tensor is aligned for zero-copy views.
 */
export function writeSafetensors(
  path: string,
  tensors: Map<string, { data: StArray; shape: number[]; dtype?: SafetensorsDType }> | Record<string, { data: StArray; shape: number[]; dtype?: SafetensorsDType }>,
  metadata: Record<string, string> = {},
): void {
  const list = [...(tensors instanceof Map ? tensors.entries() : Object.entries(tensors))].map(([name, t]) => {
    const dtype = t.dtype ?? dtypeOf(t.data);
    const n = t.shape.reduce((a, b) => a * b, 1);
    if (n * elementBytes(dtype) !== t.data.byteLength) throw new Error(`tensor '${name}': ${t.data.byteLength} bytes do not fit ${dtype}[${t.shape}]`);
    return { name, dtype, shape: t.shape, data: t.data };
  });
  const order = [...list].sort((a, b) => elementBytes(b.dtype) - elementBytes(a.dtype));
  let offset = 0;
  const header: Record<string, unknown> = {};
  if (Object.keys(metadata).length) header.__metadata__ = metadata;
  const offsets = new Map<string, number>();
  for (const t of order) {
    offsets.set(t.name, offset);
    offset += t.data.byteLength;
  }
  for (const t of list) header[t.name] = { dtype: t.dtype, shape: t.shape, data_offsets: [offsets.get(t.name)!, offsets.get(t.name)! + t.data.byteLength] };
  let json = JSON.stringify(header);
  json += " ".repeat((8 - ((8 + Buffer.byteLength(json)) % 8)) % 8);
  const hbytes = Buffer.from(json, "utf8");
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(hbytes.length));
  const tmp = `${path}.${process.pid}.tmp`;
  mkdirSync(dirname(path), { recursive: true }); // as users expect of --out paths
  const fd = openSync(tmp, "w");
  try {
    let pos = 0;
    const put = (b: Uint8Array) => {
      const CHUNK = 1 << 30;
      for (let off = 0; off < b.byteLength; off += CHUNK) {
        const end = Math.min(off + CHUNK, b.byteLength);
        let done = off;
        while (done < end) done += writeSync(fd, b, done, end - done, pos + done);
      }
      pos += b.byteLength;
    };
    put(len);
    put(hbytes);
    for (const t of order) put(new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength));
    fsyncSync(fd); // the bytes are on disk before the rename makes them visible: a crash never leaves a half-written file
    closeSync(fd);
    renameSync(tmp, path);
  } catch (e) {
    try {
      closeSync(fd);
    } catch {
      /* already closed */
    }
    rmSync(tmp, { force: true });
    throw e;
  }
}

/** int64 labels/timesteps → int32 (jax-js has no 64-bit integers), with a range check. */
export function toInt32(data: StArray, what = "tensor"): Int32Array {
  if (data instanceof Int32Array) return data;
  const out = new Int32Array(data.length);
  for (let i = 0; i < data.length; i++) {
    const v = Number(data[i]!);
    if (!Number.isInteger(v) || v > 2147483647 || v < -2147483648) throw new RangeError(`${what}: value ${data[i]} does not fit in int32`);
    out[i] = v;
  }
  return out;
}

/** Any numeric tensor → Float32Array (for float16/bfloat16 bits use floatTensorToF32). */
export function toFloat32(data: StArray): Float32Array {
  if (data instanceof Float32Array) return data;
  return Float32Array.from(data as ArrayLike<number>, (v) => Number(v));
}

const F16_EXP = new Float32Array(32).map((_, e) => 2 ** (e - 15));

function halfToFloat(h: number): number {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const m = h & 0x3ff;
  if (e === 0) return s * m * 2 ** -24;
  if (e === 31) return m ? NaN : s * Infinity;
  return s * F16_EXP[e]! * (1 + m / 1024);
}

/** A float tensor's values as float32 (float16 / bfloat16 bits decoded, float64 rounded). */
export function floatTensorToF32(t: StTensor): Float32Array {
  switch (t.dtype) {
    case "F32":
      return t.data as Float32Array;
    case "F64":
      return Float32Array.from(t.data as Float64Array);
    case "F16":
      return Float32Array.from(t.data as Uint16Array, halfToFloat);
    case "BF16": {
      const bits = new Uint32Array(t.data.length);
      const src = t.data as Uint16Array;
      for (let i = 0; i < src.length; i++) bits[i] = src[i]! << 16;
      return new Float32Array(bits.buffer);
    }
    default:
      throw new TypeError(`${t.dtype} is not a float dtype`);
  }
}

