/**
 * Loading PyTorch checkpoints (`torch.save` files) without executing code.
 *
 * Two container formats:
 *  - zip (PyTorch ≥ 1.6): `<archive>/data.pkl` holds the pickled object, whose
 *    tensors point (through persistent ids) at raw storages stored as
 *    `<archive>/data/<key>`. Entries are stored uncompressed; zip64 is read
 *    for files over 4 GiB.
 *  - legacy (`_use_new_zipfile_serialization=False`): back-to-back pickles —
 *    magic number, protocol version, sys_info, the object, the sorted storage
 *    keys — then for each key an int64 element count and the raw bytes.
 *
 * The pickles go through the restricted unpickler in ./pickle.ts, whose
 * allow-list here is the data-only globals plus the tensor/storage rebuild
 * functions. Tensors come back as lazy references; `materialize` reads each
 * tensor's bytes by file offset (never the whole file into one Buffer, so files
 * over 2 GiB work) and copies non-contiguous views into C order.
 *
 * Integrity: every zip record read (data.pkl, byteorder, each storage) has its
 * CRC-32 checked against the central directory unless `verifyCrc: false`; a
 * mismatch names the record. The legacy format carries no checksum, so a
 * flipped bit in a legacy file's tensor data cannot be detected.
 *
 * Nothing is allocated on a size the file declares before that size is checked
 * against the bytes the file really holds.
 */
import { DitError } from "../errors.js";
import { crc32 } from "node:zlib";
import { defineKey, PyGlobal, SAFE_GLOBALS, unpickle, type GlobalTable } from "./pickle.js";
import { checkZipCrc, FileBytes, readZipDirectory, readZipEntry, zipEntryDataOffset, type ZipEntry } from "./zip.js";
import { ELEMENT_TYPES, type SafetensorsDType, type TorchDType } from "../runtime/dtype.js";
import { makeArray, type StTensor } from "./safetensors.js";

export type { TorchDType };

/** Size and safetensors name of a checkpoint element type (from the one dtype table, runtime/dtype.ts). */
function dtypeRow(dtype: TorchDType): { bytes: number; st: SafetensorsDType } {
  const e = ELEMENT_TYPES[dtype];
  return { bytes: e.bytes, st: e.safetensors! };
}

/** Legacy storage classes (what torch.save pickles as a storage's type) → element type. */
const STORAGE_TYPES: Record<string, TorchDType> = {
  ...Object.fromEntries(Object.entries(ELEMENT_TYPES).flatMap(([k, v]) => (v.torchStorage ? [[v.torchStorage, k as TorchDType]] : []))),
  UntypedStorage: "uint8",
};

const LEGACY_MAGIC = 0x1950a86a20f9469cfc6cn;
const LEGACY_PROTOCOL_VERSION = 1001;

/** Thrown for unreadable, corrupt or truncated checkpoints; names the file and what was expected. */
export class TorchCheckpointError extends DitError {
  constructor(path: string, message: string) {
    super(`${path}: ${message}`);
    this.name = "TorchCheckpointError";
  }
}

/** A storage a tensor views: its element type, key in the file and size in elements. */
export class StorageRef {
  constructor(
    readonly key: string,
    readonly dtype: TorchDType,
    readonly numel: number,
    readonly location: string,
  ) {}
}

/** A tensor as pickled: a strided view of a storage, not yet read from the file. */
export class TensorRef {
  constructor(
    readonly storage: StorageRef,
    readonly offset: number,
    readonly shape: number[],
    readonly stride: number[],
    public requiresGrad: boolean,
  ) {}
  get dtype(): TorchDType {
    return this.storage.dtype;
  }
  get numel(): number {
    return this.shape.reduce((a, b) => a * b, 1);
  }
}

/** A file read by offset whose refusals are TorchCheckpointErrors. */
function openFile(path: string): FileBytes {
  return new FileBytes(path, (p, message) => new TorchCheckpointError(p, message));
}

/** A CRC-32 mismatch says how to load the file anyway. */
const CRC_HINT = "verifyCrc: false loads it anyway";

// ---------------------------------------------------------------------------
// Allow-listed torch globals

