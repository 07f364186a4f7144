/**
 * A tiny pickle opcode builder for tests (hand-built, hostile pickles without Python), a walker
 * that finds opcode boundaries, and a minimal zip writer (and a reader over src/io/zip.ts) for
 * building `.pt` archives that lie. Used by test/io/pickle-attacks.test.ts and the torch fuzz
 * targets (test/fuzz/targets/pt-*.ts, pickle.ts).
 */
import { crc32, deflateRawSync } from "node:zlib";
import { readZipDirectory, readZipEnd, zipEntryDataOffset, type ZipSource } from "../../src/io/zip.js";

/** Opcode bytes (Python's pickle.py names). */
export const OP = {
  MARK: 0x28, STOP: 0x2e, POP: 0x30, POP_MARK: 0x31, DUP: 0x32, FLOAT: 0x46, INT: 0x49, BININT: 0x4a, BININT1: 0x4b,
  LONG: 0x4c, BININT2: 0x4d, NONE: 0x4e, PERSID: 0x50, BINPERSID: 0x51, REDUCE: 0x52, STRING: 0x53, BINSTRING: 0x54,
  SHORT_BINSTRING: 0x55, UNICODE: 0x56, BINUNICODE: 0x58, APPEND: 0x61, BUILD: 0x62, GLOBAL: 0x63, DICT: 0x64,
  EMPTY_DICT: 0x7d, APPENDS: 0x65, GET: 0x67, BINGET: 0x68, INST: 0x69, LONG_BINGET: 0x6a, LIST: 0x6c, EMPTY_LIST: 0x5d,
  OBJ: 0x6f, PUT: 0x70, BINPUT: 0x71, LONG_BINPUT: 0x72, SETITEM: 0x73, TUPLE: 0x74, EMPTY_TUPLE: 0x29, SETITEMS: 0x75,
  BINFLOAT: 0x47, PROTO: 0x80, NEWOBJ: 0x81, EXT1: 0x82, EXT2: 0x83, EXT4: 0x84, TUPLE1: 0x85, TUPLE2: 0x86, TUPLE3: 0x87,
  NEWTRUE: 0x88, NEWFALSE: 0x89, LONG1: 0x8a, LONG4: 0x8b, BINBYTES: 0x42, SHORT_BINBYTES: 0x43,
  SHORT_BINUNICODE: 0x8c, BINUNICODE8: 0x8d, BINBYTES8: 0x8e, EMPTY_SET: 0x8f, ADDITEMS: 0x90, FROZENSET: 0x91,
  NEWOBJ_EX: 0x92, STACK_GLOBAL: 0x93, MEMOIZE: 0x94, FRAME: 0x95, BYTEARRAY8: 0x96, NEXT_BUFFER: 0x97, READONLY_BUFFER: 0x98,
} as const;

const u32le = (n: number) => {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(n >>> 0);
  return [...b];
};
const u64le = (n: bigint) => {
  const b = Buffer.alloc(8);
  b.writeBigUInt64LE(BigInt.asUintN(64, n));
  return [...b];
};

