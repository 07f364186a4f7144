/**
 * Seeds and lies shared by the PyTorch fuzz targets (targets/pt-zip.ts, pt-legacy.ts, pickle.ts):
 * checkpoints written by the project's own writer (src/io/torch-save.ts) plus the small real
 * torch files in test/fixtures/torch, their structural boundaries, and hostile pickles / tensor
 * descriptions that lie.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { saveTorchCheckpoint, TorchOrderedDict, TorchTensor, TorchTuple, type TorchValue } from "../../src/io/torch-save.js";
import { unpickle } from "../../src/io/pickle.js";
import { REPO_FIXTURE_ROOT } from "../fixture-root.js";
import { OP, pickle, pickleOpcodeOffsets, u32le, u64le, type PickleBuilder } from "../io/pickle-builder.js";

const int = (rand: () => number, n: number): number => Math.floor(rand() * n);
export const pick = <T>(rand: () => number, xs: readonly T[]): T => xs[int(rand, xs.length)]!;
export { int };

/** `saveTorchCheckpoint(value)` to a temporary file, returned as bytes. */
export function torchBytes(value: TorchValue, format: "zip" | "legacy"): Uint8Array {
  const dir = mkdtempSync(join(tmpdir(), "dit-fuzz-pt-"));
  try {
    const p = join(dir, "seed.pt");
    saveTorchCheckpoint(p, value, { format });
    return new Uint8Array(readFileSync(p));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Small values covering every storage type the writer has, shared storages, scalars and nesting. */
export function seedValues(): { name: string; value: TorchValue }[] {
  const shared = Float32Array.from({ length: 6 }, (_, i) => i - 2.5);
  const state = new TorchOrderedDict(
    new Map<string, TorchValue>([
      ["w", new TorchTensor("float32", [2, 3], shared)],
      ["w_tied", new TorchTensor("float32", [6], shared)],
      ["h", new TorchTensor("float16", [2, 2], Uint16Array.from([0x3c00, 0xc000, 0x7bff, 0]))],
      ["d", new TorchTensor("float64", [2], Float64Array.from([1.5, -2.25]))],
      ["i", new TorchTensor("int64", [3], BigInt64Array.from([1n, -1n, 2n ** 40n]))],
      ["n", new TorchTensor("int32", [1, 2], Int32Array.from([7, -7]))],
      ["s", new TorchTensor("int16", [2], Int16Array.from([300, -300]))],
      ["c", new TorchTensor("int8", [3], Int8Array.from([-1, 1, 2]))],
      ["u", new TorchTensor("uint8", [4], Uint8Array.from([0, 255, 9, 1]))],
      ["m", new TorchTensor("bool", [2], Uint8Array.from([1, 0]))],
      ["scalar", TorchTensor.scalar(3.25)],
      ["empty", new TorchTensor("float32", [0, 3], new Float32Array(0))],
    ]),
  );
  const nested: TorchValue = {
    model: new TorchOrderedDict(new Map([["blocks.0.attn.qkv.weight", new TorchTensor("float32", [4, 2], Float32Array.from({ length: 8 }, (_, i) => i / 8))]])),
    args: { lr: 1e-4, model: "DiT-S/2", flags: [true, false, null], pair: new TorchTuple([1, "two"]), big: 2n ** 70n },
    step: 7,
  };
  return [
    { name: "state-all-dtypes", value: state },
    { name: "nested-train-like", value: nested },
    { name: "one-f32", value: new TorchOrderedDict(new Map([["weight", new TorchTensor("float32", [3], Float32Array.from([1, 2, 3]))]])) },
  ];
}

/** Real torch 1.13 files in test/fixtures/torch (those under 64 KiB), of the given container format. */
export function fixtureSeeds(format: "zip" | "legacy"): { name: string; bytes: Uint8Array }[] {
  const dir = join(REPO_FIXTURE_ROOT, "torch");
  const names = format === "zip" ? ["state_zip.pt", "state_zip64.pt", "state_zip_p4.pt", "ddp_state.pt", "train_ckpt.pt"] : ["state_legacy.pt"];
  return names.filter((n) => existsSync(join(dir, n))).map((n) => ({ name: `torch:${n}`, bytes: new Uint8Array(readFileSync(join(dir, n))) }));
}

// ---------------------------------------------------------------------------
// Legacy layout

export interface LegacyParts {
  /** The five pickles: magic, protocol, sys_info, object, storage keys. */
  pickles: Uint8Array[];
  /** Each storage section: its int64 count and raw bytes, in file order. */
  storages: { count: bigint; data: Uint8Array }[];
  /** Absolute offsets of every pickle's opcodes, section starts, etc. */
  boundaries: number[];
}

/** Split a legacy file into its parts (seeds only: assumes it is well formed); `elementSize` of a storage key. */
export function splitLegacy(b: Uint8Array, elementSize: (key: string) => number): LegacyParts {
  const pickles: Uint8Array[] = [];
  const boundaries = new Set<number>([0, b.length]);
  let p = 0;
  for (let i = 0; i < 5; i++) {
    const offs = pickleOpcodeOffsets(b, p);
    for (const o of offs) boundaries.add(p + o);
    const end = p + offs[offs.length - 1]!;
    pickles.push(b.slice(p, end));
    p = end;
  }
  const storages: { count: bigint; data: Uint8Array }[] = [];
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const keys = unpickle(pickles[4]!, { source: "seed storage keys" }).value as string[];
  for (let i = 0; p + 8 <= b.length; i++) {
    boundaries.add(p);
    const count = dv.getBigInt64(p, true);
    const es = elementSize(keys[i] ?? "");
    const n = Number(count) * es;
    boundaries.add(p + 8);
    storages.push({ count, data: b.slice(p + 8, p + 8 + n) });
    p += 8 + n;
  }
  return { pickles, storages, boundaries: [...boundaries].filter((x) => x <= b.length).sort((x, y) => x - y) };
}

export function joinLegacy(pickles: Uint8Array[], storages: { count: bigint; data: Uint8Array }[]): Uint8Array {
  const parts: Uint8Array[] = [...pickles];
  for (const s of storages) {
    parts.push(Uint8Array.from(u64le(s.count)));
    parts.push(s.data);
  }
  return new Uint8Array(Buffer.concat(parts));
}

// ---------------------------------------------------------------------------
// Tensor descriptions that lie

const STORAGE_OF: Record<string, [string, number]> = {
  float32: ["FloatStorage", 4],
  float16: ["HalfStorage", 2],
  float64: ["DoubleStorage", 8],
  int64: ["LongStorage", 8],
  uint8: ["ByteStorage", 1],
  bool: ["BoolStorage", 1],
};

export interface TensorSpec {
  name: string;
  storageType: string;
  key: string;
  numel: number | bigint;
  offset: number | bigint;
  shape: (number | bigint)[];
  stride: (number | bigint)[];
  /** Wrap in torch._utils._rebuild_parameter. */
  parameter?: boolean;
}

/** `_rebuild_tensor_v2(persistent storage id, offset, size, stride, False, OrderedDict())` for each spec, in an OrderedDict. */
export function stateDictPickle(specs: TensorSpec[], legacy: boolean): Uint8Array {
  const p = pickle().proto(2).global("collections", "OrderedDict").op(OP.EMPTY_TUPLE, OP.REDUCE);
  const ints = (b: PickleBuilder, xs: (number | bigint)[]) => b.tuple((t) => xs.forEach((x) => t.int(x)));
  for (const s of specs) {
    p.str(s.name);
    if (s.parameter) p.global("torch._utils", "_rebuild_parameter").mark();
    p.global("torch._utils", "_rebuild_tensor_v2").mark();
    p.mark().str("storage").global("torch", s.storageType).str(s.key).str("cpu").int(s.numel);
    if (legacy) p.none();
    p.op(OP.TUPLE, OP.BINPERSID);
    p.int(s.offset);
    ints(p, s.shape);
    ints(p, s.stride);
    p.bool(false).global("collections", "OrderedDict").op(OP.EMPTY_TUPLE, OP.REDUCE);
    p.op(OP.TUPLE, OP.REDUCE);
    if (s.parameter) p.bool(true).op(OP.TUPLE2, OP.REDUCE);
    p.op(OP.SETITEM);
  }
  return p.stop().bytes();
}

/** A valid spec over an existing storage of `numel` elements of `dtype`, then (usually) one field made to lie. */
export function lyingSpecs(rand: () => number, storages: { key: string; dtype: string; numel: number }[]): { what: string; specs: TensorSpec[] } {
  const s = storages.length ? pick(rand, storages) : { key: "0", dtype: "float32", numel: 4 };
  const [type] = STORAGE_OF[s.dtype] ?? ["FloatStorage", 4];
  const base: TensorSpec = { name: "t", storageType: type, key: s.key, numel: s.numel, offset: 0, shape: [s.numel], stride: [1] };
  const HUGE = [1e12, 2 ** 53, 2n ** 62n, 2n ** 64n, 2 ** 31, 2 ** 32 + 1, -1, -(2 ** 31)];
  const kind = pick(rand, ["valid-view", "numel", "offset", "shape", "shape-overflow", "stride", "stride0", "ndim", "rank-mismatch", "dtype-unknown", "dtype-twice", "key-missing", "key-escape", "parameter", "many-views"] as const);
  const one = (t: Partial<TensorSpec>) => ({ what: `tensor ${kind}`, specs: [{ ...base, ...t }] });
  switch (kind) {
    case "valid-view":
      return one({ offset: s.numel > 1 ? 1 : 0, shape: [Math.floor((s.numel - (s.numel > 1 ? 1 : 0) + 1) / 2)], stride: [2] });
    case "numel":
      return one({ numel: pick(rand, HUGE) });
    case "offset":
      return one({ offset: pick(rand, [...HUGE, s.numel, s.numel + 1]) });
    case "shape":
      return one({ shape: [pick(rand, [...HUGE, s.numel + 1])] });
    case "shape-overflow":
      return one({ shape: [2 ** 31, 2 ** 31, 2 ** 31], stride: [1, 1, 1] });
    case "stride":
      return one({ shape: [2, 2], stride: [pick(rand, HUGE), 1] });
    case "stride0":
      return one({ shape: [pick(rand, [1e6, 1e12, 2 ** 40])], stride: [0] });
    case "ndim":
      return one({ shape: Array(int(rand, 2) ? 65 : 100_000).fill(1), stride: Array(int(rand, 2) ? 65 : 100_000).fill(1) });
    case "rank-mismatch":
      return one({ shape: [s.numel], stride: [1, 1] });
    case "dtype-unknown":
      return one({ storageType: pick(rand, ["FooStorage", "ComplexFloatStorage", "QInt8Storage", "storage", "Tensor", "__class__"]) });
    case "dtype-twice":
      return { what: "tensor dtype-twice", specs: [base, { ...base, name: "u", storageType: type === "FloatStorage" ? "LongStorage" : "FloatStorage" }] };
    case "key-missing":
      return one({ key: pick(rand, ["999", "", "0/../1", "data.pkl"]) });
    case "key-escape":
      return one({ key: pick(rand, ["../../../etc/passwd", "/etc/passwd", "..", "../data.pkl"]) });
    case "parameter":
      return { what: "tensor parameter", specs: [{ ...base, parameter: true }] };
    case "many-views":
      return { what: "tensor many-views", specs: Array.from({ length: 2000 }, (_, i) => ({ ...base, name: `v${i}` })) };
  }
}

// ---------------------------------------------------------------------------
// Hostile pickles

/** A complete pickle (ends in STOP unless the lie is the missing STOP) that lies about its structure. */
export function hostilePickle(rand: () => number): { what: string; bytes: Uint8Array } {
  const kind = pick(rand, [
    "binunicode-huge", "binunicode8-huge", "binbytes-huge", "binbytes8-huge", "bytearray8-huge", "long4-huge", "long4-long", "frame-huge",
    "deep-tuples", "deep-lists", "deep-dicts", "marks-unmatched", "mark-stop", "memo-missing", "memo-missing-long", "many-items", "copy-amplify",
    "bad-escape", "bad-unicode-escape", "cycle", "unknown-opcode", "proto-6", "ext", "next-buffer", "pop-empty", "setitem-on-list", "reduce-non-callable",
    "persid-none", "huge-int-line", "long-line", "binstring-negative", "stack-global-nonstr",
  ] as const);
  const p = pickle().proto(pick(rand, [2, 4, 5]));
  const depth = pick(rand, [1000, 100_000]);
  switch (kind) {
    case "binunicode-huge":
      p.op(OP.BINUNICODE, ...u32le(pick(rand, [0xffffffff, 0x7fffffff, 1 << 30]))).raw(Buffer.from("abc"));
      break;
    case "binunicode8-huge":
      p.op(OP.BINUNICODE8, ...u64le(pick(rand, [2n ** 60n, 2n ** 64n - 1n, 1_000_000_000_000n]))).raw(Buffer.from("abc"));
      break;
    case "binbytes-huge":
      p.op(OP.BINBYTES, ...u32le(0xfffffff0)).raw([1, 2, 3]);
      break;
    case "binbytes8-huge":
      p.op(OP.BINBYTES8, ...u64le(2n ** 40n)).raw([1, 2, 3]);
      break;
    case "bytearray8-huge":
      p.op(OP.BYTEARRAY8, ...u64le(2n ** 53n + 1n)).raw([1, 2, 3]);
      break;
    case "long4-huge":
      p.op(OP.LONG4, ...u32le(pick(rand, [0x7fffffff, 0x80000000, 0xffffffff]))).raw([1, 2]);
      break;
    case "long4-long": {
      const n = pick(rand, [100_000, 1 << 20]);
      p.op(OP.LONG4, ...u32le(n)).raw(new Uint8Array(n).fill(0x7f));
      break;
    }
    case "frame-huge":
      p.op(OP.FRAME, ...u64le(2n ** 62n)).none();
      break;
    case "deep-tuples":
      p.op(OP.EMPTY_TUPLE);
      for (let i = 0; i < depth; i++) p.op(OP.TUPLE1);
      break;
    case "deep-lists":
      for (let i = 0; i < depth; i++) p.op(OP.EMPTY_LIST);
      for (let i = 1; i < depth; i++) p.op(OP.APPEND);
      break;
    case "deep-dicts":
      p.op(OP.EMPTY_DICT);
      for (let i = 1; i < depth; i++) p.str("k").op(OP.EMPTY_DICT);
      for (let i = 1; i < depth; i++) p.op(OP.SETITEM);
      break;
    case "marks-unmatched":
      for (let i = 0; i < depth; i++) p.op(OP.MARK);
      p.none();
      break;
    case "mark-stop":
      p.none().op(OP.MARK);
      break;
    case "memo-missing":
      p.op(OP.BINGET, int(rand, 256));
      break;
    case "memo-missing-long":
      p.op(OP.LONG_BINGET, ...u32le(0xffffffff));
      break;
    case "many-items":
      p.op(OP.EMPTY_LIST, OP.MARK);
      for (let i = 0; i < 200_000; i++) p.op(OP.NONE);
      p.op(OP.APPENDS);
      break;
    case "copy-amplify": {
      // a 20 000-item list, then list(that) 20 000 times: 4e8 elements from a ~100 KB pickle
      p.op(OP.EMPTY_LIST, OP.MARK);
      for (let i = 0; i < 20_000; i++) p.op(OP.NONE);
      p.op(OP.APPENDS).put(0).op(OP.POP).op(OP.EMPTY_LIST);
      for (let i = 0; i < 20_000; i++) p.global("builtins", "list").get(0).op(OP.TUPLE1, OP.REDUCE, OP.APPEND);
      break;
    }
    case "bad-escape":
      p.op(OP.STRING).raw(Buffer.from(pick(rand, ["'\\xZZ'\n", "'\\U7fffffff'\n", "'unterminated\n", "'\\u12'\n"])));
      break;
    case "bad-unicode-escape":
      p.op(OP.UNICODE).raw(Buffer.from(pick(rand, ["\\UFFFFFFFF\n", "\\uZZZZ\n", "\\u12\n"])));
      break;
    case "cycle":
      p.op(OP.EMPTY_LIST).put(0).get(0).op(OP.APPEND);
      break;
    case "unknown-opcode":
      p.op(pick(rand, [0x00, 0x01, 0xff, 0x99, 0x3f]));
      break;
    case "proto-6":
      p.op(OP.PROTO, 6).none();
      break;
    case "ext":
      p.op(OP.EXT1, 1);
      break;
    case "next-buffer":
      p.op(OP.NEXT_BUFFER);
      break;
    case "pop-empty":
      p.op(OP.POP).none();
      break;
    case "setitem-on-list":
      p.op(OP.EMPTY_LIST).str("__proto__").none().op(OP.SETITEM);
      break;
    case "reduce-non-callable":
      p.none().op(OP.EMPTY_TUPLE, OP.REDUCE);
      break;
    case "persid-none":
      p.none().op(OP.BINPERSID);
      break;
    case "huge-int-line":
      p.op(OP.INT).raw(Buffer.from("9".repeat(100_000) + "\n"));
      break;
    case "long-line":
      p.op(OP.GLOBAL).raw(new Uint8Array(2 << 20).fill(0x61));
      break;
    case "binstring-negative":
      p.op(OP.BINSTRING, ...u32le(0xfffffffe)).raw([1]);
      break;
    case "stack-global-nonstr":
      p.int(1).int(2).op(OP.STACK_GLOBAL);
      break;
  }
  return { what: `pickle ${kind}`, bytes: p.stop().bytes() };
}

/** Splice a hostile fragment into a valid pickle at one of its opcode boundaries. */
export function spliceAtBoundary(rand: () => number, pkl: Uint8Array, fragment: Uint8Array): Uint8Array {
  const offs = pickleOpcodeOffsets(pkl);
  const at = offs.length ? pick(rand, offs) : 0;
  return new Uint8Array(Buffer.concat([pkl.subarray(0, at), fragment, pkl.subarray(at)]));
}

/** Bytes of every typed array reachable from a loaded value (each once): the load summary of the .pt targets. */
export function summarize(v: unknown): number {
  let n = 0;
  const seen = new Set<unknown>();
  const work = [v];
  while (work.length) {
    const x = work.pop();
    if (typeof x !== "object" || x === null || seen.has(x)) continue;
    seen.add(x);
    if (ArrayBuffer.isView(x)) n += x.byteLength;
    else if (x instanceof Map) for (const y of x.values()) work.push(y);
    else if (Array.isArray(x)) for (const y of x) work.push(y);
    else if (!(x instanceof Set)) for (const y of Object.values(x)) work.push(y);
  }
  return n;
}
