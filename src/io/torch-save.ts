/**
 * Writing PyTorch checkpoints (`torch.save`'s zip format, or on request the
 * pre-1.6 legacy format) without Python.
 *
 * The archive holds `archive/data.pkl` (the object, pickled with protocol 2 by
 * ./pickle-writer.ts; each tensor is `torch._utils._rebuild_tensor_v2` over a
 * persistent id `('storage', torch.FloatStorage, key, 'cpu', numel)`),
 * `archive/data/<key>` (each storage's raw little-endian bytes),
 * `archive/version` ("3") and `archive/byteorder` ("little"). Entries are
 * STORED with correct CRC-32s, and every record's data starts on a 64-byte
 * boundary as PyTorch's own writer does (padding in a local "FB" extra
 * field), so torch can memory-map it. Zip64 records are written when a size
 * or offset passes 4 GiB (a DiT-XL/2 training checkpoint is ~11 GB).
 *
 * The legacy format (`_use_new_zipfile_serialization=False`) is five pickles
 * back to back, then each storage's int64 element count and raw bytes; see
 * `writeLegacy`.
 *
 * The file is written to a temporary file beside the target, fsynced and
 * renamed: a crash never leaves a half-written checkpoint.
 */
import { writeSync } from "node:fs";
import { writeFileAtomicWith } from "./atomic-file.js";
import { endianness } from "node:os";

import { crc32 } from "node:zlib";
import { pickleDumps, PyGlobalRef, PyOrderedDict, PyPersistentId, PyReduce, PyTuple, PickleWriteError, type PyKey, type PyValue } from "./pickle-writer.js";
import { Tensor } from "../runtime/tensor.js";

/** Element types torch.save can be given here, with their storage classes. */
export type TorchSaveDType = "float32" | "float64" | "float16" | "int64" | "int32" | "int16" | "int8" | "uint8" | "bool";

const STORAGE: Record<TorchSaveDType, string> = {
  float32: "FloatStorage",
  float64: "DoubleStorage",
  float16: "HalfStorage",
  int64: "LongStorage",
  int32: "IntStorage",
  int16: "ShortStorage",
  int8: "CharStorage",
  uint8: "ByteStorage",
  bool: "BoolStorage",
};

type TorchArray = Float32Array | Float64Array | Uint16Array | BigInt64Array | Int32Array | Int16Array | Int8Array | Uint8Array;

const ARRAY_OF: Record<TorchSaveDType, new (n: number) => TorchArray> = {
  float32: Float32Array,
  float64: Float64Array,
  float16: Uint16Array,
  int64: BigInt64Array,
  int32: Int32Array,
  int16: Int16Array,
  int8: Int8Array,
  uint8: Uint8Array,
  bool: Uint8Array,
};

/** A tensor to save: a C-order typed array (float16 as its raw Uint16 bits), its shape and torch dtype. */
export class TorchTensor {
  constructor(
    readonly dtype: TorchSaveDType,
    readonly shape: readonly number[],
    readonly data: TorchArray,
    /** Saved as `requires_grad` (train.py's `state_dict()` tensors have False). */
    readonly requiresGrad = false,
  ) {
    const n = shape.reduce((a, b) => a * b, 1);
    if (!shape.every((d) => Number.isInteger(d) && d >= 0)) throw new RangeError(`invalid tensor shape [${shape}]`);
    if (!(data instanceof ARRAY_OF[dtype])) throw new TypeError(`a ${dtype} tensor needs a ${ARRAY_OF[dtype].name}, got ${data.constructor.name}`);
    if (data.length !== n) throw new RangeError(`tensor data has ${data.length} elements but shape [${shape}] needs ${n}`);
  }

  /** A float32 scalar (shape []), e.g. torch 1.13 AdamW's `step`. */
  static scalar(x: number): TorchTensor {
    return new TorchTensor("float32", [], Float32Array.of(x));
  }
}

/** Values saveTorchCheckpoint accepts: pickle values (see pickle-writer.ts) with TorchTensor or runtime Tensor leaves. */
export type TorchValue =
  | PyValue
  | TorchTensor
  | Tensor
  | readonly TorchValue[]
  | ReadonlyMap<PyKey, TorchValue>
  | { readonly [key: string]: TorchValue }
  | TorchOrderedDict
  | TorchTuple;

/** An OrderedDict whose values may be tensors (a state dict). */
export class TorchOrderedDict {
  constructor(readonly entries: ReadonlyMap<string, TorchValue>) {}
}

/** A tuple whose items may be tensors. */
export class TorchTuple {
  constructor(readonly items: readonly TorchValue[]) {}
}