/** Fluent pickle builder: each method appends opcodes; `bytes()` returns the stream (no STOP added). */
export class PickleBuilder {
  private readonly out: number[] = [];
  op(...codes: number[]): this {
    this.out.push(...codes);
    return this;
  }
  raw(b: Uint8Array | number[]): this {
    for (const x of b) this.out.push(x);
    return this;
  }
  proto(v = 2): this {
    return this.op(OP.PROTO, v);
  }
  /** A str: SHORT_BINUNICODE or BINUNICODE. */
  str(s: string): this {
    const b = Buffer.from(s, "utf8");
    if (b.length < 256) return this.op(OP.SHORT_BINUNICODE, b.length).raw(b);
    return this.op(OP.BINUNICODE, ...u32le(b.length)).raw(b);
  }
  /** An int: BININT1 / BININT / LONG1. */
  int(n: number | bigint): this {
    const v = BigInt(n);
    if (v >= 0n && v < 256n) return this.op(OP.BININT1, Number(v));
    if (v >= -(2n ** 31n) && v < 2n ** 31n) return this.op(OP.BININT, ...u32le(Number(v)));
    const bytes: number[] = [];
    let x = v;
    do {
      bytes.push(Number(x & 0xffn));
      x >>= 8n;
    } while (!((x === 0n && (bytes[bytes.length - 1]! & 0x80) === 0) || (x === -1n && (bytes[bytes.length - 1]! & 0x80) !== 0)));
    return this.op(OP.LONG1, bytes.length, ...bytes);
  }
  none(): this {
    return this.op(OP.NONE);
  }
  bool(b: boolean): this {
    return this.op(b ? OP.NEWTRUE : OP.NEWFALSE);
  }
  /** GLOBAL 'module\nname\n' (protocol 0 form). */
  global(module: string, name: string): this {
    return this.op(OP.GLOBAL).raw(Buffer.from(`${module}\n${name}\n`, "utf8"));
  }
  /** str module, str name, STACK_GLOBAL (protocol 4 form). */
  stackGlobal(module: string, name: string): this {
    return this.str(module).str(name).op(OP.STACK_GLOBAL);
  }
  mark(): this {
    return this.op(OP.MARK);
  }
  /** Items built by `items` between MARK and TUPLE. */
  tuple(items: (b: this) => void): this {
    this.mark();
    items(this);
    return this.op(OP.TUPLE);
  }
  emptyDict(): this {
    return this.op(OP.EMPTY_DICT);
  }
  put(i: number): this {
    return i < 256 ? this.op(OP.BINPUT, i) : this.op(OP.LONG_BINPUT, ...u32le(i));
  }
  get(i: number): this {
    return i < 256 ? this.op(OP.BINGET, i) : this.op(OP.LONG_BINGET, ...u32le(i));
  }
  stop(): this {
    return this.op(OP.STOP);
  }
  bytes(): Uint8Array {
    return Uint8Array.from(this.out);
  }
}

export const pickle = () => new PickleBuilder();
export { u32le, u64le };

/** How each opcode's argument is laid out (for the boundary walker). */
type Arg = "none" | 1 | 2 | 4 | 8 | "u8len" | "u32len" | "u64len" | "line" | "2lines";
const ARGS: Record<number, Arg> = {};
for (const c of [OP.PROTO, OP.BININT1, OP.BINPUT, OP.BINGET, OP.EXT1]) ARGS[c] = 1;
for (const c of [OP.BININT2, OP.EXT2]) ARGS[c] = 2;
for (const c of [OP.BININT, OP.LONG_BINPUT, OP.LONG_BINGET, OP.EXT4]) ARGS[c] = 4;
for (const c of [OP.BINFLOAT, OP.FRAME]) ARGS[c] = 8;
for (const c of [OP.LONG1, OP.SHORT_BINUNICODE, OP.SHORT_BINSTRING, OP.SHORT_BINBYTES]) ARGS[c] = "u8len";
for (const c of [OP.BINUNICODE, OP.BINBYTES, OP.BINSTRING, OP.LONG4]) ARGS[c] = "u32len";
for (const c of [OP.BINUNICODE8, OP.BINBYTES8, OP.BYTEARRAY8]) ARGS[c] = "u64len";
for (const c of [OP.INT, OP.LONG, OP.FLOAT, OP.STRING, OP.UNICODE, OP.PUT, OP.GET, OP.PERSID]) ARGS[c] = "line";
for (const c of [OP.GLOBAL, OP.INST]) ARGS[c] = "2lines";

/**
 * Byte offsets (relative to `start`) of every opcode of the pickle starting at `start`, plus the
 * offset just past its STOP (the last entry). Stops early, without throwing, on data it cannot walk.
 */
