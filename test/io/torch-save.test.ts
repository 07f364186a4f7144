/**
 * The pickle writer and `saveTorchCheckpoint`: bytes equal to CPython's
 * protocol-2 pickles, every value type back through the project's restricted
 * reader, tensors bit-identical, the zip records (CRC-32, 64-byte alignment,
 * zip64), atomic writes, and a cross-check with real PyTorch
 * (test/io/torch_interop.py under /usr/bin/python3; skipped, with the reason,
 * where torch is absent).
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { crc32 } from "node:zlib";
import { after, before, describe, it } from "node:test";
import { PickleWriteError, pickleDumps, PyGlobalRef, PyOrderedDict, PyPersistentId, PyReduce, pyFloat, tuple, type PyValue } from "../../src/io/pickle-writer.js";
import { PyGlobal, SAFE_GLOBALS, unpickle, type GlobalTable } from "../../src/io/pickle.js";
import type { StTensor } from "../../src/io/safetensors.js";
import { loadTorchCheckpoint, loadTorchStateDict } from "../../src/io/torch-checkpoint.js";
import { saveTorchCheckpoint, TorchOrderedDict, TorchTensor, TorchTuple, type TorchValue } from "../../src/io/torch-save.js";
import { Tensor } from "../../src/runtime/tensor.js";
import { Rng } from "../../src/util/rng.js";
import { runTorchInterop, type InteropResult } from "./torch-interop.js";

const tmp = mkdtempSync(join(tmpdir(), "dit-torch-save-"));
after(() => rmSync(tmp, { recursive: true, force: true }));

describe("pickle writer", () => {
  it("writes the bytes CPython writes (pickle.dumps(v, protocol=2), memo removed by pickletools.optimize)", () => {
    // {'a': [0, 255, 256, 65535, 65536, -1, 2**31-1, -2**31, 2**31, 2**70, -2**70, 1.5, 2.0, None, True, False, 'é☃', '',
    //        (), (1,), (1, 2), (1, 2, 3), (1, 2, 3, 4)], 3: collections.OrderedDict([('w', 1)]), 'one': [7]}
    const python =
      "80027d285801000000615d284b004bff4d00014dffff4a000001004affffffff4affffff7f4a000000808a0500000080008a090000000000000000408a090000000000000000c0473ff80000000000004740000000000000004e88895805000000c3a9e298835800000000294b01854b014b02864b014b024b0387284b014b024b034b0474654b0363636f6c6c656374696f6e730a4f726465726564446963740a29525801000000774b017358030000006f6e655d4b0761752e";
    const value: PyValue = new Map<string | number, PyValue>([
      ["a", [0, 255, 256, 65535, 65536, -1, 2 ** 31 - 1, -(2 ** 31), 2 ** 31, 2n ** 70n, -(2n ** 70n), 1.5, pyFloat(2), null, true, false, "é☃", "", tuple(), tuple(1), tuple(1, 2), tuple(1, 2, 3), tuple(1, 2, 3, 4)]],
      [3, new PyOrderedDict(new Map([["w", 1]]))],
      ["one", [7]],
    ]);
    assert.equal(Buffer.from(pickleDumps(value)).toString("hex"), python);
  });

  it("every value type reads back through the restricted reader", () => {
    const big = Array.from({ length: 2501 }, (_, i) => i * 3 - 7); // APPENDS in batches of 1000
    const bigDict = new Map(Array.from({ length: 1001 }, (_, i) => [i, `v${i}`] as [number, string]));
    const value = {
      ints: [0, 1, 255, 256, 65535, 65536, -1, -256, 2 ** 31 - 1, -(2 ** 31), 2 ** 31, -(2 ** 31) - 1, Number.MAX_SAFE_INTEGER, -Number.MAX_SAFE_INTEGER, 2n ** 63n, -(2n ** 64n) + 1n, 2n ** 200n],
      floats: [1.5, -2.25, 1e-300, 1.7976931348623157e308, Infinity, -Infinity, 0.1],
      str: ["", "ascii", "é☃𝄞", "a\nb\u0000"],
      flags: [true, false, null],
      tuples: [tuple(), tuple("x"), tuple(1, 2), tuple(1, 2, 3), tuple(1, tuple(2, [3]), 4, 5)],
      big,
      bigDict,
      od: new PyOrderedDict(new Map<string, PyValue>([["z", 1], ["a", [2]]])),
      nested: { ["__proto__"]: { polluted: true }, list: [[], [[]], {}] },
    };
    const back = unpickle(pickleDumps(value), { source: "written.pkl" }).value as Map<string, unknown>;
    assert.ok(back instanceof Map);
    assert.deepEqual([...back.keys()], ["ints", "floats", "str", "flags", "tuples", "big", "bigDict", "od", "nested"]);
    const ints = back.get("ints") as unknown[];
    // the reader gives numbers in the safe range, bigints outside it
    assert.deepEqual(ints, [0, 1, 255, 256, 65535, 65536, -1, -256, 2 ** 31 - 1, -(2 ** 31), 2 ** 31, -(2 ** 31) - 1, Number.MAX_SAFE_INTEGER, -Number.MAX_SAFE_INTEGER, 2n ** 63n, -(2n ** 64n) + 1n, 2n ** 200n]);
    assert.deepEqual(back.get("floats"), value.floats);
    assert.ok(Number.isNaN((unpickle(pickleDumps([NaN]), { source: "nan" }).value as number[])[0]));
    assert.ok(Object.is((unpickle(pickleDumps([-0]), { source: "-0" }).value as number[])[0], -0), "-0 is a float");
    assert.deepEqual(back.get("str"), value.str);
    assert.deepEqual(back.get("flags"), [true, false, null]);
    assert.deepEqual(back.get("tuples"), [[], ["x"], [1, 2], [1, 2, 3], [1, [2, [3]], 4, 5]]);
    assert.deepEqual(back.get("big"), big);
    assert.deepEqual(back.get("bigDict"), bigDict);
    assert.deepEqual(back.get("od"), new Map<string, unknown>([["z", 1], ["a", [2]]]));
    const nested = back.get("nested") as Map<string, unknown>;
    assert.deepEqual([...nested.keys()], ["__proto__", "list"]);
    assert.deepEqual(nested.get("list"), [[], [[]], new Map()]);
  });

  it("globals, REDUCE and persistent ids reach the reader's allow-list and persistent_load", () => {
    const v = new PyReduce(new PyGlobalRef("collections", "OrderedDict"), tuple([tuple("k", new PyPersistentId(tuple("storage", 3)))]));
    const seen: unknown[] = [];
    const back = unpickle(pickleDumps(v), { source: "r", persistentLoad: (pid) => (seen.push(pid), "loaded") }).value;
    assert.deepEqual(seen, [["storage", 3]]);
    assert.deepEqual(back, new Map([["k", "loaded"]]));
    assert.throws(() => unpickle(pickleDumps(new PyReduce(new PyGlobalRef("os", "system"), tuple("x"))), { source: "evil" }), /refusing to load global 'os\.system'/);
  });

  it("refuses what Python cannot hold, naming where it is", () => {
    const cyc: PyValue[] = [];
    cyc.push(cyc);
    const cases: [unknown, RegExp][] = [
      [{ a: [1, undefined] }, /cannot pickle a undefined at \.a\[1\]|cannot pickle a undefined at \["a"\]\[1\]/],
      [{ f: () => 1 }, /cannot pickle a function/],
      [cyc, /a cycle/],
      [{ t: new Float32Array(2) }, /object of type Float32Array/],
      [new Date(0), /object of type Date/],
    ];
    for (const [v, re] of cases) assert.throws(() => pickleDumps(v as PyValue), (e: Error) => e instanceof PickleWriteError && re.test(e.message), String(re));
    assert.throws(() => new PyGlobalRef("os", "system\nrm"), PickleWriteError);
  });
});

/** A value with one tensor of every dtype, shapes from scalar to 3-d, a shared storage and an empty tensor. */
function sample(): { value: TorchValue; tensors: Map<string, TorchTensor> } {
  const rng = new Rng(7);
  const f = rng.normals(2 * 3 * 4);
  f[0] = NaN;
  f[1] = -0;
  f[2] = 1e-42; // subnormal
  f[3] = -Infinity;
  const shared = rng.normals(6);
  const tensors = new Map<string, TorchTensor>([
    ["f32", new TorchTensor("float32", [2, 3, 4], f)],
    ["f64", new TorchTensor("float64", [3], Float64Array.from([Math.PI, -1e300, 5e-324]))],
    ["f16", new TorchTensor("float16", [2], Uint16Array.from([0x3c00, 0xfbff]))],
    ["i64", new TorchTensor("int64", [2, 2], BigInt64Array.from([0n, -1n, 2n ** 62n, -(2n ** 63n)]))],
    ["i32", new TorchTensor("int32", [3], Int32Array.from([1, -2, 2 ** 31 - 1]))],
    ["u8", new TorchTensor("uint8", [4], Uint8Array.from([0, 1, 128, 255]))],
    ["bool", new TorchTensor("bool", [3], Uint8Array.from([1, 0, 1]))],
    ["scalar", TorchTensor.scalar(3.25)],
    ["empty", new TorchTensor("float32", [0, 5], new Float32Array(0))],
    ["shareA", new TorchTensor("float32", [6], shared)],
    ["shareB", new TorchTensor("float32", [2, 3], shared)],
  ]);
  const value: TorchValue = new Map<string, TorchValue>([
    ["sd", new TorchOrderedDict(tensors)],
    ["runtime", new Tensor(Float32Array.from([1, 2, 3, 4]), [2, 2])],
    ["meta", { ints: [1, 2n ** 70n], names: new TorchTuple(["a", TorchTensor.scalar(-1)]), none: null }],
  ]);
  return { value, tensors };
}