/** A short description of an unpickled value for messages (never a huge number's digits or a deep structure's text). */
export function describeValue(v: unknown): string {
  if (typeof v === "bigint") return v.toString(16).length > 16 ? `an integer of ${v.toString(16).length * 4} bits` : String(v);
  if (typeof v === "string") return `'${v.length > 40 ? v.slice(0, 40) + "…" : v}'`;
  if (typeof v === "number" || typeof v === "boolean") return String(v);
  if (v === null) return "None";
  return Array.isArray(v) ? `a tuple of ${v.length}` : v instanceof Map ? "a dict" : typeof v;
}

function asInt(v: unknown, what: string): number {
  if (typeof v === "bigint") throw new Error(`${what} ${describeValue(v)} is too large`);
  if (typeof v !== "number" || !Number.isInteger(v)) throw new Error(`${what} is not an integer`);
  return v;
}

/** More dimensions than any real tensor has (torch's own kernels stop at 25–64). */
const MAX_DIMS = 64;

function intList(v: unknown, what: string): number[] {
  if (!Array.isArray(v)) throw new Error(`${what} is not a tuple`);
  if (v.length > MAX_DIMS) throw new Error(`${what} has ${v.length} dimensions (at most ${MAX_DIMS} supported)`);
  return v.map((x, i) => {
    const n = asInt(x, `${what}[${i}]`);
    if (n < 0) throw new Error(`${what}[${i}] is negative (${n})`);
    return n;
  });
}

function rebuildTensor(args: unknown[], hasGrad: boolean): TensorRef {
  const [storage, offset, size, stride, requiresGrad] = args;
  if (!(storage instanceof StorageRef)) throw new Error("first argument is not a storage");
  const shape = intList(size, "size");
  const strides = intList(stride, "stride");
  if (shape.length !== strides.length) throw new Error(`size [${shape}] and stride [${strides}] differ in length`);
  const off = asInt(offset, "storage offset");
  if (off < 0) throw new Error(`storage offset is negative (${off})`);
  return new TensorRef(storage, off, shape, strides, hasGrad ? requiresGrad === true : false);
}

function rebuildParameter(args: unknown[]): TensorRef {
  const [data, requiresGrad] = args;
  if (!(data instanceof TensorRef)) throw new Error("data is not a tensor");
  data.requiresGrad = requiresGrad === true;
  return data;
}

const MARKER = {};

/** The allow-list for torch.save files: data-only containers plus tensor/storage rebuilds. */
export const TORCH_GLOBALS: GlobalTable = {
  ...SAFE_GLOBALS,
  ...Object.fromEntries(Object.entries(STORAGE_TYPES).map(([name, dtype]) => [`torch.${name}`, { tag: dtype }])),
  "torch._utils._rebuild_tensor": { call: (a) => rebuildTensor(a, false) },
  "torch._utils._rebuild_tensor_v2": { call: (a) => rebuildTensor(a, true) },
  "torch._utils._rebuild_parameter": { call: rebuildParameter },
  "torch._utils._rebuild_parameter_with_state": { call: rebuildParameter },
  "torch._tensor._rebuild_from_type_v2": {
    // (func, new_type, args, state): only plain tensors and parameters, rebuilt by an allow-listed func.
    call: ([func, newType, args]) => {
      if (!(newType instanceof PyGlobal) || newType.impl.tag !== MARKER) throw new Error("tensor subclasses are not supported");
      if (!(func instanceof PyGlobal) || !func.impl.call || !func.fullName.startsWith("torch._utils._rebuild_")) throw new Error("rebuild function is not a torch._utils tensor rebuild");
      if (!Array.isArray(args)) throw new Error("arguments are not a tuple");
      return func.impl.call(args);
    },
  },
  "torch.Tensor": { tag: MARKER },
  "torch.nn.parameter.Parameter": { tag: MARKER },
  "torch.Size": { call: ([dims]) => intList(dims ?? [], "torch.Size") },
};

// ---------------------------------------------------------------------------
// Opening a checkpoint

/** A checkpoint whose object tree is read (tensors as lazy TensorRefs); tensor data is read on `materialize`. */
export interface TorchCheckpoint {
  readonly path: string;
  readonly format: "zip" | "legacy";
  /** The unpickled object; tensors are TensorRef leaves. */
  readonly root: unknown;
  /** Replace every TensorRef under `value` by an StTensor read from the file (in place for containers); returns the result. */
  materialize(value: unknown): unknown;
  /** Read one tensor. */
  readTensor(t: TensorRef): StTensor;
  close(): void;
}

