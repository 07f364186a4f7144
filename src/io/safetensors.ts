/**
 * safetensors reading and writing.
 *
 * Layout: u64 little-endian header length N, N bytes of JSON
 * `{name: {dtype, shape, data_offsets: [start, end]}, "__metadata__": {…}}`,
 * then the raw little-endian C-order tensor bytes. Tensors are read one at a
 * time by file offset, so files over 2 GiB (which `readFileSync` refuses) work.
 * Writing goes to a temporary file, fsynced and renamed at the end, the folder fsynced (io/atomic-file.ts).
 */
import { DitError } from "../errors.js";
import { createHash } from "node:crypto";
import { closeSync, fstatSync, openSync, readSync, writeSync } from "node:fs";
import { writeFileAtomicWith } from "./atomic-file.js";

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

/** The `__metadata__` key holding the SHA-256 (hex) of the data region of files dit-ts writes. */
export const DATA_SHA256_KEY = "dit_ts_sha256";

/** Options of `SafetensorsFile.open` and `readSafetensors`. */
export interface SafetensorsReadOptions {
  /**
   * Check the data region against the SHA-256 in `__metadata__` when the file has one
   * (files dit-ts writes; third-party files have none and load unchecked). Default true;
   * `false` skips the hash for speed.
   */
  verify?: boolean;
}

/** Bytes read and hashed at a time when verifying. */
const VERIFY_CHUNK = 1 << 24;

/** Largest header accepted (the reference implementation's limit is 100 MB as well). */
const MAX_HEADER_BYTES = 100 * 2 ** 20;

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);
const isIndex = (v: unknown): v is number => typeof v === "number" && Number.isSafeInteger(v) && v >= 0;
/** A value for a message: JSON, cut short. */
const show = (v: unknown): string => {
  let t: string;
  try {
    t = JSON.stringify(v) ?? String(v);
  } catch {
    t = String(typeof v);
  }
  return t.length > 60 ? `${t.slice(0, 57)}…` : t;
};

/**
 * The keys of the top-level object of a JSON text that `JSON.parse` accepted, in order, duplicates
 * kept (JSON.parse keeps only the last of a duplicated key; other readers may keep the first).
 */
function topLevelKeys(text: string): string[] {
  const keys: string[] = [];
  let depth = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x22) {
      let j = i + 1;
      while (text.charCodeAt(j) !== 0x22) j += text.charCodeAt(j) === 0x5c ? 2 : 1;
      if (depth === 1) {
        let k = j + 1;
        while (k < text.length && (text[k] === " " || text[k] === "\t" || text[k] === "\n" || text[k] === "\r")) k++;
        if (text[k] === ":") keys.push(JSON.parse(text.slice(i, j + 1)) as string);
      }
      i = j;
    } else if (c === 0x7b || c === 0x5b) depth++;
    else if (c === 0x7d || c === 0x5d) depth--;
  }
  return keys;
}

/** An open safetensors file: header parsed and validated, tensors read on demand. */
export class SafetensorsFile {
  /** The `__metadata__` strings (without the data SHA-256, see `dataSha256`). */
  readonly metadata: Record<string, string>;
  /** The SHA-256 (hex) of the data region recorded in the header, if any. */
  readonly dataSha256: string | undefined;
  private readonly entries: Map<string, Entry>;
  private readonly dataStart: number;
  private readonly dataLength: number;