const bytesOf = (a: ArrayBufferView) => Buffer.from(a.buffer, a.byteOffset, a.byteLength);
const ST_DTYPE: Record<string, string> = { float32: "F32", float64: "F64", float16: "F16", int64: "I64", int32: "I32", uint8: "U8", bool: "BOOL" };

/** Parse the zip's local headers: name, data offset, size and stored CRC of every record. */
function zipRecords(buf: Buffer): { name: string; dataAt: number; size: number; crc: number; method: number }[] {
  const out = [];
  let p = 0;
  while (buf.readUInt32LE(p) === 0x04034b50) {
    const method = buf.readUInt16LE(p + 8);
    const crc = buf.readUInt32LE(p + 14);
    let size = buf.readUInt32LE(p + 22);
    const n = buf.readUInt16LE(p + 26);
    const e = buf.readUInt16LE(p + 28);
    const name = buf.subarray(p + 30, p + 30 + n).toString("utf8");
    if (size === 0xffffffff) {
      assert.equal(buf.readUInt16LE(p + 30 + n), 1, `${name}: zip64 extra field first`);
      size = Number(buf.readBigUInt64LE(p + 30 + n + 4));
    }
    const dataAt = p + 30 + n + e;
    out.push({ name, dataAt, size, crc, method });
    p = dataAt + size;
  }
  return out;
}