/** Options of openTorchCheckpoint / loadTorchCheckpoint / loadTorchStateDict. */
export interface TorchLoadOptions {
  /**
   * Check the zip CRC-32 of every record read (default true): a flipped bit in a `.pt` zip is then
   * refused naming the record instead of loading changed weights. `false` skips it for speed.
   * Legacy (non-zip) files have no checksum, so nothing can be verified there.
   */
  verifyCrc?: boolean;
}

interface LocatedStorage {
  /** Absolute file offset of the storage's first byte, and its size in bytes. */
  offset: number;
  bytes: number;
  /** The zip record holding it, when its CRC-32 is to be verified. */
  record?: ZipEntry;
}

interface StorageLocator {
  locate(s: StorageRef): LocatedStorage;
  byteSwap: boolean;
}

/**
 * The persistent-id loader a zip checkpoint's data.pkl is read with (for tools and tests that
 * unpickle a data.pkl on its own): `('storage', torch.XStorage, key, location, numel)` → StorageRef.
 */
export function torchPersistentLoad(): (pid: unknown) => StorageRef {
  return makePersistentLoad(false).load;
}

function makePersistentLoad(legacy: boolean) {
  const storages = new Map<string, StorageRef>();
  const load = (pid: unknown): StorageRef => {
    if (!Array.isArray(pid) || pid[0] !== "storage") {
      throw new Error(`unsupported persistent id ${Array.isArray(pid) ? describeValue(pid[0]) : describeValue(pid)} (expected a ('storage', …) tuple)`);
    }
    const [, type, key, location, numel, view] = pid as unknown[];
    if (!(type instanceof PyGlobal) || typeof type.impl.tag !== "string") throw new Error("storage type is not a torch storage class");
    if (typeof key !== "string") throw new Error("storage key is not a string");
    if (legacy && view !== undefined && view !== null) throw new Error(`storage '${key}' is a view (pre-1.0 file); not supported`);
    const n = asInt(numel, `storage '${key}' size`);
    const dtype = type.impl.tag as TorchDType;
    const seen = storages.get(key);
    if (seen) {
      if (seen.dtype !== dtype) throw new Error(`storage '${key}' is viewed as both ${seen.dtype} and ${dtype}`);
      return seen;
    }
    const s = new StorageRef(key, dtype, n, typeof location === "string" ? location : "cpu");
    storages.set(key, s);
    return s;
  };
  return { load, storages };
}

/** Copy a strided view (`span` holds storage elements [0, max index]) into C order. */
function gather(span: Uint8Array, es: number, shape: number[], stride: number[], numel: number): Uint8Array {
  const out = new Uint8Array(numel * es);
  // Copy in units of 4 bytes where possible (2 words for 8-byte elements).
  const unit = es >= 4 ? 4 : es;
  const w = es / unit;
  const mk = (b: Uint8Array) =>
    unit === 4 ? new Uint32Array(b.buffer, b.byteOffset, b.byteLength / 4) : unit === 2 ? new Uint16Array(b.buffer, b.byteOffset, b.byteLength / 2) : b;
  const src = mk(span);
  const dst = mk(out);
  const nd = shape.length;
  const idx = new Array<number>(nd).fill(0);
  let s = 0;
  for (let i = 0; i < numel; i++) {
    const so = s * w;
    const d = i * w;
    for (let k = 0; k < w; k++) dst[d + k] = src[so + k]!;
    for (let j = nd - 1; j >= 0; j--) {
      idx[j]!++;
      s += stride[j]!;
      if (idx[j]! < shape[j]!) break;
      s -= stride[j]! * shape[j]!;
      idx[j] = 0;
    }
  }
  return out;
}

function swapBytes(b: Uint8Array, es: number): void {
  if (es === 1) return;
  for (let i = 0; i < b.length; i += es) b.subarray(i, i + es).reverse();
}