  /** Validates the whole header against the file size before anything is read or allocated. */
  private constructor(
    readonly path: string,
    private readonly fd: number,
    header: unknown,
    headerText: string,
    dataStart: number,
    fileSize: number,
  ) {
    const fail = (message: string): never => {
      throw new SafetensorsError(path, message);
    };
    this.dataStart = dataStart;
    this.dataLength = fileSize - dataStart;
    if (!isRecord(header)) fail(`header is ${Array.isArray(header) ? "an array" : header === null ? "null" : `a ${typeof header}`}, expected a JSON object of tensors`);
    const h = header as Record<string, unknown>;
    const keys = topLevelKeys(headerText);
    if (keys.length !== Object.keys(h).length) {
      const seen = new Set<string>();
      const dup = keys.find((k) => (seen.has(k) ? true : (seen.add(k), false)));
      fail(`header names '${dup ?? "?"}' more than once (ambiguous: readers disagree on which entry counts)`);
    }
    const meta = h.__metadata__;
    const metadata: Record<string, string> = {};
    if (meta !== undefined) {
      if (!isRecord(meta)) fail(`__metadata__ is ${show(meta)}, expected an object of strings`);
      for (const [k, v] of Object.entries(meta as Record<string, unknown>)) {
        if (typeof v !== "string") fail(`__metadata__ entry '${k}' is ${show(v)}, expected a string`);
        metadata[k] = v as string;
      }
    }
    const sha = metadata[DATA_SHA256_KEY];
    if (sha !== undefined && !/^[0-9a-f]{64}$/.test(sha)) fail(`__metadata__ ${DATA_SHA256_KEY} is ${show(sha)}, expected 64 hex digits`);
    delete metadata[DATA_SHA256_KEY];
    this.metadata = metadata;
    this.dataSha256 = sha;
    this.entries = new Map();
    for (const [name, raw] of Object.entries(h)) {
      if (name === "__metadata__") continue;
      const t = `tensor '${name.length > 80 ? `${name.slice(0, 77)}…` : name}'`;
      if (!isRecord(raw)) fail(`${t} has a malformed header entry ${show(raw)} (expected {dtype, shape, data_offsets})`);
      const e = raw as Record<string, unknown>;
      if (typeof e.dtype !== "string") fail(`${t} has dtype ${show(e.dtype)}, expected a string`);
      const dtype = e.dtype as SafetensorsDType;
      if (fromSafetensors(dtype) === undefined) fail(`${t} has unsupported dtype ${show(e.dtype)}`);
      if (!Array.isArray(e.shape) || !e.shape.every(isIndex)) fail(`${t} has shape ${show(e.shape)}, expected an array of non-negative integers`);
      const shape = e.shape as number[];
      let n = 1;
      for (const d of shape) n *= d;
      const bytes = n * elementBytes(dtype);
      if (!Number.isSafeInteger(bytes)) fail(`${t}: shape ${show(shape)} has more elements than any file can hold`);
      const off = e.data_offsets;
      if (!Array.isArray(off) || off.length !== 2 || !off.every(isIndex)) fail(`${t} has data_offsets ${show(off)}, expected [begin, end] with non-negative integers`);
      const [begin, end] = off as [number, number];
      if (end < begin) fail(`${t} has data_offsets [${begin}, ${end}]: end before begin`);
      if (end - begin !== bytes) fail(`${t}: data_offsets [${begin}, ${end}] hold ${end - begin} bytes, but ${dtype}[${shape.join(", ")}] needs ${bytes}`);
      if (end > this.dataLength) fail(`${t} lies beyond the end of the file (truncated? file is ${fileSize} bytes, needs ${dataStart + end})`);
      this.entries.set(name, { dtype, shape, begin, end });
    }
    // The tensors tile the data region exactly: no overlaps (one byte read as two tensors), no gaps, nothing after.
    const sorted = [...this.entries.entries()].sort((a, b) => a[1].begin - b[1].begin || a[1].end - b[1].end);
    let at = 0;
    for (const [name, e] of sorted) {
      if (e.begin < at) fail(`tensor '${name}' (bytes ${e.begin}…${e.end}) overlaps another tensor (which ends at ${at})`);
      if (e.begin > at) fail(`tensor '${name}' begins at data offset ${e.begin}, but the previous tensor ends at ${at} (a gap)`);
      at = e.end;
    }
    if (at !== this.dataLength) fail(`the tensors end at data offset ${at}, but the file holds ${this.dataLength} bytes of data (${this.dataLength - at > 0 ? "trailing bytes" : "truncated"})`);
  }

  static open(path: string, options: SafetensorsReadOptions = {}): SafetensorsFile {
    const fd = openSync(path, "r");
    try {
      const size = fstatSync(fd).size;
      if (size < 8) throw new SafetensorsError(path, `file is ${size} bytes; a safetensors file starts with an 8-byte header length`);
      const lenBuf = Buffer.alloc(8);
      readFully(path, fd, lenBuf, 0, "the header length");
      const n = lenBuf.readBigUInt64LE(0);
      if (n > BigInt(size - 8)) throw new SafetensorsError(path, `header length ${n} exceeds the file size ${size} (not a safetensors file, or truncated)`);
      if (n > BigInt(MAX_HEADER_BYTES)) throw new SafetensorsError(path, `header length ${n} is over the ${MAX_HEADER_BYTES}-byte limit`);
      if (n < 2n) throw new SafetensorsError(path, `header length ${n} is too short for a JSON object`);
      const hbuf = Buffer.alloc(Number(n));
      readFully(path, fd, hbuf, 8, "the header");
      let text: string;
      try {
        text = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true }).decode(hbuf);
      } catch {
        throw new SafetensorsError(path, "header is not valid UTF-8 (not a safetensors file, or corrupt)");
      }
      if (text[0] !== "{") throw new SafetensorsError(path, `header starts with ${show(text.slice(0, 10))}, expected a JSON object '{' (not a safetensors file, or corrupt)`);
      let header: unknown;
      try {
        header = JSON.parse(text);
      } catch (e) {
        throw new SafetensorsError(path, `header is not valid JSON (${e instanceof Error ? e.message.slice(0, 100) : "?"}; not a safetensors file, or corrupt)`);
      }
      const f = new SafetensorsFile(path, fd, header, text, 8 + Number(n), size);
      if (options.verify !== false) f.verifyData();
      return f;
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
    const bytes = new Uint8Array(e.end - e.begin); // within the file: validated at open
    readFully(this.path, this.fd, bytes, this.dataStart + e.begin, `'${name}'`);
    return { dtype: e.dtype, shape: [...e.shape], data: makeArray(e.dtype, bytes) };
  }

  /**
   * Check the data region against the header's SHA-256 (a no-op for files without one);
   * throws a SafetensorsError naming the file when they differ. `open` does this unless
   * `{ verify: false }`.
   */
  verifyData(): void {
    if (this.dataSha256 === undefined) return;
    const h = createHash("sha256");
    const buf = new Uint8Array(Math.min(this.dataLength, VERIFY_CHUNK));
    for (let off = 0; off < this.dataLength; off += buf.length) {
      const chunk = buf.subarray(0, Math.min(buf.length, this.dataLength - off));
      readFully(this.path, this.fd, chunk, this.dataStart + off, "the data");
      h.update(chunk);
    }
    this.checkDigest(h.digest("hex"));
  }

  /** Compare a digest of the data region with the header's. */
  private checkDigest(digest: string): void {
    if (this.dataSha256 !== undefined && digest !== this.dataSha256) {
      throw new SafetensorsError(this.path, `data does not match its SHA-256 (${DATA_SHA256_KEY} ${this.dataSha256}, data hashes to ${digest}): the file is corrupt`);
    }
  }

  close(): void {
    closeSync(this.fd);
  }
}

