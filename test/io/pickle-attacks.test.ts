/**
 * The pickle allow-list attacked on purpose: hand-built pickles (test/io/pickle-builder.ts, no
 * Python needed) of the known bypass shapes — forbidden GLOBAL / STACK_GLOBAL, forbidden callables
 * reached through an allowed module's attributes, REDUCE / BUILD / NEWOBJ / NEWOBJ_EX / INST / OBJ
 * with hostile arguments, PERSID games, memo confusion, and zips whose record names escape the
 * archive. Every payload would create a sentinel file if its code ran; each must be refused with a
 * PickleError / TorchCheckpointError, the sentinel must not exist, and Object.prototype must stay
 * clean. A few payloads are also given to real `torch.load(weights_only=False)` (skipped when
 * /usr/bin/python3 has no torch) to prove that they DO create the sentinel when executed.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { PickleError, unpickle } from "../../src/io/pickle.js";
import { loadTorchCheckpoint, TORCH_GLOBALS, torchPersistentLoad, TorchCheckpointError } from "../../src/io/torch-checkpoint.js";
import { buildZip, OP, pickle, type PickleBuilder } from "./pickle-builder.js";

const tmp = mkdtempSync(join(tmpdir(), "dit-pickle-attacks-"));
after(() => rmSync(tmp, { recursive: true, force: true }));

const sentinel = (name: string) => join(tmp, `sentinel-${name.replace(/[^\w-]/g, "_")}`);
const shell = (name: string) => `touch ${sentinel(name)}`;
const py = (name: string) => `open(${JSON.stringify(sentinel(name))}, 'w').write('ran')`;

/** `callable(arg)` through REDUCE, the callable pushed by `push`. */
const call1 = (b: PickleBuilder, push: (b: PickleBuilder) => void, arg: string) => {
  push(b);
  b.str(arg).op(OP.TUPLE1, OP.REDUCE);
  return b;
};

interface Attack {
  name: string;
  /** The pickle (STOP included); loaded as a zip's data.pkl when `zip` is set, else as a raw pickle. */
  build: (name: string) => Uint8Array;
  /** Record names of a zip archive around the pickle (default: a raw pickle). */
  zip?: (pkl: Uint8Array) => Uint8Array;
  /** Expected refusal message fragment. */
  refusal: RegExp;
  /** Also run through real torch.load to prove the payload works in Python. */
  python?: "legacy" | "zip";
}

const torchZip = (pkl: Uint8Array, names: { pkl?: string; extra?: [string, Uint8Array][] } = {}) =>
  buildZip([
    { name: names.pkl ?? "archive/data.pkl", data: pkl },
    { name: "archive/version", data: Buffer.from("3\n") },
    ...(names.extra ?? []).map(([name, data]) => ({ name, data })),
  ]).bytes;

const FORBIDDEN: [string, string, "shell" | "py"][] = [
  ["os", "system", "shell"],
  ["posix", "system", "shell"],
  ["nt", "system", "shell"],
  ["builtins", "eval", "py"],
  ["builtins", "exec", "py"],
  ["__builtin__", "eval", "py"], // py2 name, mapped to builtins like Python does
  ["subprocess", "getoutput", "shell"],
  ["torch.storage", "_load_from_bytes", "py"], // calls torch.load on attacker bytes
  ["torch.serialization", "load", "py"],
  ["numpy.core.multiarray", "_reconstruct", "py"],
];

const attacks: Attack[] = [];
const refused = /not in the allow-list/;

for (const [mod, name, kind] of FORBIDDEN) {
  attacks.push({
    name: `GLOBAL ${mod}.${name}`,
    build: (n) => call1(pickle().proto(2), (b) => b.global(mod, name), kind === "shell" ? shell(n) : py(n)).stop().bytes(),
    refusal: refused,
    python: mod === "os" ? "legacy" : mod === "builtins" && name === "eval" ? "zip" : undefined,
  });
  attacks.push({
    name: `STACK_GLOBAL ${mod}.${name}`,
    build: (n) => call1(pickle().proto(4), (b) => b.stackGlobal(mod, name), kind === "shell" ? shell(n) : py(n)).stop().bytes(),
    refusal: refused,
  });
}