export function pickleOpcodeOffsets(b: Uint8Array, start = 0): number[] {
  const out: number[] = [];
  let p = start;
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const lineEnd = (q: number) => {
    const i = b.indexOf(10, q);
    return i < 0 ? b.length : i + 1;
  };
  while (p < b.length) {
    out.push(p - start);
    const op = b[p++]!;
    if (op === OP.STOP) {
      out.push(p - start);
      break;
    }
    const a = ARGS[op] ?? "none";
    if (typeof a === "number") p += a;
    else if (a === "u8len") p += 1 + (b[p] ?? 0);
    else if (a === "u32len") p += p + 4 <= b.length ? 4 + dv.getUint32(p, true) : 4;
    else if (a === "u64len") p += p + 8 <= b.length ? 8 + Number(dv.getBigUint64(p, true)) : 8;
    else if (a === "line") p = lineEnd(p);
    else if (a === "2lines") p = lineEnd(lineEnd(p));
  }
  return out;
}

// ---------------------------------------------------------------------------
// Zip

export interface ZipRecord {
  name: string;
  data: Uint8Array;
  /** Store deflated (method 8). */
  deflate?: boolean;
  /** Write this CRC-32 instead of the right one. */
  crc?: number;
}

export interface ZipLayout {
  /** Per record: local header offset, data start, data end, central directory entry offset. */
  records: { name: string; local: number; start: number; end: number; central: number }[];
  cdStart: number;
  eocd: number;
}

/** Write a plain (non-zip64) archive with the given records, in order. */
export function buildZip(records: ZipRecord[]): { bytes: Uint8Array; layout: ZipLayout } {
  const chunks: Buffer[] = [];
  let pos = 0;
  const push = (b: Buffer) => {
    chunks.push(b);
    pos += b.length;
  };
  const written: { name: Buffer; crc: number; size: number; csize: number; method: number; local: number; start: number }[] = [];
  for (const r of records) {
    const name = Buffer.from(r.name, "utf8");
    const data = r.deflate ? deflateRawSync(r.data) : Buffer.from(r.data);
    const crc = r.crc ?? crc32(r.data);
    const h = Buffer.alloc(30 + name.length);
    h.writeUInt32LE(0x04034b50, 0);
    h.writeUInt16LE(20, 4);
    h.writeUInt16LE(r.deflate ? 8 : 0, 8);
    h.writeUInt32LE(crc >>> 0, 14);
    h.writeUInt32LE(data.length, 18);
    h.writeUInt32LE(r.data.length, 22);
    h.writeUInt16LE(name.length, 26);
    name.copy(h, 30);
    const local = pos;
    push(h);
    written.push({ name, crc: crc >>> 0, size: r.data.length, csize: data.length, method: r.deflate ? 8 : 0, local, start: pos });
    push(data);
  }
  const cdStart = pos;
  const layout: ZipLayout = { records: [], cdStart, eocd: 0 };
  for (const w of written) {
    const c = Buffer.alloc(46 + w.name.length);
    c.writeUInt32LE(0x02014b50, 0);
    c.writeUInt16LE(20, 4);
    c.writeUInt16LE(20, 6);
    c.writeUInt16LE(w.method, 10);
    c.writeUInt32LE(w.crc, 16);
    c.writeUInt32LE(w.csize, 20);
    c.writeUInt32LE(w.size, 24);
    c.writeUInt16LE(w.name.length, 28);
    c.writeUInt32LE(w.local, 42);
    w.name.copy(c, 46);
    layout.records.push({ name: w.name.toString("utf8"), local: w.local, start: w.start, end: w.start + w.csize, central: pos });
    push(c);
  }
  const e = Buffer.alloc(22);
  e.writeUInt32LE(0x06054b50, 0);
  e.writeUInt16LE(written.length, 8);
  e.writeUInt16LE(written.length, 10);
  e.writeUInt32LE(pos - cdStart, 12);
  e.writeUInt32LE(cdStart, 16);
  layout.eocd = pos;
  push(e);
  return { bytes: new Uint8Array(Buffer.concat(chunks)), layout };
}

