import { DitError } from "../errors.js";
/**
 * A small pickle writer (protocol 2, what `torch.save` uses), the inverse of
 * the restricted reader in ./pickle.ts for the values a checkpoint holds.
 *
 * JavaScript values map to Python as follows: null → None, boolean → bool,
 * integer number or bigint → int, other number → float (`pyFloat(x)` forces a
 * float, e.g. `1.0`), string → str, Array → list, `PyTuple` → tuple, Map or
 * plain object → dict (insertion order), `PyOrderedDict` →
 * `collections.OrderedDict`, `PyGlobalRef` → a global (`module.name`),
 * `PyReduce` → `callable(*args)` and `PyPersistentId` → a persistent id (how
 * torch.save points tensors at their storages).
 *
 * Only the protocol-2 opcodes CPython itself emits for these values are
 * written (EMPTY_DICT + SETITEMS, EMPTY_LIST + APPENDS, TUPLE1/2/3, BINUNICODE,
 * BININT*, LONG1, BINFLOAT, GLOBAL, REDUCE, BINPERSID), so torch 1.13's
 * `weights_only` unpickler accepts the result. No memo is written: shared
 * objects are written once per reference.
 */

/** Thrown for a value the writer cannot pickle; names the path to it. */
export class PickleWriteError extends DitError {
  constructor(message: string) {
    super(message);
    this.name = "PickleWriteError";
  }
}

/** A Python tuple (a plain Array is a list). */
export class PyTuple {
  constructor(readonly items: readonly PyValue[]) {}
}

/** A Python float, even when the value is integral (`pyFloat(0)` is `0.0`). */
export class PyFloat {
  constructor(readonly value: number) {}
}

/** A `collections.OrderedDict` (what `state_dict()` returns). */
export class PyOrderedDict {
  constructor(readonly entries: ReadonlyMap<PyKey, PyValue>) {}
}

/** A Python global, `module.name` (a class or function), written with GLOBAL. */
export class PyGlobalRef {
  constructor(
    readonly module: string,
    readonly name: string,
  ) {
    for (const s of [module, name]) {
      if (!/^[A-Za-z_][\w.]*$/.test(s)) throw new PickleWriteError(`invalid Python global name '${module}.${name}'`);
    }
  }
}

/** `callable(*args)`, written as REDUCE. */
export class PyReduce {
  constructor(
    readonly callable: PyGlobalRef,
    readonly args: PyTuple,
  ) {}
}

/** A persistent id (BINPERSID); the loader's `persistent_load` resolves it. */
export class PyPersistentId {
  constructor(readonly id: PyValue) {}
}

/** Dict keys: hashable values. */
export type PyKey = string | number | bigint | boolean | null | PyTuple | PyFloat;

/** Every value the writer can pickle (plain objects are dicts with string keys). */
export type PyValue =
  | null
  | boolean
  | number
  | bigint
  | string
  | PyTuple
  | PyFloat
  | PyOrderedDict
  | PyGlobalRef
  | PyReduce
  | PyPersistentId
  | readonly PyValue[]
  | ReadonlyMap<PyKey, PyValue>
  | { readonly [key: string]: PyValue };

export const tuple = (...items: PyValue[]): PyTuple => new PyTuple(items);
export const pyFloat = (x: number): PyFloat => new PyFloat(x);

/** Python's batch size for APPENDS / SETITEMS. */
const BATCH = 1000;

const OP = {
  PROTO: 0x80,
  STOP: 0x2e,
  NONE: 0x4e,
  NEWTRUE: 0x88,
  NEWFALSE: 0x89,
  BININT: 0x4a,
  BININT1: 0x4b,
  BININT2: 0x4d,
  LONG1: 0x8a,
  BINFLOAT: 0x47,
  BINUNICODE: 0x58,
  EMPTY_TUPLE: 0x29,
  TUPLE1: 0x85,
  TUPLE2: 0x86,
  TUPLE3: 0x87,
  TUPLE: 0x74,
  MARK: 0x28,
  EMPTY_LIST: 0x5d,
  APPEND: 0x61,
  APPENDS: 0x65,
  EMPTY_DICT: 0x7d,
  SETITEM: 0x73,
  SETITEMS: 0x75,
  GLOBAL: 0x63,
  REDUCE: 0x52,
  BINPERSID: 0x51,
} as const;