/** A runtime Tensor as a TorchTensor (float32, float64, float16, int32, bool). */
export function fromRuntimeTensor(t: Tensor): TorchTensor {
  const dt = t.dtype;
  if (dt === "uint32") throw new TypeError("uint32 tensors have no torch.save storage type (torch 1.13 has no uint32)");
  return new TorchTensor(dt as TorchSaveDType, t.shape, t.data as TorchArray);
}

function contiguousStride(shape: readonly number[]): number[] {
  const stride = new Array<number>(shape.length);
  let s = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    stride[i] = s;
    s *= shape[i]!;
  }
  return stride;
}

/**
 * The pickled object (tensors as persistent-id REDUCEs) and the storages to
 * write, in key order. The legacy format's persistent ids carry a sixth item,
 * the view metadata (None: no storage here is a view of another).
 */
function toPickle(value: TorchValue, legacy = false): { pickle: Uint8Array; storages: { key: string; bytes: Uint8Array; numel: number }[] } {
  const storages: { key: string; bytes: Uint8Array; numel: number }[] = [];
  const keyOf = new Map<string, string>();
  const ids = new Map<TorchArray, number>();
  const rebuild = new PyGlobalRef("torch._utils", "_rebuild_tensor_v2");
  const tensor = (t: TorchTensor): PyValue => {
    if (!ids.has(t.data)) ids.set(t.data, ids.size);
    const id = `${ids.get(t.data)}:${t.dtype}`; // a Uint8Array seen as uint8 and as bool gets two storages
    let key = keyOf.get(id);
    if (key === undefined) {
      key = String(storages.length);
      keyOf.set(id, key);
      storages.push({ key, bytes: new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength), numel: t.data.length });
    }
    const pid: PyValue[] = ["storage", new PyGlobalRef("torch", STORAGE[t.dtype]), key, "cpu", t.data.length];
    if (legacy) pid.push(null); // view_metadata
    const storage = new PyPersistentId(new PyTuple(pid));
    // (storage, storage_offset, size, stride, requires_grad, backward_hooks)
    const args = new PyTuple([storage, 0, new PyTuple([...t.shape]), new PyTuple(contiguousStride(t.shape)), t.requiresGrad, new PyOrderedDict(new Map())]);
    return new PyReduce(rebuild, args);
  };
  const convert = (v: TorchValue): PyValue => {
    if (v instanceof TorchTensor) return tensor(v);
    if (v instanceof Tensor) return tensor(fromRuntimeTensor(v));
    if (v instanceof TorchOrderedDict) return new PyOrderedDict(new Map([...v.entries].map(([k, x]) => [k, convert(x)])));
    if (v instanceof TorchTuple) return new PyTuple(v.items.map(convert));
    if (Array.isArray(v)) return (v as readonly TorchValue[]).map(convert);
    if (v instanceof Map) return new Map([...(v as ReadonlyMap<PyKey, TorchValue>)].map(([k, x]) => [k, convert(x)]));
    if (typeof v === "object" && v !== null && Object.getPrototypeOf(v) === Object.prototype) {
      return Object.fromEntries(Object.entries(v as Record<string, TorchValue>).map(([k, x]) => [k, convert(x)]));
    }
    return v as PyValue;
  };
  return { pickle: pickleDumps(convert(value)), storages };
}

// ---------------------------------------------------------------------------
// Zip writing

/** Data offsets of every record are multiples of this (PyTorch's kFieldAlignment). */
const ALIGN = 64;
const U32_MAX = 0xffffffff;
/** A fixed DOS timestamp (1980-01-01 00:00), so the same object gives the same bytes. */
const DOS_TIME = 0;
const DOS_DATE = (0 << 9) | (1 << 5) | 1;

interface Written {
  name: Buffer;
  crc: number;
  size: number;
  offset: number;
}

export interface TorchSaveOptions {
  /**
   * "zip" (default): PyTorch ≥ 1.6's format. "legacy": the pre-1.6 format
   * (`torch.save(..., _use_new_zipfile_serialization=False)`), as older files
   * such as pytorch-fid's Inception weights are stored.
   */
  format?: "zip" | "legacy";
  /** Name of the archive's top folder (torch uses the file's stem; any name loads). Default "archive". */
  archiveName?: string;
  /** Sizes and offsets at or above this get zip64 records (testing only; default 2³²−1, as the zip format requires). */
  zip64Threshold?: number;
}

class ZipWriter {
  private pos = 0;
  private readonly entries: Written[] = [];
  private readonly zip64At: number;
  constructor(
    private readonly fd: number,
    zip64Threshold = U32_MAX,
  ) {
    this.zip64At = Math.min(zip64Threshold, U32_MAX);
  }

  private write(b: Uint8Array): void {
    const CHUNK = 1 << 30;
    for (let off = 0; off < b.byteLength; ) {
      const n = writeSync(this.fd, b, off, Math.min(CHUNK, b.byteLength - off), this.pos);
      off += n;
      this.pos += n;
    }
  }