// subprocess.Popen(['touch', path]); builtins.getattr(builtins.__import__('os'), 'system')(cmd)
attacks.push({
  name: "subprocess.Popen with an argv list",
  build: (n) => pickle().proto(2).global("subprocess", "Popen").op(OP.EMPTY_LIST, OP.MARK).str("touch").str(sentinel(n)).op(OP.APPENDS, OP.TUPLE1, OP.REDUCE).stop().bytes(),
  refusal: refused,
});
attacks.push({
  name: "getattr(__import__('os'), 'system')(cmd)",
  build: (n) =>
    call1(pickle().proto(2), (b) => call1(b.global("builtins", "getattr"), (c) => c.global("builtins", "__import__"), "os").str("system").op(OP.TUPLE2, OP.REDUCE), shell(n)).stop().bytes(),
  refusal: refused,
});

// Forbidden callables reached through an allowed module's attributes (protocol 4 dotted names).
for (const [mod, name] of [
  ["torch._utils", "torch.os.system"],
  ["torch._utils", "_rebuild_tensor_v2.__globals__"],
  ["torch._utils", "_rebuild_tensor_v2.__builtins__"],
  ["collections", "OrderedDict.__class__"],
  ["collections", "OrderedDict.__init__.__globals__"],
  ["collections", "os.system"],
  ["builtins", "dict.__class__.__subclasses__"],
  ["argparse", "_os.system"],
  ["_codecs", "encode.__self__"],
  ["torch", "_utils._rebuild_tensor_v2.__globals__"],
  ["collections.OrderedDict", "constructor"],
  ["", "constructor"],
  ["__proto__", "toString"],
  ["collections", "OrderedDict "],
  ["collections ", "OrderedDict"],
  ["сollections", "OrderedDict"], // Cyrillic 'с'
] as const) {
  attacks.push({
    name: `STACK_GLOBAL '${mod}' '${name}' (attribute chain)`,
    build: (n) => call1(pickle().proto(4), (b) => b.stackGlobal(mod, name), shell(n)).stop().bytes(),
    refusal: refused,
    python: mod === "torch._utils" && name === "torch.os.system" ? "legacy" : undefined,
  });
}
attacks.push({
  name: "GLOBAL with a dotted name 'torch._utils' 'torch.os.system'",
  build: (n) => call1(pickle().proto(2), (b) => b.global("torch._utils", "torch.os.system"), shell(n)).stop().bytes(),
  refusal: refused,
});