class ByteSink {
  private buf = new Uint8Array(1024);
  private n = 0;
  private ensure(k: number): void {
    if (this.n + k <= this.buf.length) return;
    let cap = this.buf.length * 2;
    while (cap < this.n + k) cap *= 2;
    const b = new Uint8Array(cap);
    b.set(this.buf.subarray(0, this.n));
    this.buf = b;
  }
  byte(b: number): void {
    this.ensure(1);
    this.buf[this.n++] = b;
  }
  bytes(b: Uint8Array): void {
    this.ensure(b.length);
    this.buf.set(b, this.n);
    this.n += b.length;
  }
  u16(v: number): void {
    this.byte(v & 0xff);
    this.byte((v >>> 8) & 0xff);
  }
  i32(v: number): void {
    const b = new Uint8Array(4);
    new DataView(b.buffer).setInt32(0, v, true);
    this.bytes(b);
  }
  u32(v: number): void {
    const b = new Uint8Array(4);
    new DataView(b.buffer).setUint32(0, v, true);
    this.bytes(b);
  }
  f64be(v: number): void {
    const b = new Uint8Array(8);
    new DataView(b.buffer).setFloat64(0, v, false);
    this.bytes(b);
  }
  result(): Uint8Array {
    return this.buf.slice(0, this.n);
  }
}

/** Two's-complement little-endian bytes of `v`, as short as Python's `encode_long` makes them. */
function encodeLong(v: bigint): Uint8Array {
  if (v === 0n) return new Uint8Array(0);
  const out: number[] = [];
  let x = v;
  for (;;) {
    out.push(Number(x & 0xffn));
    x >>= 8n; // arithmetic shift: -1 stays -1
    const signBit = (out[out.length - 1]! & 0x80) !== 0;
    if ((x === 0n && !signBit) || (x === -1n && signBit)) break;
  }
  return Uint8Array.from(out);
}

function isPlainObject(v: unknown): v is Record<string, PyValue> {
  if (typeof v !== "object" || v === null) return false;
  const proto = Object.getPrototypeOf(v) as unknown;
  return proto === Object.prototype || proto === null;
}

/**
 * Pickle `value` with protocol 2 (as `pickle.dumps(value, protocol=2)` would,
 * without the memo). Throws PickleWriteError naming the path of a value it
 * cannot write (undefined, a function, a cycle, a typed array, …).
 */