  /** One STORED record, its data aligned to ALIGN bytes. */
  add(name: string, data: Uint8Array): void {
    const nameBytes = Buffer.from(name, "utf8");
    const size = data.byteLength;
    const big = size >= this.zip64At;
    const zip64Len = big ? 20 : 0; // id, len, size, compressed size
    const offset = this.pos;
    const padStart = offset + 30 + nameBytes.length + zip64Len + 4;
    const pad = (ALIGN - (padStart % ALIGN)) % ALIGN;
    const h = Buffer.alloc(30 + nameBytes.length + zip64Len + 4 + pad);
    let crc = 0;
    const CHUNK = 1 << 30;
    for (let off = 0; off < size; off += CHUNK) crc = crc32(data.subarray(off, Math.min(off + CHUNK, size)), crc);
    h.writeUInt32LE(0x04034b50, 0);
    h.writeUInt16LE(big ? 45 : 20, 4); // version needed
    h.writeUInt16LE(0, 6); // flags
    h.writeUInt16LE(0, 8); // STORED
    h.writeUInt16LE(DOS_TIME, 10);
    h.writeUInt16LE(DOS_DATE, 12);
    h.writeUInt32LE(crc >>> 0, 14);
    h.writeUInt32LE(big ? U32_MAX : size, 18);
    h.writeUInt32LE(big ? U32_MAX : size, 22);
    h.writeUInt16LE(nameBytes.length, 26);
    h.writeUInt16LE(zip64Len + 4 + pad, 28);
    nameBytes.copy(h, 30);
    let p = 30 + nameBytes.length;
    if (big) {
      h.writeUInt16LE(0x0001, p);
      h.writeUInt16LE(16, p + 2);
      h.writeBigUInt64LE(BigInt(size), p + 4);
      h.writeBigUInt64LE(BigInt(size), p + 12);
      p += 20;
    }
    h.writeUInt16LE(0x4246, p); // "FB": PyTorch's alignment padding
    h.writeUInt16LE(pad, p + 2);
    h.fill(0x5a, p + 4); // 'Z', as PyTorch pads
    this.write(h);
    this.write(data);
    this.entries.push({ name: nameBytes, crc: crc >>> 0, size, offset });
  }

  /** The central directory and end records. */
  finish(): void {
    const cdStart = this.pos;
    for (const e of this.entries) {
      const bigSize = e.size >= this.zip64At;
      const bigOff = e.offset >= this.zip64At;
      const extra = (bigSize ? 16 : 0) + (bigOff ? 8 : 0);
      const extraLen = extra ? 4 + extra : 0;
      const c = Buffer.alloc(46 + e.name.length + extraLen);
      c.writeUInt32LE(0x02014b50, 0);
      c.writeUInt16LE(extra ? 45 : 20, 4); // version made by
      c.writeUInt16LE(extra ? 45 : 20, 6); // version needed
      c.writeUInt16LE(0, 8);
      c.writeUInt16LE(0, 10);
      c.writeUInt16LE(DOS_TIME, 12);
      c.writeUInt16LE(DOS_DATE, 14);
      c.writeUInt32LE(e.crc, 16);
      c.writeUInt32LE(bigSize ? U32_MAX : e.size, 20);
      c.writeUInt32LE(bigSize ? U32_MAX : e.size, 24);
      c.writeUInt16LE(e.name.length, 28);
      c.writeUInt16LE(extraLen, 30);
      // comment length, disk, internal and external attributes: 0
      c.writeUInt32LE(bigOff ? U32_MAX : e.offset, 42);
      e.name.copy(c, 46);
      let p = 46 + e.name.length;
      if (extra) {
        c.writeUInt16LE(0x0001, p);
        c.writeUInt16LE(extra, p + 2);
        p += 4;
        if (bigSize) {
          c.writeBigUInt64LE(BigInt(e.size), p);
          c.writeBigUInt64LE(BigInt(e.size), p + 8);
          p += 16;
        }
        if (bigOff) c.writeBigUInt64LE(BigInt(e.offset), p);
      }
      this.write(c);
    }
    const cdSize = this.pos - cdStart;
    const n = this.entries.length;
    const zip64 = n >= 0xffff || cdStart >= this.zip64At || cdSize >= this.zip64At || this.entries.some((e) => e.size >= this.zip64At || e.offset >= this.zip64At);
    if (zip64) {
      const recAt = this.pos;
      const r = Buffer.alloc(56 + 20);
      r.writeUInt32LE(0x06064b50, 0);
      r.writeBigUInt64LE(44n, 4); // size of the rest of the record
      r.writeUInt16LE(45, 12);
      r.writeUInt16LE(45, 14);
      // disk numbers: 0
      r.writeBigUInt64LE(BigInt(n), 24);
      r.writeBigUInt64LE(BigInt(n), 32);
      r.writeBigUInt64LE(BigInt(cdSize), 40);
      r.writeBigUInt64LE(BigInt(cdStart), 48);
      // locator
      r.writeUInt32LE(0x07064b50, 56);
      r.writeUInt32LE(0, 60);
      r.writeBigUInt64LE(BigInt(recAt), 64);
      r.writeUInt32LE(1, 72);
      this.write(r);
    }
    const eocd = Buffer.alloc(22);
    eocd.writeUInt32LE(0x06054b50, 0);
    eocd.writeUInt16LE(zip64 ? 0xffff : n, 8);
    eocd.writeUInt16LE(zip64 ? 0xffff : n, 10);
    eocd.writeUInt32LE(zip64 ? U32_MAX : cdSize, 12);
    eocd.writeUInt32LE(zip64 ? U32_MAX : cdStart, 16);
    this.write(eocd);
  }
}