// REDUCE / BUILD / NEWOBJ / NEWOBJ_EX / INST / OBJ on allowed classes with hostile arguments.
const od = (b: PickleBuilder) => b.global("collections", "OrderedDict");
attacks.push({
  name: "REDUCE OrderedDict(non-pairs) with a payload string",
  build: (n) => call1(pickle().proto(2), od, shell(n)).stop().bytes(),
  refusal: /not a list of pairs/,
});
attacks.push({
  name: "NEWOBJ on a function (_rebuild_tensor_v2)",
  build: (n) => pickle().proto(2).global("torch._utils", "_rebuild_tensor_v2").str(shell(n)).op(OP.TUPLE1, OP.NEWOBJ).stop().bytes(),
  refusal: /cannot be instantiated/,
});
attacks.push({
  name: "NEWOBJ_EX with keyword arguments",
  build: (n) => od(pickle().proto(4)).op(OP.EMPTY_TUPLE).emptyDict().str("__proto__").str(shell(n)).op(OP.SETITEM, OP.NEWOBJ_EX).stop().bytes(),
  refusal: /keyword arguments/,
});
attacks.push({
  name: "BUILD on a class object (OrderedDict.__call__ = …)",
  build: (n) => od(pickle().proto(2)).emptyDict().str("impl").str(shell(n)).op(OP.SETITEM, OP.BUILD).stop().bytes(),
  refusal: /cannot BUILD/,
});
attacks.push({
  name: "BUILD on a tensor reference (shape / stride rewritten after validation)",
  build: () =>
    pickle()
      .proto(2)
      .global("torch._utils", "_rebuild_tensor_v2")
      .mark()
      .mark().str("storage").global("torch", "FloatStorage").str("0").str("cpu").int(4).op(OP.TUPLE, OP.BINPERSID)
      .int(0).tuple((t) => t.int(4)).tuple((t) => t.int(1)).bool(false).op(OP.EMPTY_TUPLE)
      .op(OP.TUPLE, OP.REDUCE)
      .emptyDict().str("shape").tuple((t) => t.int(10 ** 12)).op(OP.SETITEM).str("stride").tuple((t) => t.int(0)).op(OP.SETITEM)
      .op(OP.BUILD)
      .stop()
      .bytes(),
  refusal: /cannot BUILD/,
});
attacks.push({
  name: "_rebuild_from_type_v2 with a non-rebuild func (OrderedDict)",
  build: (n) =>
    pickle().proto(2).global("torch._tensor", "_rebuild_from_type_v2").mark().op(OP.MARK).global("collections", "OrderedDict").op(OP.POP_MARK)
      .global("collections", "OrderedDict").global("torch", "Tensor").tuple((t) => t.str(shell(n))).emptyDict().op(OP.TUPLE, OP.REDUCE).stop().bytes(),
  refusal: /not a torch._utils tensor rebuild/,
});
attacks.push({
  name: "_rebuild_from_type_v2 with a tensor subclass",
  build: (n) =>
    pickle().proto(2).global("torch._tensor", "_rebuild_from_type_v2").mark()
      .global("torch._utils", "_rebuild_tensor_v2").global("torch.nn", "Module").tuple((t) => t.str(shell(n))).emptyDict().op(OP.TUPLE, OP.REDUCE).stop().bytes(),
  refusal: refused,
});
attacks.push({
  name: "INST os system",
  build: (n) => pickle().mark().str(shell(n)).op(OP.INST).raw(Buffer.from("os\nsystem\n")).stop().bytes(),
  refusal: refused,
});
attacks.push({
  name: "INST of an allowed class that cannot be instantiated (builtins.tuple)",
  build: (n) => pickle().mark().str(shell(n)).op(OP.INST).raw(Buffer.from("builtins\ntuple\n")).stop().bytes(),
  refusal: /cannot be instantiated/,
});
attacks.push({
  name: "OBJ os.system",
  build: (n) => pickle().proto(2).mark().global("os", "system").str(shell(n)).op(OP.OBJ).stop().bytes(),
  refusal: refused,
});
attacks.push({
  name: "OBJ with a string for a class",
  build: (n) => pickle().proto(2).mark().str("os.system").str(shell(n)).op(OP.OBJ).stop().bytes(),
  refusal: /not an allow-listed class/,
});

// PERSID / BINPERSID games (raw pickles: the data.pkl loader's persistent_load).
for (const [label, pid] of [
  ["a str, not a ('storage', …) tuple", (b: PickleBuilder) => b.str("storage")],
  ["a ('module', …) tuple", (b: PickleBuilder) => b.tuple((t) => t.str("module").str("os").str("system"))],
  ["storage type os.system", (b: PickleBuilder) => b.tuple((t) => t.str("storage").global("os", "system").str("0").str("cpu").int(1))],
  ["storage type builtins.dict (allowed, not a storage)", (b: PickleBuilder) => b.tuple((t) => t.str("storage").global("builtins", "dict").str("0").str("cpu").int(1))],
  ["storage key not a str", (b: PickleBuilder) => b.tuple((t) => t.str("storage").global("torch", "FloatStorage").int(0).str("cpu").int(1))],
] as const) {
  attacks.push({
    name: `BINPERSID ${label}`,
    build: (n) => pid(pickle().proto(2)).op(OP.BINPERSID).str(shell(n)).op(OP.POP).stop().bytes(),
    refusal: /persistent id|not a torch storage class|not in the allow-list|storage key is not a string/,
  });
}
attacks.push({
  name: "PERSID (protocol 0 text id)",
  build: (n) => pickle().op(OP.PERSID).raw(Buffer.from(`${shell(n)}\n`)).stop().bytes(),
  refusal: /persistent id/,
});