export function pickleDumps(value: PyValue): Uint8Array {
  const out = new ByteSink();
  const active = new Set<object>();
  out.byte(OP.PROTO);
  out.byte(2);

  const fail = (path: string, what: string): never => {
    throw new PickleWriteError(`cannot pickle ${what} at ${path || "the root"}`);
  };
  const int = (v: number | bigint) => {
    if (typeof v === "number" && v >= 0 && v < 0x100) {
      out.byte(OP.BININT1);
      out.byte(v);
    } else if (typeof v === "number" && v >= 0 && v < 0x10000) {
      out.byte(OP.BININT2);
      out.u16(v);
    } else if (typeof v === "number" && v >= -0x80000000 && v <= 0x7fffffff) {
      out.byte(OP.BININT);
      out.i32(v);
    } else {
      const b = encodeLong(BigInt(v));
      if (b.length > 255) throw new PickleWriteError(`int ${v} is too large for LONG1`);
      out.byte(OP.LONG1);
      out.byte(b.length);
      out.bytes(b);
    }
  };
  const str = (s: string) => {
    const b = Buffer.from(s, "utf8");
    out.byte(OP.BINUNICODE);
    out.u32(b.length);
    out.bytes(b);
  };
  const items = (path: string, list: readonly PyValue[]) => {
    // Python: one APPEND for a single item, else batches of MARK … APPENDS.
    for (let i = 0; i < list.length; i += BATCH) {
      const batch = list.slice(i, i + BATCH);
      if (batch.length === 1) {
        save(batch[0]!, `${path}[${i}]`);
        out.byte(OP.APPEND);
        continue;
      }
      out.byte(OP.MARK);
      batch.forEach((x, j) => save(x, `${path}[${i + j}]`));
      out.byte(OP.APPENDS);
    }
  };
  const setItems = (path: string, entries: [PyKey, PyValue][]) => {
    for (let i = 0; i < entries.length; i += BATCH) {
      const batch = entries.slice(i, i + BATCH);
      const one = (k: PyKey, v: PyValue) => {
        save(k, `${path} (key)`);
        save(v, `${path}[${JSON.stringify(typeof k === "bigint" ? String(k) : k)}]`);
      };
      if (batch.length === 1) {
        one(...batch[0]!);
        out.byte(OP.SETITEM);
        continue;
      }
      out.byte(OP.MARK);
      for (const [k, v] of batch) one(k, v);
      out.byte(OP.SETITEMS);
    }
  };
  const global = (g: PyGlobalRef) => {
    out.byte(OP.GLOBAL);
    out.bytes(Buffer.from(`${g.module}\n${g.name}\n`, "utf8"));
  };
  const enter = (obj: object, path: string) => {
    if (active.has(obj)) fail(path, "a value that contains itself (a cycle)");
    active.add(obj);
  };

  function save(v: PyValue, path: string): void {
    if (v === null) return out.byte(OP.NONE);
    switch (typeof v) {
      case "boolean":
        return out.byte(v ? OP.NEWTRUE : OP.NEWFALSE);
      case "bigint":
        return int(v);
      case "number":
        if (Number.isSafeInteger(v) && !Object.is(v, -0)) return int(v);
        out.byte(OP.BINFLOAT);
        return out.f64be(v);
      case "string":
        return str(v);
      case "object":
        break;
      default:
        return fail(path, `a ${typeof v}`);
    }
    if (v instanceof PyFloat) {
      out.byte(OP.BINFLOAT);
      return out.f64be(v.value);
    }
    if (v instanceof PyGlobalRef) return global(v);
    enter(v, path);
    try {
      if (v instanceof PyTuple) {
        const n = v.items.length;
        if (n === 0) return out.byte(OP.EMPTY_TUPLE);
        if (n > 3) out.byte(OP.MARK);
        v.items.forEach((x, i) => save(x, `${path}[${i}]`));
        return out.byte(n === 1 ? OP.TUPLE1 : n === 2 ? OP.TUPLE2 : n === 3 ? OP.TUPLE3 : OP.TUPLE);
      }
      if (Array.isArray(v)) {
        out.byte(OP.EMPTY_LIST);
        return items(path, v as readonly PyValue[]);
      }
      if (v instanceof Map) {
        out.byte(OP.EMPTY_DICT);
        return setItems(path, [...(v as ReadonlyMap<PyKey, PyValue>)]);
      }
      if (v instanceof PyOrderedDict) {
        global(new PyGlobalRef("collections", "OrderedDict"));
        out.byte(OP.EMPTY_TUPLE);
        out.byte(OP.REDUCE);
        return setItems(path, [...v.entries]);
      }
      if (v instanceof PyReduce) {
        global(v.callable);
        save(v.args, `${path} (arguments of ${v.callable.module}.${v.callable.name})`);
        return out.byte(OP.REDUCE);
      }
      if (v instanceof PyPersistentId) {
        save(v.id, `${path} (persistent id)`);
        return out.byte(OP.BINPERSID);
      }
      if (isPlainObject(v)) {
        out.byte(OP.EMPTY_DICT);
        return setItems(path, Object.entries(v));
      }
      return fail(path, `an object of type ${(v as object).constructor?.name ?? "unknown"}`);
    } finally {
      active.delete(v);
    }
  }

  save(value, "");
  out.byte(OP.STOP);
  return out.result();
}