function openAs(f: FileBytes, format: "zip" | "legacy", root: unknown, loc: StorageLocator): TorchCheckpoint {
  const cache = new Map<TensorRef, StTensor>();
  const verified = new Set<ZipEntry>();
  /** Tensors sharing storages can be read many times over; bound the total by the file's size. */
  let budget = 4 * f.size + (1 << 25);
  /** Verify a record's CRC-32: from the span just read when it is the whole record, else by streaming the record. */
  const verify = (r: LocatedStorage, span: Uint8Array, spanStart: number) => {
    const e = r.record;
    if (!e || verified.has(e)) return;
    let crc: number;
    if (spanStart === r.offset && span.length === r.bytes) crc = crc32(span);
    else {
      crc = 0;
      const CHUNK = 1 << 26;
      for (let o = 0; o < r.bytes; o += CHUNK) crc = crc32(f.read(r.offset + o, Math.min(CHUNK, r.bytes - o), `zip record '${e.name}'`), crc);
    }
    checkZipCrc(f, e, crc, CRC_HINT);
    verified.add(e);
  };
  const readTensor = (t: TensorRef): StTensor => {
    const hit = cache.get(t);
    if (hit) return hit;
    const info = dtypeRow(t.dtype);
    const es = info.bytes;
    const numel = t.numel;
    let bytes: Uint8Array;
    if (numel === 0) {
      bytes = new Uint8Array(0);
    } else {
      let maxIndex = 0;
      for (let i = 0; i < t.shape.length; i++) maxIndex += (t.shape[i]! - 1) * t.stride[i]!;
      const located = loc.locate(t.storage);
      const { offset, bytes: storageBytes } = located;
      const spanElems = maxIndex + 1;
      if (numel > spanElems) {
        throw new TorchCheckpointError(
          f.path,
          `tensor ${t.dtype}[${t.shape}] with stride [${t.stride}] has ${numel} elements but spans only ${spanElems} of storage '${t.storage.key}' (an expanded / overlapping view; not supported)`,
        );
      }
      if ((t.offset + spanElems) * es > storageBytes) {
        throw new TorchCheckpointError(
          f.path,
          `tensor ${t.dtype}[${t.shape}] at offset ${t.offset} with stride [${t.stride}] needs ${t.offset + spanElems} elements of storage '${t.storage.key}', which holds ${storageBytes / es}`,
        );
      }
      budget -= numel * es;
      if (budget < 0) throw new TorchCheckpointError(f.path, `its tensors view their storages over and over: more than 4× the file's ${f.size} bytes of tensor data (corrupt or hostile file)`);
      const span = f.read(offset + t.offset * es, spanElems * es, `storage '${t.storage.key}'`);
      verify(located, span, offset + t.offset * es);
      let contiguous = spanElems === numel;
      let expect = 1;
      for (let i = t.shape.length - 1; i >= 0 && contiguous; i--) {
        if (t.shape[i] !== 1 && t.stride[i] !== expect) contiguous = false;
        expect *= t.shape[i]!;
      }
      bytes = contiguous ? span : gather(span, es, t.shape, t.stride, numel);
      if (loc.byteSwap) swapBytes(bytes, es);
    }
    const out: StTensor = { dtype: info.st, shape: [...t.shape], data: makeArray(info.st, bytes) };
    cache.set(t, out);
    return out;
  };
  /** Iterative (an explicit work list, not recursion): a pickle can nest containers 1e5 deep. */
  const materialize = (value: unknown): unknown => {
    if (value instanceof TensorRef) return readTensor(value);
    const seen = new Set<unknown>();
    const work: unknown[] = [value];
    const visit = (x: unknown): unknown => {
      if (x instanceof TensorRef) return readTensor(x);
      if (typeof x === "object" && x !== null && !seen.has(x)) work.push(x);
      return x;
    };
    while (work.length) {
      const v = work.pop();
      if (typeof v !== "object" || v === null || seen.has(v)) continue;
      seen.add(v);
      if (v instanceof Map) {
        for (const [k, x] of v) {
          const y = visit(x);
          if (y !== x) v.set(k, y);
        }
      } else if (Array.isArray(v)) {
        for (let i = 0; i < v.length; i++) v[i] = visit(v[i]);
      } else if (v instanceof Set) {
        if ([...v].some((x) => x instanceof TensorRef)) {
          const items = [...v].map(visit);
          v.clear();
          for (const x of items) v.add(x);
        } else for (const x of v) visit(x);
      } else if (!ArrayBuffer.isView(v) && !(v instanceof PyGlobal) && !(v instanceof StorageRef)) {
        const o = v as Record<string, unknown>;
        for (const k of Object.keys(o)) {
          const x = visit(o[k]);
          if (x !== o[k]) defineKey(o, k, x); // never `o[k] = …`: a '__proto__' key would set the prototype
        }
      }
    }
    return value;
  };
  return { path: f.path, format, root, materialize, readTensor, close: () => f.close() };
}