describe("saveTorchCheckpoint", () => {
  for (const zip64 of [false, true]) {
    it(`round trip through the restricted reader: tensors bit-identical, structure equal${zip64 ? " (zip64 records forced)" : ""}`, () => {
      const { value, tensors } = sample();
      const path = join(tmp, zip64 ? "sample64.pt" : "sample.pt");
      saveTorchCheckpoint(path, value, zip64 ? { zip64Threshold: 0 } : {});
      const back = loadTorchCheckpoint(path) as Map<string, unknown>;
      assert.deepEqual([...back.keys()], ["sd", "runtime", "meta"]);
      const sd = back.get("sd") as Map<string, StTensor>;
      assert.deepEqual([...sd.keys()], [...tensors.keys()]);
      for (const [k, t] of tensors) {
        const g = sd.get(k)!;
        assert.equal(g.dtype, ST_DTYPE[t.dtype], `${k}: dtype`);
        assert.deepEqual(g.shape, [...t.shape], `${k}: shape`);
        assert.ok(bytesOf(g.data).equals(bytesOf(t.data)), `${k}: bytes differ`);
      }
      const rt = back.get("runtime") as StTensor;
      assert.deepEqual([rt.dtype, rt.shape, [...rt.data]], ["F32", [2, 2], [1, 2, 3, 4]]);
      const meta = back.get("meta") as Map<string, unknown>;
      assert.deepEqual(meta.get("ints"), [1, 2n ** 70n]);
      const names = meta.get("names") as [string, StTensor];
      assert.equal(names[0], "a");
      assert.deepEqual([...names[1].data], [-1]);
      assert.equal(meta.get("none"), null);

      const buf = readFileSync(path);
      const recs = zipRecords(buf);
      const keys = recs.map((r) => r.name);
      assert.deepEqual(keys.slice(0, 2), ["archive/data.pkl", "archive/byteorder"]);
      assert.equal(keys[keys.length - 1], "archive/version");
      // one storage per typed array: shareA and shareB share theirs
      assert.equal(keys.filter((k) => k.startsWith("archive/data/")).length, tensors.size - 1 + 2); // + runtime + the tuple's scalar
      for (const r of recs) {
        assert.equal(r.method, 0, `${r.name} is STORED`);
        assert.equal(r.dataAt % 64, 0, `${r.name}: data at ${r.dataAt} is 64-byte aligned`);
        assert.equal(r.crc, crc32(buf.subarray(r.dataAt, r.dataAt + r.size)) >>> 0, `${r.name}: CRC-32`);
      }
      assert.equal(buf.subarray(recs.at(-1)!.dataAt, recs.at(-1)!.dataAt + 2).toString(), "3\n");
    });
  }

  it("the same value gives the same bytes (no timestamps)", () => {
    const a = join(tmp, "det-a.pt");
    const b = join(tmp, "det-b.pt");
    saveTorchCheckpoint(a, sample().value);
    saveTorchCheckpoint(b, sample().value);
    assert.ok(readFileSync(a).equals(readFileSync(b)));
  });

  it("writes atomically: no temporary file left, nothing written for a bad value, the old file kept on a failed write", () => {
    const dir = join(tmp, "atomic");
    const path = join(dir, "sub", "ck.pt");
    saveTorchCheckpoint(path, { x: TorchTensor.scalar(1) });
    assert.deepEqual(readdirSync(join(dir, "sub")), ["ck.pt"]);
    const before = readFileSync(path);
    // a value that cannot be pickled fails before the file is touched
    assert.throws(() => saveTorchCheckpoint(path, { x: [undefined as unknown as null] }), PickleWriteError);
    assert.throws(() => saveTorchCheckpoint(join(dir, "never.pt"), { f: (() => 0) as unknown as null }), PickleWriteError);
    assert.ok(readFileSync(path).equals(before));
    assert.deepEqual(readdirSync(join(dir, "sub")), ["ck.pt"]);
    assert.ok(!existsSync(join(dir, "never.pt")));
    // a failure after the data is written (the target is a folder, so the rename fails): the temp file is removed
    const blocked = join(dir, "blocked.pt");
    mkdirSync(join(blocked, "inside"), { recursive: true });
    assert.throws(() => saveTorchCheckpoint(blocked, { x: TorchTensor.scalar(2) }), /EISDIR|ENOTEMPTY|EEXIST|directory/i);
    assert.deepEqual(readdirSync(dir).sort(), ["blocked.pt", "sub"]);
    assert.deepEqual(readdirSync(blocked), ["inside"]);
  });

  it("checks tensors: dtype matches the typed array, length matches the shape", () => {
    assert.throws(() => new TorchTensor("float32", [2], new Float64Array(2)), /float32 tensor needs a Float32Array/);
    assert.throws(() => new TorchTensor("int64", [3], new BigInt64Array(2)), /has 2 elements but shape \[3\] needs 3/);
    assert.throws(() => saveTorchCheckpoint(join(tmp, "u32.pt"), { t: new Tensor(new Uint32Array(1), [1]) }), /uint32/);
    assert.ok(!existsSync(join(tmp, "u32.pt")));
  });
});