/** Read `into.length` bytes at `position`, or throw a SafetensorsError naming the file (it shrank under us). */
function readFully(path: string, fd: number, into: Uint8Array, position: number, what: string): void {
  const CHUNK = 1 << 30;
  let done = 0;
  while (done < into.length) {
    const r = readSync(fd, into, done, Math.min(CHUNK, into.length - done), position + done);
    if (r === 0) throw new SafetensorsError(path, `unexpected end of file reading ${what}`);
    done += r;
  }
}

/**
 * Read every tensor of a file into memory. When the file records the SHA-256 of its data
 * (files dit-ts writes), the data is checked against it unless `{ verify: false }`.
 */
export function readSafetensors(path: string, options: SafetensorsReadOptions = {}): { tensors: Map<string, StTensor>; metadata: Record<string, string> } {
  // Verified in a streaming pass first (one reused buffer, then the tensors come from the page cache):
  // hashing while filling the fresh tensor buffers measured 3-5× slower.
  const f = SafetensorsFile.open(path, options);
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

/** Options of `writeSafetensors`. */
export interface SafetensorsWriteOptions {
  /** Record the SHA-256 of the data region in `__metadata__` (`dit_ts_sha256`), checked on load. Default true. */
  sha256?: boolean;
}

/**
 * Write tensors (a name → {data, shape[, dtype]} map) with optional string
 * metadata. 8-byte dtypes come first so every tensor is aligned for zero-copy views.
 * The SHA-256 of the data region goes in `__metadata__` (see `DATA_SHA256_KEY`) unless
 * `{ sha256: false }`; a `dit_ts_sha256` passed in `metadata` is replaced (or dropped).
 */
export function writeSafetensors(
  path: string,
  tensors: Map<string, { data: StArray; shape: number[]; dtype?: SafetensorsDType }> | Record<string, { data: StArray; shape: number[]; dtype?: SafetensorsDType }>,
  metadata: Record<string, string> = {},
  options: SafetensorsWriteOptions = {},
): void {
  const list = [...(tensors instanceof Map ? tensors.entries() : Object.entries(tensors))].map(([name, t]) => {
    const dtype = t.dtype ?? dtypeOf(t.data);
    const n = t.shape.reduce((a, b) => a * b, 1);
    if (n * elementBytes(dtype) !== t.data.byteLength) throw new SafetensorsError(path, `tensor '${name}': ${t.data.byteLength} bytes do not fit ${dtype}[${t.shape}]`);
    return { name, dtype, shape: t.shape, data: t.data };
  });
  const order = [...list].sort((a, b) => elementBytes(b.dtype) - elementBytes(a.dtype));
  let offset = 0;
  const header: Record<string, unknown> = {};
  const meta: Record<string, string> = { ...metadata };
  delete meta[DATA_SHA256_KEY];
  if (options.sha256 !== false) {
    const h = createHash("sha256");
    for (const t of order) h.update(new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength));
    meta[DATA_SHA256_KEY] = h.digest("hex");
  }
  if (Object.keys(meta).length) header.__metadata__ = meta;
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
  // temporary file + fsync + rename + folder fsync (io/atomic-file.ts): a crash never leaves a half-written file
  writeFileAtomicWith(path, (fd) => {
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
  });
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