// ---------------------------------------------------------------------------
// The legacy (pre-zip) format

/** torch/serialization.py's MAGIC_NUMBER and PROTOCOL_VERSION. */
const LEGACY_MAGIC = 0x1950a86a20f9469cfc6cn;
const LEGACY_PROTOCOL_VERSION = 1001;

/**
 * torch/serialization.py `_legacy_save`: five back-to-back pickles — the magic
 * number, the protocol version, sys_info, the object (persistent ids
 * `('storage', torch.XStorage, key, 'cpu', numel, None)`), the sorted storage
 * keys — then per key (in that order) its element count as a little-endian
 * int64 and its raw bytes.
 */
function writeLegacy(fd: number, pickle: Uint8Array, storages: { key: string; bytes: Uint8Array; numel: number }[]): void {
  let pos = 0;
  const write = (b: Uint8Array) => {
    const CHUNK = 1 << 30;
    for (let off = 0; off < b.byteLength; ) {
      const n = writeSync(fd, b, off, Math.min(CHUNK, b.byteLength - off), pos);
      off += n;
      pos += n;
    }
  };
  const sysInfo = new Map<string, PyValue>([
    ["protocol_version", LEGACY_PROTOCOL_VERSION],
    ["little_endian", true],
    ["type_sizes", new Map<string, PyValue>([["short", 2], ["int", 4], ["long", 4]])],
  ]);
  // Python sorts the keys as strings ("10" before "2"), and writes the storages in that order.
  const sorted = [...storages].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  write(pickleDumps(LEGACY_MAGIC));
  write(pickleDumps(LEGACY_PROTOCOL_VERSION));
  write(pickleDumps(sysInfo));
  write(pickle);
  write(pickleDumps(sorted.map((s) => s.key)));
  for (const s of sorted) {
    const head = Buffer.alloc(8);
    head.writeBigInt64LE(BigInt(s.numel));
    write(head);
    write(s.bytes);
  }
}

/**
 * `torch.save(value, path)`: write `value` (dicts, lists, tuples, OrderedDicts,
 * scalars and tensors) in PyTorch's zip format, loadable by `torch.load` (also
 * with `weights_only=True`) and by this project's restricted reader. Tensors
 * sharing one typed array share one storage. Written atomically.
 * `{ format: "legacy" }` writes the pre-1.6 non-zip format instead.
 */
export function saveTorchCheckpoint(path: string, value: TorchValue, opts: TorchSaveOptions = {}): void {
  const archive = opts.archiveName ?? "archive";
  const format = opts.format ?? "zip";
  if (format !== "zip" && format !== "legacy") throw new PickleWriteError(`unknown format '${String(format)}' (expected "zip" or "legacy")`);
  if (!/^[\w.-]+$/.test(archive)) throw new PickleWriteError(`invalid archive name '${archive}' (letters, digits, '.', '_', '-')`);
  if (endianness() !== "LE") throw new PickleWriteError("saveTorchCheckpoint writes typed arrays' bytes as little-endian; this machine is big-endian");
  const { pickle, storages } = toPickle(value, format === "legacy"); // before touching the disk: a bad value leaves nothing behind
  if (format === "legacy") {
    writeFileAtomicWith(path, (fd) => writeLegacy(fd, pickle, storages));
    return;
  }
  writeFileAtomicWith(path, (fd) => {
    const zip = new ZipWriter(fd, opts.zip64Threshold);
    zip.add(`${archive}/data.pkl`, pickle);
    zip.add(`${archive}/byteorder`, Buffer.from("little"));
    for (const s of storages) zip.add(`${archive}/data/${s.key}`, s.bytes);
    zip.add(`${archive}/version`, Buffer.from("3\n"));
    zip.finish();
  });
}