/**
 * Our validation helpers throw plain `Error`s with a message; give them the file's name. Anything
 * else (a TypeError, a RangeError from a DataView) is a bug in this reader and is rethrown as is,
 * so that fuzzing finds it instead of a vague "error" hiding it.
 */
function wrapPickle<T>(path: string, fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    if (e instanceof DitError) throw e;
    if (e instanceof Error && e.constructor === Error) throw new TorchCheckpointError(path, e.message.startsWith(`${path}: `) ? e.message.slice(path.length + 2) : e.message);
    throw e;
  }
}

function openZip(f: FileBytes, verifyCrc: boolean): TorchCheckpoint {
  const entries = readZipDirectory(f);
  const pkls = [...entries.keys()].filter((n) => /^[^/]+\/data\.pkl$/.test(n));
  if (pkls.length !== 1) {
    const ts = [...entries.keys()].some((n) => /^[^/]+\/constants\.pkl$/.test(n));
    throw new TorchCheckpointError(
      f.path,
      ts
        ? "this is a TorchScript archive (torch.jit.save), not a torch.save checkpoint"
        : pkls.length
          ? `zip archive holds ${pkls.length} data.pkl records (expected one)`
          : "zip archive has no '<name>/data.pkl' record (not a torch.save checkpoint)",
    );
  }
  const prefix = pkls[0]!.slice(0, -"data.pkl".length);
  for (const n of entries.keys()) {
    if (!n.startsWith(prefix)) throw new TorchCheckpointError(f.path, `zip record '${n.slice(0, 80)}' is outside the archive folder '${prefix}' (corrupt or hostile zip)`);
  }
  let byteSwap = false;
  const order = entries.get(`${prefix}byteorder`);
  if (order) {
    const s = Buffer.from(readZipEntry(f, order, { verifyCrc, crcHint: CRC_HINT })).toString("latin1").trim();
    if (s !== "little" && s !== "big") throw new TorchCheckpointError(f.path, `'${prefix}byteorder' says '${s}' (expected little or big)`);
    byteSwap = s === "big";
  }
  const pkl = readZipEntry(f, entries.get(pkls[0]!)!, { verifyCrc, crcHint: CRC_HINT });
  const { load } = makePersistentLoad(false);
  const source = `${f.path} (${pkls[0]})`;
  const root = unpickle(pkl, { source, globals: TORCH_GLOBALS, persistentLoad: load }).value;
  const located = new Map<string, LocatedStorage>();
  return openAs(f, "zip", root, {
    byteSwap,
    locate: (s) => {
      const hit = located.get(s.key);
      if (hit) return hit;
      const name = `${prefix}data/${s.key}`;
      const e = entries.get(name);
      if (!e) throw new TorchCheckpointError(f.path, `zip archive lacks the storage record '${name}' (truncated or corrupt?)`);
      if (e.method !== 0) throw new TorchCheckpointError(f.path, `storage record '${name}' is compressed (expected stored)`);
      const need = s.numel * dtypeRow(s.dtype).bytes;
      if (e.size < need) throw new TorchCheckpointError(f.path, `storage record '${name}' has ${e.size} bytes, expected ${need} (${s.numel} × ${s.dtype})`);
      const r: LocatedStorage = { offset: zipEntryDataOffset(f, e), bytes: e.size, record: verifyCrc ? e : undefined };
      located.set(s.key, r);
      return r;
    },
  });
}