// Memo confusion.
attacks.push({
  name: "GET of a memoized forbidden global",
  build: (n) => call1(pickle().proto(2).global("os", "system").put(0).op(OP.POP), (b) => b.get(0), shell(n)).stop().bytes(),
  refusal: refused,
});
attacks.push({
  name: "PUT overwrite: an allowed callable's memo slot replaced by a string, then called",
  build: (n) => call1(od(pickle().proto(2)).put(0).op(OP.POP).str("os.system").put(0).op(OP.POP), (b) => b.get(0), shell(n)).stop().bytes(),
  refusal: /not an allow-listed callable/,
});
attacks.push({
  name: "STACK_GLOBAL from memoized strings ('os', 'system')",
  build: (n) => call1(pickle().proto(4).str("os").put(0).str("system").put(1).op(OP.POP, OP.POP), (b) => b.get(0).get(1).op(OP.STACK_GLOBAL), shell(n)).stop().bytes(),
  refusal: refused,
});
attacks.push({
  name: "GET of a missing memo key",
  build: (n) => call1(pickle().proto(2), (b) => b.get(7), shell(n)).stop().bytes(),
  refusal: /memo key 7 is missing/,
});
attacks.push({
  name: "text GET with a negative key",
  build: (n) => call1(pickle(), (b) => b.op(OP.GET).raw(Buffer.from("-1\n")), shell(n)).stop().bytes(),
  refusal: /memo key -1 is missing/,
});

// Zips whose data.pkl path or record names escape the archive; each data.pkl runs os.system.
const payload = (n: string) => call1(pickle().proto(2), (b) => b.global("os", "system"), shell(n)).stop().bytes();
const benign = pickle().proto(2).emptyDict().stop().bytes();
for (const [label, zip] of [
  ["data.pkl at ../../x/data.pkl", (p: Uint8Array) => torchZip(p, { pkl: "../../x/data.pkl" })],
  ["data.pkl at ../data.pkl", (p: Uint8Array) => torchZip(p, { pkl: "../data.pkl" })],
  ["data.pkl at an absolute path", (p: Uint8Array) => torchZip(p, { pkl: "/tmp/data.pkl" })],
  ["data.pkl with a Windows drive", (p: Uint8Array) => torchZip(p, { pkl: "C:/archive/data.pkl" })],
  ["data.pkl with backslashes", (p: Uint8Array) => torchZip(p, { pkl: "archive\\..\\data.pkl" })],
  ["a record escaping through archive/../", (p: Uint8Array) => torchZip(p, { extra: [["archive/../../../etc/cron.d/x", Buffer.from("x")]] })],
  ["a storage record named archive/data/../../x", (p: Uint8Array) => torchZip(p, { extra: [["archive/data/../../x", new Uint8Array(4)]] })],
  ["records under another prefix", (p: Uint8Array) => torchZip(p, { extra: [["other/data/0", new Uint8Array(4)]] })],
  ["two data.pkl records of one name (benign + payload)", (p: Uint8Array) => buildZip([{ name: "archive/data.pkl", data: benign }, { name: "archive/data.pkl", data: p }, { name: "archive/version", data: Buffer.from("3\n") }]).bytes],
  ["two data.pkl under two prefixes", (p: Uint8Array) => buildZip([{ name: "a/data.pkl", data: benign }, { name: "b/data.pkl", data: p }]).bytes],
  ["a record name with a NUL byte", (p: Uint8Array) => torchZip(p, { extra: [["archive/data/0\u0000.sh", new Uint8Array(4)]] })],
] as const) {
  attacks.push({ name: `zip: ${label}`, build: payload, zip, refusal: /escapes the archive|outside the archive folder|two records named|data\.pkl records/ });
}
// The payload itself inside a well-formed zip (also run through real torch.load below).
attacks.push({ name: "zip: os.system in a well-formed archive's data.pkl", build: payload, zip: (p) => torchZip(p), refusal: refused, python: "zip" });

function fileOf(a: Attack): string {
  const pkl = a.build(a.name);
  const path = join(tmp, `${a.name.replace(/[^\w-]/g, "_").slice(0, 80)}${a.zip ? ".pt" : ".pkl"}`);
  writeFileSync(path, a.zip ? a.zip(pkl) : pkl);
  return path;
}

function load(a: Attack, path: string): unknown {
  if (a.zip) return loadTorchCheckpoint(path);
  return unpickle(new Uint8Array(readFileSync(path)), { source: path, globals: TORCH_GLOBALS, persistentLoad: torchPersistentLoad() }).value;
}