// ---------------------------------------------------------------------------
// Real PyTorch

describe("real PyTorch loads what saveTorchCheckpoint writes", () => {
  let res: InteropResult;
  const files = { plain: join(tmp, "py.pt"), zip64: join(tmp, "py64.pt"), floats: join(tmp, "pyf.pt") };
  before(() => {
    const { value } = sample();
    saveTorchCheckpoint(files.plain, value);
    saveTorchCheckpoint(files.zip64, value, { zip64Threshold: 0 });
    saveTorchCheckpoint(files.floats, { lr: pyFloat(1e-4), betas: new TorchTuple([0.9, 0.999]), w: TorchTensor.scalar(1) });
    res = runTorchInterop(["load", files.plain, files.zip64, files.floats]);
  });

  /** What python's describe() prints for a tensor, computed here from the values written. */
  const pyTensor = (t: TorchTensor) => ({ dtype: t.dtype, shape: [...t.shape], vals: Array.from(t.data as ArrayLike<number | bigint>, Number) });

  for (const which of ["plain", "zip64"] as const) {
    it(`${which}: torch.load(weights_only=True) gives the same keys, dtypes, shapes and values; CRCs and alignment hold`, (t) => {
      if (!res.out) return t.skip(res.reason);
      const r = res.out[files[which]];
      assert.deepEqual(r.inspect, { crc_ok: true, aligned: true, opcodes_outside_weights_only_113: [], globals_outside_allow_list: [] });
      assert.equal(r.weights_only_error, undefined, r.weights_only_error);
      assert.deepEqual(r.weights_only, r.plain);
      const top = r.weights_only as { dict: string; items: [unknown, any][] };
      assert.equal(top.dict, "dict");
      assert.deepEqual(top.items.map(([k]) => k), ["sd", "runtime", "meta"]);
      const sd = top.items[0]![1] as { dict: string; items: [string, any][] };
      assert.equal(sd.dict, "OrderedDict");
      const { tensors } = sample();
      assert.deepEqual(sd.items.map(([k]) => k), [...tensors.keys()]);
      for (const [k, got] of sd.items) {
        const want = pyTensor(tensors.get(k)!);
        assert.equal(got.tensor, want.dtype, `${k} dtype`);
        assert.deepEqual(got.shape, want.shape, `${k} shape`);
        assert.equal(got.requires_grad, false);
        if (want.dtype === "float16") {
          assert.deepEqual(got.first, [1, -65504]); // 0x3c00, 0xfbff
          continue;
        }
        const sum = want.vals.reduce((a, b) => a + b, 0);
        if (Number.isFinite(sum)) assert.ok(Math.abs(got.sum - sum) <= 1e-12 * Math.max(1, Math.abs(sum)), `${k} sum ${got.sum} vs ${sum}`);
        else assert.equal(got.sum, String(sum).toLowerCase().replace("infinity", "inf"), `${k} sum`);
        // python prints non-finite values as "nan", "inf", "-inf"
        const py = (x: number) => (Number.isNaN(x) ? "nan" : x === Infinity ? "inf" : x === -Infinity ? "-inf" : x);
        assert.deepEqual(got.first, want.vals.slice(0, 4).map(py), `${k} first values`);
      }
      const meta = top.items[2]![1] as { items: [string, any][] };
      assert.deepEqual(meta.items[0]![1], { list: [1, 2 ** 70] });
    });
  }

  it("a file with Python floats: plain torch.load reads it; torch 1.x's weights_only unpickler lacks BINFLOAT, nothing else", (t) => {
    if (!res.out) return t.skip(res.reason);
    const r = res.out[files.floats];
    assert.deepEqual(r.plain.items.slice(0, 2), [
      ["lr", { float: 1e-4 }],
      ["betas", { tuple: [{ float: 0.9 }, { float: 0.999 }] }],
    ]);
    // torch 1.13's weights_only unpickler has no BINFLOAT (opcode 71); torch ≥ 2.0 has it. Every other opcode and every global is allowed.
    assert.deepEqual(r.inspect.opcodes_outside_weights_only_113, ["BINFLOAT"]);
    assert.deepEqual(r.inspect.globals_outside_allow_list, []);
    if (r.weights_only_error !== undefined) assert.match(r.weights_only_error, /Unsupported operand 71/);
  });
});