function openLegacy(f: FileBytes): TorchCheckpoint {
  const src = f.source();
  const next = (what: string, offset: number, opts: Partial<Parameters<typeof unpickle>[1]> = {}) =>
    unpickle(src, { source: `${f.path} (${what})`, globals: SAFE_GLOBALS, ...opts, offset });
  const magic = next("magic number", 0);
  if (magic.value !== LEGACY_MAGIC) throw new TorchCheckpointError(f.path, "not a PyTorch checkpoint: the first pickle is not the torch.save magic number");
  const proto = next("protocol version", magic.end);
  if (proto.value !== LEGACY_PROTOCOL_VERSION) throw new TorchCheckpointError(f.path, `legacy protocol version ${describeValue(proto.value)} is not supported (expected ${LEGACY_PROTOCOL_VERSION})`);
  const sys = next("sys_info", proto.end);
  const info = sys.value instanceof Map ? sys.value : new Map();
  const byteSwap = info.get("little_endian") === false;
  const { load, storages } = makePersistentLoad(true);
  const main = next("object pickle", sys.end, { globals: TORCH_GLOBALS, persistentLoad: load });
  const keysP = next("storage keys", main.end);
  const keys = keysP.value;
  if (!Array.isArray(keys) || !keys.every((k) => typeof k === "string")) throw new TorchCheckpointError(f.path, "the storage-key pickle is not a list of strings");
  const located = new Map<string, LocatedStorage>();
  let pos = keysP.end;
  for (const key of keys as string[]) {
    const s = storages.get(key);
    if (!s) throw new TorchCheckpointError(f.path, `storage '${key}' is listed but no tensor uses it (cannot tell its element size)`);
    const head = f.read(pos, 8, `the size of storage '${key}'`);
    const numel = Number(new DataView(head.buffer).getBigInt64(0, true));
    const bytes = numel * dtypeRow(s.dtype).bytes;
    if (numel < 0) throw new TorchCheckpointError(f.path, `storage '${key}' has a negative element count (${numel}) at byte ${pos} (corrupt file)`);
    if (numel < 0 || pos + 8 + bytes > f.size) {
      throw new TorchCheckpointError(f.path, `storage '${key}' (${numel} × ${s.dtype}) runs past the end of the file at byte ${pos + 8 + bytes} (file is ${f.size} bytes; truncated?)`);
    }
    located.set(key, { offset: pos + 8, bytes });
    pos += 8 + bytes;
  }
  return openAs(f, "legacy", main.value, {
    byteSwap,
    locate: (s) => {
      const r = located.get(s.key);
      if (!r) throw new TorchCheckpointError(f.path, `storage '${s.key}' is not in the file's storage list`);
      return r;
    },
  });
}

/** Open a torch.save file: parses the object tree; tensor data is read (and its CRC-32 checked) on demand. */
export function openTorchCheckpoint(path: string, opts: TorchLoadOptions = {}): TorchCheckpoint {
  const f = openFile(path);
  try {
    if (f.size < 4) throw new TorchCheckpointError(path, `file is ${f.size} bytes (empty or truncated; expected a zip archive or a pickle)`);
    const head = f.read(0, Math.min(f.size, 512), "file header");
    if (head[0] === 0x50 && head[1] === 0x4b) return wrapPickle(path, () => openZip(f, opts.verifyCrc ?? true));
    if (head[0] === 0x80) return wrapPickle(path, () => openLegacy(f));
    if (head.length >= 262 && Buffer.from(head.subarray(257, 262)).toString("latin1") === "ustar") {
      throw new TorchCheckpointError(path, "tar-format checkpoints (PyTorch < 0.4) are not supported");
    }
    throw new TorchCheckpointError(path, "not a PyTorch checkpoint (expected a zip archive or a pickle)");
  } catch (e) {
    f.close();
    throw e;
  }
}

/** Read a whole checkpoint: nested values (dicts as Maps) with tensors as StTensors. */
export function loadTorchCheckpoint(path: string, opts: TorchLoadOptions = {}): unknown {
  const ck = openTorchCheckpoint(path, opts);
  try {
    return wrapPickle(path, () => ck.materialize(ck.root));
  } finally {
    ck.close();
  }
}

// ---------------------------------------------------------------------------
// State dicts

export type CheckpointEntry = "model" | "ema";

function isStTensor(v: unknown): v is StTensor {
  return typeof v === "object" && v !== null && typeof (v as StTensor).dtype === "string" && Array.isArray((v as StTensor).shape) && ArrayBuffer.isView((v as StTensor).data);
}

const isTensor = (v: unknown) => v instanceof TensorRef || isStTensor(v);