describe("pickle allow-list attacks", () => {
  it(`has a table of ${attacks.length} attacks`, () => assert.ok(attacks.length >= 60, String(attacks.length)));
  for (const a of attacks) {
    it(`refuses unexecuted: ${a.name}`, () => {
      const path = fileOf(a);
      assert.throws(
        () => load(a, path),
        (e: unknown) => {
          assert.ok(e instanceof PickleError || e instanceof TorchCheckpointError, `not a typed refusal: ${String(e)}`);
          assert.match(e.message, a.refusal);
          assert.ok(e.message.includes(path), `the message does not name the file: ${e.message}`);
          return true;
        },
      );
      assert.equal(existsSync(sentinel(a.name)), false, "the payload ran");
      assert.equal(({} as Record<string, unknown>).polluted, undefined);
    });
  }
});

describe("hostile data that is loaded as inert data", () => {
  const pollute = () => pickle().emptyDict().str("polluted").bool(true).op(OP.SETITEM);
  it("a dict key '__proto__' stays a Map key", () => {
    const b = pickle().proto(2).emptyDict().str("__proto__").raw(pollute().bytes()).op(OP.SETITEM);
    const v = unpickle(b.stop().bytes(), { source: "x" }).value as Map<string, unknown>;
    assert.ok(v instanceof Map && v.get("__proto__") instanceof Map);
    assert.equal(({} as Record<string, unknown>).polluted, undefined);
  });
  for (const key of ["__proto__", "constructor", "__class__"]) {
    it(`argparse.Namespace BUILD with a '${key}' attribute: an own property, the prototype untouched`, () => {
      const b = pickle().proto(2).global("argparse", "Namespace").op(OP.EMPTY_TUPLE, OP.NEWOBJ).emptyDict().str(key).raw(pollute().bytes()).op(OP.SETITEM, OP.BUILD);
      const ns = unpickle(b.stop().bytes(), { source: "x" }).value as Record<string, unknown>;
      assert.equal(Object.getPrototypeOf(ns), Object.prototype);
      assert.ok(Object.prototype.hasOwnProperty.call(ns, key));
      assert.equal(({} as Record<string, unknown>).polluted, undefined);
      assert.equal((Object.prototype as Record<string, unknown>).polluted, undefined);
    });
  }
  it("OrderedDict BUILD with a state setting __class__ / __proto__ is dropped (instance attributes)", () => {
    const b = od(pickle().proto(2)).op(OP.EMPTY_TUPLE, OP.REDUCE).emptyDict().str("__class__").global("collections", "OrderedDict").op(OP.SETITEM).str("__proto__").raw(pollute().bytes()).op(OP.SETITEM, OP.BUILD);
    const v = unpickle(b.stop().bytes(), { source: "x" }).value;
    assert.ok(v instanceof Map && v.size === 0);
    assert.equal(({} as Record<string, unknown>).polluted, undefined);
  });
});

describe("the payloads run under real torch.load (so this test can fail)", () => {
  const python = "/usr/bin/python3";
  // find_spec, not `import torch`: the probe must not cost the seconds an import takes
  const probe = existsSync(python) ? spawnSync(python, ["-c", "import importlib.util, sys; sys.exit(importlib.util.find_spec('torch') is None)"], { timeout: 30_000 }) : null;
  const skip = !probe ? `${python} not found` : probe.status !== 0 ? `${python} has no torch module` : false;
  const cross = attacks.filter((a) => a.python);
  it(`torch.load(weights_only=False) creates the sentinel for ${cross.length} payloads`, { skip }, () => {
    const box = mkdtempSync(join(tmp, "sandbox-"));
    const files = cross.map((a) => {
      const pkl = a.build(`py-${a.name}`);
      const path = join(box, `${a.name.replace(/[^\w-]/g, "_").slice(0, 60)}.pt`);
      writeFileSync(path, a.python === "zip" ? torchZip(pkl) : pkl);
      return path;
    });
    const script = `import sys, torch\nfor p in sys.argv[1:]:\n    try:\n        torch.load(p, weights_only=False)\n    except Exception as e:\n        print(type(e).__name__, e)\n`;
    const r = spawnSync(python, ["-c", script, ...files], { cwd: box, encoding: "utf8", timeout: 60_000 });
    assert.equal(r.status, 0, r.stderr);
    for (const a of cross) assert.ok(existsSync(sentinel(`py-${a.name}`)), `torch.load did not run ${a.name}: ${r.stdout}`);
  });
});