// ---------------------------------------------------------------------------
// The legacy (pre-1.6, non-zip) format

describe("saveTorchCheckpoint { format: 'legacy' }", () => {
  /** Two state-dict entries per dtype plus enough storages (> 10) that string-sorted keys differ from numeric order. */
  const legacySample = () => {
    const { tensors } = sample();
    const many = new Map<string, TorchValue>(tensors);
    for (let i = 0; i < 9; i++) many.set(`extra${i}`, new TorchTensor("float32", [i + 1], Float32Array.from({ length: i + 1 }, (_, j) => i * 10 + j)));
    many.set("num_batches_tracked", new TorchTensor("int64", [], BigInt64Array.of(123456789012n)));
    return many as Map<string, TorchTensor>;
  };

  it("round trip through the restricted reader: read as legacy, every tensor bit-identical (int64 included)", () => {
    const tensors = legacySample();
    const path = join(tmp, "legacy.pt");
    saveTorchCheckpoint(path, new TorchOrderedDict(tensors), { format: "legacy" });
    const buf = readFileSync(path);
    assert.equal(buf[0], 0x80, "starts with a pickle (no zip header)");
    const { stateDict, format } = loadTorchStateDict(path);
    assert.equal(format, "legacy");
    assert.deepEqual([...stateDict.keys()], [...tensors.keys()]);
    for (const [k, t] of tensors) {
      const g = stateDict.get(k)!;
      assert.equal(g.dtype, ST_DTYPE[t.dtype], `${k}: dtype`);
      assert.deepEqual(g.shape, [...t.shape], `${k}: shape`);
      assert.ok(bytesOf(g.data).equals(bytesOf(t.data)), `${k}: bytes differ`);
    }
    // deterministic: the same value gives the same bytes
    const again = join(tmp, "legacy2.pt");
    saveTorchCheckpoint(again, new TorchOrderedDict(legacySample()), { format: "legacy" });
    assert.ok(readFileSync(again).equals(buf));
  });

  it("the file is the five pickles of torch's _legacy_save, then int64 counts + bytes in string-sorted key order", () => {
    const path = join(tmp, "legacy-layout.pt");
    const a = new TorchTensor("float32", [2], Float32Array.of(1.5, -2));
    const b = new TorchTensor("int64", [], BigInt64Array.of(7n));
    saveTorchCheckpoint(path, { a, b }, { format: "legacy" });
    const buf = readFileSync(path);
    let at = 0;
    const next = () => {
      const r = unpickle(buf.subarray(at), { source: "legacy", globals: LEGACY_TEST_GLOBALS, persistentLoad: (pid) => (pid as unknown[]).map((x) => (x instanceof PyGlobal ? x.fullName : x)) });
      at += r.end;
      return r.value;
    };
    assert.equal(next(), 0x1950a86a20f9469cfc6cn); // MAGIC_NUMBER
    assert.equal(next(), 1001); // PROTOCOL_VERSION
    assert.deepEqual(next(), new Map<string, unknown>([["protocol_version", 1001], ["little_endian", true], ["type_sizes", new Map([["short", 2], ["int", 4], ["long", 4]])]]));
    // the object: tensors are _rebuild_tensor_v2(persistent id, offset, size, stride, requires_grad, hooks), ids with view_metadata None
    const rebuilt = next() as Map<string, { rebuild: unknown[] }>;
    assert.deepEqual([...rebuilt.keys()], ["a", "b"]);
    assert.deepEqual(rebuilt.get("a")!.rebuild.slice(0, 5), [["storage", "torch.FloatStorage", "0", "cpu", 2, null], 0, [2], [1], false]);
    assert.deepEqual(rebuilt.get("b")!.rebuild.slice(0, 5), [["storage", "torch.LongStorage", "1", "cpu", 1, null], 0, [], [], false]);
    assert.deepEqual(next(), ["0", "1"]);
    assert.equal(buf.readBigInt64LE(at), 2n);
    assert.deepEqual([buf.readFloatLE(at + 8), buf.readFloatLE(at + 12)], [1.5, -2]);
    assert.equal(buf.readBigInt64LE(at + 16), 1n);
    assert.equal(buf.readBigInt64LE(at + 24), 7n);
    assert.equal(buf.length, at + 32);
  });

  it("rejects an unknown format before touching the disk", () => {
    const path = join(tmp, "bad-format.pt");
    assert.throws(() => saveTorchCheckpoint(path, { x: TorchTensor.scalar(1) }, { format: "tar" as never }), /unknown format 'tar'/);
    assert.ok(!existsSync(path));
  });

  it("real PyTorch's torch.load reads it (plain and weights_only): same keys, dtypes, shapes and sums", (t) => {
    const tensors = legacySample();
    const path = join(tmp, "legacy-py.pt");
    saveTorchCheckpoint(path, new TorchOrderedDict(tensors), { format: "legacy" });
    const res = runTorchLoadLegacy(path);
    if (!res.out) return t.skip(res.reason);
    for (const mode of ["plain", "weights_only"] as const) {
      assert.equal(res.out[`${mode}_error`], undefined, String(res.out[`${mode}_error`]));
      const got = res.out[mode] as { type: string; items: [string, { dtype: string; shape: number[]; sum: number | string }][] };
      assert.equal(got.type, "OrderedDict");
      assert.deepEqual(got.items.map(([k]) => k), [...tensors.keys()]);
      for (const [k, g] of got.items) {
        const want = tensors.get(k)!;
        assert.equal(g.dtype, want.dtype, `${mode} ${k}: dtype`);
        assert.deepEqual(g.shape, [...want.shape], `${mode} ${k}: shape`);
        if (want.dtype === "float16") continue;
        const sum = Array.from(want.data as ArrayLike<number | bigint>, Number).reduce((a, b) => a + b, 0);
        if (Number.isFinite(sum)) assert.ok(Math.abs((g.sum as number) - sum) <= 1e-9 * Math.max(1, Math.abs(sum)), `${mode} ${k}: sum ${g.sum} vs ${sum}`);
        else assert.equal(g.sum, Number.isNaN(sum) ? "nan" : sum > 0 ? "inf" : "-inf", `${mode} ${k}: sum`);
      }
    }
  });
});