function isStateDict(v: unknown): v is Map<unknown, unknown> {
  if (!(v instanceof Map)) return false;
  for (const [k, x] of v) if (typeof k !== "string" || !isTensor(x)) return false;
  return true;
}

function describeKeys(m: Map<unknown, unknown>): string {
  const ks = [...m.keys()].map(String);
  return ks.length ? ks.slice(0, 12).join(", ") + (ks.length > 12 ? ", …" : "") : "none";
}

/**
 * Pick the state dict out of a checkpoint object (lazy or materialized): a
 * train.py checkpoint's `ema` (as the official sample.py does) unless `entry`
 * names another, a plain state dict as is; a DDP `module.` prefix on every key
 * is stripped. Returns the entry used (null for a plain state dict).
 */
export function selectStateDict<T = StTensor>(obj: unknown, entry?: CheckpointEntry, source = "checkpoint"): { entry: string | null; stateDict: Map<string, T> } {
  if (!(obj instanceof Map)) throw new TorchCheckpointError(source, `the checkpoint is ${Array.isArray(obj) ? "a list" : obj === null ? "None" : typeof obj}, not a dict`);
  let picked: string | null = null;
  let dict: Map<unknown, unknown>;
  const sub = (k: string) => {
    const v = obj.get(k);
    return v instanceof Map ? v : undefined;
  };
  if (entry) {
    const v = sub(entry);
    if (!v) {
      throw new TorchCheckpointError(
        source,
        isStateDict(obj) ? `is a plain state dict; it has no '${entry}' entry` : `has no '${entry}' entry (entries: ${describeKeys(obj)})`,
      );
    }
    [picked, dict] = [entry, v];
  } else if (sub("ema")) {
    [picked, dict] = ["ema", sub("ema")!];
  } else if (isStateDict(obj)) {
    dict = obj;
  } else {
    const k = ["model", "state_dict"].find((k) => sub(k));
    if (!k) throw new TorchCheckpointError(source, `neither a state dict nor a train.py checkpoint (entries: ${describeKeys(obj)})`);
    [picked, dict] = [k, sub(k)!];
  }
  const what = picked ? `entry '${picked}'` : "state dict";
  const out = new Map<string, T>();
  for (const [k, v] of dict) {
    if (typeof k !== "string") throw new TorchCheckpointError(source, `${what} has a non-string key ${String(k)}`);
    if (!isTensor(v)) throw new TorchCheckpointError(source, `${what}['${k}'] is not a tensor`);
    out.set(k, v as T);
  }
  const keys = [...out.keys()];
  if (keys.length && keys.every((k) => k.startsWith("module."))) {
    const stripped = new Map<string, T>();
    for (const [k, v] of out) stripped.set(k.slice("module.".length), v);
    return { entry: picked, stateDict: stripped };
  }
  return { entry: picked, stateDict: out };
}

/** The state dict of a loaded checkpoint (see selectStateDict); every value is an StTensor. */
export function extractStateDict(obj: unknown, entry?: CheckpointEntry): Map<string, StTensor> {
  const { stateDict } = selectStateDict<unknown>(obj, entry);
  for (const [k, v] of stateDict) if (!isStTensor(v)) throw new Error(`checkpoint: '${k}' is not loaded (use loadTorchCheckpoint or loadTorchStateDict)`);
  return stateDict as Map<string, StTensor>;
}

/**
 * Read only the state dict of a checkpoint (a train.py checkpoint's other
 * entries, such as the optimizer moments, are never read from disk).
 */
export function loadTorchStateDict(
  path: string,
  entry?: CheckpointEntry,
  opts: TorchLoadOptions = {},
): { stateDict: Map<string, StTensor>; entry: string | null; format: "zip" | "legacy" } {
  const ck = openTorchCheckpoint(path, opts);
  try {
    const sel = wrapPickle(path, () => selectStateDict<TensorRef | StTensor>(ck.root, entry, path));
    const stateDict = new Map<string, StTensor>();
    wrapPickle(path, () => {
      for (const [k, v] of sel.stateDict) stateDict.set(k, v instanceof TensorRef ? ck.readTensor(v) : v);
    });
    return { stateDict, entry: sel.entry, format: ck.format };
  } finally {
    ck.close();
  }
}