/** A zip64 archive of stored members: every central size/offset 0xffffffff, zip64 EOCD record and locator. */
export function buildZip64(records: { name: string; data: Uint8Array }[]): Uint8Array {
  const parts: Buffer[] = [];
  const central: Buffer[] = [];
  let pos = 0;
  for (const r of records) {
    const name = Buffer.from(r.name);
    const crc = crc32(r.data);
    const h = Buffer.alloc(30 + name.length);
    h.writeUInt32LE(0x04034b50, 0);
    h.writeUInt16LE(45, 4);
    h.writeUInt32LE(crc, 14);
    h.writeUInt32LE(r.data.length, 18);
    h.writeUInt32LE(r.data.length, 22);
    h.writeUInt16LE(name.length, 26);
    name.copy(h, 30);
    const c = Buffer.alloc(46 + name.length + 28);
    c.writeUInt32LE(0x02014b50, 0);
    c.writeUInt16LE(45, 4);
    c.writeUInt16LE(45, 6);
    c.writeUInt32LE(crc, 16);
    c.writeUInt32LE(0xffffffff, 20);
    c.writeUInt32LE(0xffffffff, 24);
    c.writeUInt16LE(name.length, 28);
    c.writeUInt16LE(28, 30);
    c.writeUInt32LE(0xffffffff, 42);
    name.copy(c, 46);
    const x = 46 + name.length;
    c.writeUInt16LE(1, x);
    c.writeUInt16LE(24, x + 2);
    c.writeBigUInt64LE(BigInt(r.data.length), x + 4); // size
    c.writeBigUInt64LE(BigInt(r.data.length), x + 12); // compressed size
    c.writeBigUInt64LE(BigInt(pos), x + 20); // local header offset
    parts.push(h, Buffer.from(r.data));
    central.push(c);
    pos += h.length + r.data.length;
  }
  const cdStart = pos;
  const cdSize = central.reduce((s, c) => s + c.length, 0);
  const rec = Buffer.alloc(56);
  rec.writeUInt32LE(0x06064b50, 0);
  rec.writeBigUInt64LE(44n, 4);
  rec.writeBigUInt64LE(BigInt(records.length), 24);
  rec.writeBigUInt64LE(BigInt(records.length), 32);
  rec.writeBigUInt64LE(BigInt(cdSize), 40);
  rec.writeBigUInt64LE(BigInt(cdStart), 48);
  const loc = Buffer.alloc(20);
  loc.writeUInt32LE(0x07064b50, 0);
  loc.writeBigUInt64LE(BigInt(cdStart + cdSize), 8);
  loc.writeUInt32LE(1, 16);
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(0xffff, 8);
  end.writeUInt16LE(0xffff, 10);
  end.writeUInt32LE(0xffffffff, 12);
  end.writeUInt32LE(0xffffffff, 16);
  return new Uint8Array(Buffer.concat([...parts, ...central, rec, loc, end]));
}

/** An archive in memory, read through the project's zip reader (src/io/zip.ts). */
class MemoryZip implements ZipSource {
  readonly path = "parseZip";
  readonly size: number;
  constructor(private readonly bytes: Uint8Array) {
    this.size = bytes.length;
  }
  read(offset: number, n: number, what: string): Uint8Array {
    if (offset < 0 || offset + n > this.size) throw this.error(`${what} lies beyond the end (bytes ${offset}–${offset + n} of ${this.size})`);
    return this.bytes.subarray(offset, offset + n);
  }
  error(message: string): Error {
    return new Error(`parseZip: ${message}`);
  }
}

/**
 * Read a well-formed archive's records (stored or deflated, zip64 too; `data` as stored, i.e.
 * still deflated for method 8) and its layout, with the project's own zip reader. For seeds
 * only: throws on anything the reader refuses (unsafe or duplicate names, offsets past the end).
 */
export function parseZip(bytes: Uint8Array): { records: (ZipRecord & { method: number })[]; layout: ZipLayout } {
  const src = new MemoryZip(bytes);
  const end = readZipEnd(src);
  const records: (ZipRecord & { method: number })[] = [];
  const layout: ZipLayout = { records: [], cdStart: end.cdOffset, eocd: end.eocdOffset };
  for (const e of readZipDirectory(src).values()) {
    const start = zipEntryDataOffset(src, e);
    records.push({ name: e.name, data: bytes.slice(start, start + e.compressedSize), method: e.method });
    layout.records.push({ name: e.name, local: e.localOffset, start, end: start + e.compressedSize, central: e.centralOffset });
  }
  return { records, layout };
}