/** The reader's data-only globals, plus stand-ins that show how tensors and storages were pickled. */
const LEGACY_TEST_GLOBALS: GlobalTable = {
  ...SAFE_GLOBALS,
  "torch._utils._rebuild_tensor_v2": { call: (args) => ({ rebuild: args }) },
  "torch.FloatStorage": { tag: "FloatStorage" },
  "torch.LongStorage": { tag: "LongStorage" },
};

/** torch.load a legacy file under Debian's PyTorch; null and the reason when python or torch is absent. */
function runTorchLoadLegacy(path: string): { out: Record<string, any> | null; reason: string } {
  const python = process.env.DIT_TEST_PYTHON ?? "/usr/bin/python3";
  if (!existsSync(python)) return { out: null, reason: `${python} not found (the PyTorch cross-check needs Debian's python3-torch)` };
  const script = [
    "import sys, json, torch",
    "fin = lambda v: v if v == v and v not in (float('inf'), float('-inf')) else repr(v)",
    "def d(x):",
    "    return {'dtype': str(x.dtype).replace('torch.', ''), 'shape': list(x.shape), 'sum': fin(float(x.double().sum())) if x.numel() else 0.0}",
    "out = {}",
    "for mode, wo in (('plain', False), ('weights_only', True)):",
    "    try:",
    "        obj = torch.load(sys.argv[1], weights_only=wo)",
    "        out[mode] = {'type': type(obj).__name__, 'items': [[k, d(v)] for k, v in obj.items()]}",
    "    except Exception as e:",
    "        out[mode + '_error'] = str(e)[-300:]",
    "print(json.dumps(out))",
  ].join("\n");
  const r = spawnSync(python, ["-c", script, path], { encoding: "utf8", maxBuffer: 16 << 20, env: { ...process.env, OMP_NUM_THREADS: "1" } });
  if (r.status !== 0 && /No module named '(torch|numpy)'/.test(r.stderr)) return { out: null, reason: `PyTorch is not importable by ${python} (Debian: apt-get install python3-torch)` };
  if (r.status !== 0) throw new Error(`torch.load of ${path} failed (exit ${r.status}):\n${r.stderr}`);
  return { out: JSON.parse(r.stdout) as Record<string, any>, reason: "" };
}
