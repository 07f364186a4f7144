import { DitError } from "../errors.js";
/**
 * A restricted unpickler (pickle protocols 0–5) that never executes code from
 * the file.
 *
 * Python's pickle is a small stack machine whose GLOBAL / REDUCE / NEWOBJ / BUILD
 * opcodes normally import and call arbitrary Python callables. Here every
 * global is looked up in an allow-list of TypeScript implementations (a
 * `GlobalTable`); anything else is refused with an error naming the global.
 * Nothing in the file is ever evaluated: allow-listed "calls" run only the
 * TypeScript code registered for them.
 *
 * Python values map to JavaScript as follows: None → null, bool → boolean,
 * int → number (bigint when outside the safe-integer range), float → number,
 * str → string, bytes / bytearray → Uint8Array, tuple and list → Array,
 * dict / OrderedDict → Map (keys as above, so `{0: …}` keeps its number key),
 * set / frozenset → Set, argparse.Namespace → a plain object.
 */

/** Thrown for malformed, truncated or refused pickle data; names the source and the byte offset. */
export class PickleError extends DitError {
  constructor(
    readonly source: string,
    message: string,
    /** The message already names the source. */
    named = false,
  ) {
    super(named ? message : `${source}: ${message}`);
    this.name = "PickleError";
  }
}

/**
 * Random-access bytes the unpickler reads from (a buffer, or a window onto a
 * file so that pickles inside files over 2 GiB can be read).
 */
export interface ByteSource {
  readonly length: number;
  /** `n` bytes starting at `offset` (fewer only at the end of the source). */
  bytes(offset: number, n: number): Uint8Array;
  /** The byte at `offset`, or -1 past the end (optional fast path: a subarray per opcode is slow). */
  at?(offset: number): number;
}

/** A ByteSource over an in-memory buffer. */
export function bufferSource(buf: Uint8Array): ByteSource {
  return {
    length: buf.length,
    bytes: (offset, n) => buf.subarray(offset, Math.min(offset + n, buf.length)),
    at: (offset) => (offset < buf.length ? buf[offset]! : -1),
  };
}

/** What REDUCE (`call`), NEWOBJ / INST / OBJ (`construct`) and BUILD (`setState`) do with an allow-listed global. */
export interface GlobalImpl {
  /** `global(*args)` through REDUCE. */
  call?: (args: unknown[]) => unknown;
  /** `cls.__new__(cls, *args)` through NEWOBJ (and INST / OBJ). */
  construct?: (args: unknown[]) => unknown;
  /** BUILD on an object this global made; the default handles Maps and plain objects. */
  setState?: (obj: unknown, state: unknown) => void;
  /** Marker globals (storage types, classes only passed as arguments) carry their data here. */
  tag?: unknown;
}

/** A resolved, allow-listed global as it sits on the unpickler's stack (and in values, e.g. a storage type). */
export class PyGlobal {
  constructor(
    readonly module: string,
    readonly name: string,
    readonly impl: GlobalImpl,
  ) {}
  get fullName(): string {
    return `${this.module}.${this.name}`;
  }
}

/** Allow-list: `"module.name"` → implementation. */
export type GlobalTable = Readonly<Record<string, GlobalImpl>>;

export interface UnpickleOptions {
  /** Named in every error (usually the file, plus the entry inside it). */
  source: string;
  /** The allow-listed globals (defaults to SAFE_GLOBALS). */
  globals?: GlobalTable;
  /** Resolves persistent ids (PERSID / BINPERSID); without it they are refused. */
  persistentLoad?: (pid: unknown) => unknown;
  /** Byte offset to start at (for files holding several pickles back to back). */
  offset?: number;
}

/** Py2 module names that Python 3's unpickler maps to Python 3 ones (the few we allow). */
const PY2_MODULES: Record<string, string> = { __builtin__: "builtins", copy_reg: "copyreg" };

function typeCheck(cond: boolean, source: string, message: string): asserts cond {
  if (!cond) throw new PickleError(source, message);
}

/** Set a key on a plain object as an own data property (a `__proto__` key cannot reach the prototype). */
export function defineKey(obj: Record<string, unknown>, key: string, value: unknown): void {
  Object.defineProperty(obj, key, { value, enumerable: true, writable: true, configurable: true });
}

/** Apply a BUILD state to a Map (instance attributes, e.g. a state dict's `_metadata`, are dropped) or a plain object. */
function defaultSetState(obj: unknown, state: unknown, source: string, what: string): void {
  let dict = state;
  if (Array.isArray(state) && state.length === 2) {
    // (dict_state, slot_state)
    const [d, slots] = state as [unknown, unknown];
    if (slots instanceof Map) defaultSetState(obj, slots, source, what);
    dict = d;
  }
  if (dict === null) return;
  typeCheck(dict instanceof Map, source, `BUILD state for ${what} is not a dict`);
  if (obj instanceof Map) return;
  // Only plain objects (argparse.Namespace): never a class, a tensor reference, a set or a list, whose fields were validated when made.
  typeCheck(typeof obj === "object" && obj !== null && Object.getPrototypeOf(obj) === Object.prototype, source, `cannot BUILD ${what}`);
  for (const [k, v] of dict) {
    typeCheck(typeof k === "string", source, `BUILD state for ${what} has a non-string attribute name`);
    defineKey(obj as Record<string, unknown>, k, v);
  }
}

function toDict(x: unknown): Map<unknown, unknown> {
  const m = new Map<unknown, unknown>();
  if (x === undefined) return m;
  if (x instanceof Map) return new Map(x);
  if (!Array.isArray(x)) throw new Error("argument is not a list of pairs");
  for (const p of x) {
    if (!Array.isArray(p) || p.length !== 2) throw new Error("argument is not a list of pairs");
    m.set(p[0], p[1]);
  }
  return m;
}

/**
 * Pure-data globals that are safe to allow anywhere: containers, argparse
 * arguments (a train.py checkpoint's `args`) and `_codecs.encode` (how
 * protocol 2 stores Python 3 bytes).
 */
export const SAFE_GLOBALS: GlobalTable = {
  "collections.OrderedDict": {
    call: (args) => toDict(args[0]),
    construct: () => new Map(),
  },
  "builtins.dict": { call: (args) => toDict(args[0]), construct: () => new Map() },
  "builtins.list": { call: (args) => (args[0] === undefined ? [] : [...(args[0] as Iterable<unknown>)]), construct: () => [] },
  "builtins.tuple": { call: (args) => (args[0] === undefined ? [] : [...(args[0] as Iterable<unknown>)]) },
  "builtins.set": { call: (args) => new Set(args[0] === undefined ? [] : (args[0] as Iterable<unknown>)), construct: () => new Set() },
  "builtins.frozenset": { call: (args) => new Set(args[0] === undefined ? [] : (args[0] as Iterable<unknown>)) },
  "builtins.bytearray": {
    call: (args) => {
      if (args[0] === undefined) return new Uint8Array(0);
      if (args[0] instanceof Uint8Array) return new Uint8Array(args[0]);
      if (typeof args[0] === "string") return encodeString(args[0], String(args[1] ?? "latin1"));
      return Uint8Array.from(args[0] as Iterable<number>);
    },
  },
  "argparse.Namespace": {
    // Never called: the object is rebuilt from its saved attributes only.
    construct: () => ({}),
    call: (args) => {
      if (args.length) throw new Error("argparse.Namespace takes no positional arguments");
      return {};
    },
  },
  "_codecs.encode": { call: (args) => encodeString(args[0], String(args[1] ?? "utf-8")) },
};

function encodeString(s: unknown, encoding: string): Uint8Array {
  if (typeof s !== "string") throw new Error("_codecs.encode: first argument is not a str");
  const enc = encoding.toLowerCase().replace(/_/g, "-");
  if (enc === "latin1" || enc === "latin-1" || enc === "iso-8859-1") {
    const out = new Uint8Array(s.length);
    for (let i = 0; i < s.length; i++) {
      const c = s.charCodeAt(i);
      if (c > 255) throw new Error(`_codecs.encode: character U+${c.toString(16)} does not fit latin-1`);
      out[i] = c;
    }
    return out;
  }
  if (enc === "utf-8" || enc === "utf8") return new Uint8Array(Buffer.from(s, "utf8"));
  if (enc === "ascii") return encodeString(s, "latin1");
  throw new Error(`_codecs.encode: unsupported encoding '${encoding}'`);
}

function readLine(src: ByteSource, pos: number, source: string): [string, number] {
  let end = pos;
  const CHUNK = 256;
  for (;;) {
    const b = src.bytes(end, CHUNK);
    if (b.length === 0) throw new PickleError(source, `unexpected end of pickle data at byte ${end} (expected a newline-terminated argument; truncated?)`);
    const i = b.indexOf(10);
    if (i >= 0) {
      end += i;
      break;
    }
    end += b.length;
    if (end - pos > 1 << 20) throw new PickleError(source, `text argument at byte ${pos} is longer than 1 MiB (corrupt pickle)`);
  }
  const line = Buffer.from(src.bytes(pos, end - pos)).toString("latin1");
  return [line, end + 1];
}

/** Decode a protocol-0 `repr` string literal ('…' or "…"). */
function decodeReprString(s: string, source: string): string {
  const q = s[0];
  typeCheck((q === "'" || q === '"') && s.length >= 2 && s[s.length - 1] === q, source, `STRING argument is not a quoted literal: ${s.slice(0, 40)}`);
  return decodeEscapes(s.slice(1, -1), false);
}

function decodeEscapes(s: string, rawUnicode: boolean): string {
  let out = "";
  for (let i = 0; i < s.length; i++) {
    const c = s[i]!;
    if (c !== "\\" || i + 1 >= s.length) {
      out += c;
      continue;
    }
    const n = s[++i]!;
    const hex = (len: number) => {
      const h = s.slice(i + 1, i + 1 + len);
      i += len;
      const cp = /^[0-9a-fA-F]+$/.test(h) && h.length === len ? parseInt(h, 16) : NaN;
      if (!(cp <= 0x10ffff)) throw new RangeError(`invalid escape \\${n}${h}`);
      return String.fromCodePoint(cp);
    };
    if (rawUnicode) {
      if (n === "u") out += hex(4);
      else if (n === "U") out += hex(8);
      else out += "\\" + n;
      continue;
    }
    switch (n) {
      case "n":
        out += "\n";
        break;
      case "t":
        out += "\t";
        break;
      case "r":
        out += "\r";
        break;
      case "x":
        out += hex(2);
        break;
      case "u":
        out += hex(4);
        break;
      case "U":
        out += hex(8);
        break;
      case "0":
        out += "\0";
        break;
      default:
        out += n; // \\ \' \"
    }
  }
  return out;
}

/** Python ≥ 3.11 refuses int() of longer decimal strings (sys.int_info.default_max_str_digits); decoding them is quadratic. */
const MAX_INT_DIGITS = 4300;

function intOf(v: bigint): number | bigint {
  return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
}

function decodeLong(b: Uint8Array): number | bigint {
  if (b.length === 0) return 0;
  // Via a hex string: linear time (a byte-at-a-time shift is quadratic in the length).
  let v = BigInt("0x" + Buffer.from(b).reverse().toString("hex"));
  if (b[b.length - 1]! & 0x80) v -= 1n << BigInt(8 * b.length);
  return intOf(v);
}

/** Result of one pickle: its value and the byte offset just past its STOP opcode. */
export interface UnpickleResult {
  value: unknown;
  end: number;
}

/**
 * Unpickle one pickle from `data` (a buffer or ByteSource), resolving globals
 * through the allow-list only.
 */
export function unpickle(data: Uint8Array | ByteSource, opts: UnpickleOptions): UnpickleResult {
  const src: ByteSource = data instanceof Uint8Array ? bufferSource(data) : data;
  const { source } = opts;
  const globals = opts.globals ?? SAFE_GLOBALS;
  let pos = opts.offset ?? 0;
  const stack: unknown[] = [];
  const marks: number[] = [];
  const memo = new Map<number, unknown>();
  /** Objects made by allow-listed globals, for their custom BUILD. */
  const madeBy = new WeakMap<object, PyGlobal>();

  const fail = (msg: string, at = pos): never => {
    throw new PickleError(source, `${msg} (at byte ${at})`);
  };
  const take = (n: number): Uint8Array => {
    if (!Number.isSafeInteger(n) || n < 0) fail(`invalid length ${n}`);
    const b = src.bytes(pos, n);
    if (b.length < n) fail(`unexpected end of pickle data: needed ${n} bytes, ${b.length} left (truncated?)`);
    pos += n;
    return b;
  };
  const byteAt = src.at
    ? src.at.bind(src)
    : (o: number) => {
        const b = src.bytes(o, 1);
        return b.length ? b[0]! : -1;
      };
  const u8 = () => {
    const b = byteAt(pos);
    if (b < 0) fail("unexpected end of pickle data: needed 1 byte, 0 left (truncated?)");
    pos++;
    return b;
  };
  const view = (n: number) => {
    const b = take(n);
    return new DataView(b.buffer, b.byteOffset, n);
  };
  const u16 = () => u8() | (u8() << 8);
  const i32 = () => u8() | (u8() << 8) | (u8() << 16) | (u8() << 24);
  const u32 = () => i32() >>> 0;
  const u64 = () => {
    const v = view(8).getBigUint64(0, true);
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) fail(`length ${v} is too large`);
    return Number(v);
  };
  const line = () => {
    const [s, next] = readLine(src, pos, source);
    pos = next;
    return s;
  };
  const utf8 = (b: Uint8Array) => Buffer.from(b).toString("utf8");
  const latin1 = (b: Uint8Array) => Buffer.from(b).toString("latin1");

  const pop = (): unknown => {
    if (stack.length === 0 || (marks.length && stack.length <= marks[marks.length - 1]!)) fail("stack underflow (corrupt pickle)");
    return stack.pop();
  };
  const top = (): unknown => {
    if (stack.length === 0) fail("stack underflow (corrupt pickle)");
    return stack[stack.length - 1];
  };
  const popMark = (): unknown[] => {
    const m = marks.pop();
    if (m === undefined) fail("MARK expected on the stack (corrupt pickle)");
    return stack.splice(m!);
  };
  const push = (v: unknown) => stack.push(v);

  const findGlobal = (module: string, name: string): PyGlobal => {
    const mod = PY2_MODULES[module] ?? module;
    const full = `${mod}.${name}`;
    const g = Object.prototype.hasOwnProperty.call(globals, full) ? globals[full] : undefined;
    if (!g) throw new PickleError(source, `refusing to load global '${full}' from ${source}: not in the allow-list`, true);
    return new PyGlobal(mod, name, g);
  };
  const isGlobal = (x: unknown): x is PyGlobal => x instanceof PyGlobal;
  const makeGlobal = findGlobal;
  const record = (v: unknown, g: PyGlobal) => {
    if (typeof v === "object" && v !== null) madeBy.set(v, g);
    return v;
  };
  const callGlobal = (f: unknown, args: unknown, at: number): unknown => {
    if (!isGlobal(f)) fail(`REDUCE on a value that is not an allow-listed callable`, at);
    const g = f as PyGlobal;
    if (!Array.isArray(args)) fail(`REDUCE arguments for '${g.fullName}' are not a tuple`, at);
    if (!g.impl.call) fail(`'${g.fullName}' cannot be called`, at);
    try {
      return charge(record(g.impl.call!(args as unknown[]), g), g.fullName, at);
    } catch (e) {
      if (e instanceof PickleError) throw e;
      return fail(`${g.fullName}: ${e instanceof Error ? e.message : String(e)}`, at);
    }
  };
  const construct = (cls: unknown, args: unknown, at: number): unknown => {
    if (!isGlobal(cls)) fail(`NEWOBJ on a value that is not an allow-listed class`, at);
    const g = cls as PyGlobal;
    if (!Array.isArray(args)) fail(`NEWOBJ arguments for '${g.fullName}' are not a tuple`, at);
    if (!g.impl.construct) fail(`'${g.fullName}' cannot be instantiated`, at);
    try {
      return charge(record(g.impl.construct!(args as unknown[]), g), g.fullName, at);
    } catch (e) {
      if (e instanceof PickleError) throw e;
      return fail(`${g.fullName}: ${e instanceof Error ? e.message : String(e)}`, at);
    }
  };
  const persistent = (pid: unknown, at: number) => {
    if (!opts.persistentLoad) fail("persistent id found but this file type has no persistent storage", at);
    try {
      return opts.persistentLoad!(pid);
    } catch (e) {
      if (e instanceof PickleError) throw e;
      return fail(e instanceof Error ? e.message : String(e), at);
    }
  };
  const setItem = (d: unknown, k: unknown, v: unknown, at: number) => {
    if (d instanceof Map) d.set(k, v);
    else if (typeof d === "object" && d !== null && !Array.isArray(d) && typeof k === "string") defineKey(d as Record<string, unknown>, k, v);
    else fail("SETITEM on a value that is not a dict", at);
  };
  const appendTo = (l: unknown, items: unknown[], at: number) => {
    if (Array.isArray(l)) for (const x of items) l.push(x); // never push(...items): 1e5+ arguments overflow the call stack
    else if (l instanceof Set) for (const x of items) l.add(x);
    else fail("APPEND on a value that is not a list", at);
  };
  const escaped = (decode: () => string, at: number): string => {
    try {
      return decode();
    } catch (e) {
      if (e instanceof PickleError) throw e;
      return fail(`bad string literal: ${(e as Error).message}`, at);
    }
  };
  /**
   * Allow-listed calls may copy their arguments (`list(x)`, `dict(x)`, …), and a memoized argument can be
   * copied again and again: bound the total elements they produce by the pickle's size, so a small file
   * cannot make the loader allocate gigabytes.
   */
  let copyBudget = Math.max(1 << 16, 2 * src.length);
  const charge = (v: unknown, what: string, at: number) => {
    const n = Array.isArray(v) ? v.length : v instanceof Map || v instanceof Set ? v.size : v instanceof Uint8Array ? v.length / 8 : typeof v === "string" ? v.length / 8 : 0;
    copyBudget -= n;
    if (copyBudget < 0) fail(`'${what}' calls build far more data than the pickle holds (a copy amplification attack, or a corrupt file)`, at);
    return v;
  };
  const memoGet = (i: number, at: number) => {
    if (!memo.has(i)) fail(`memo key ${i} is missing (corrupt pickle)`, at);
    return memo.get(i);
  };

  for (;;) {
    const at = pos;
    const op = byteAt(pos);
    if (op < 0) fail("unexpected end of pickle data: no STOP opcode (truncated?)");
    pos++;
    switch (op) {
      case 0x80: {
        // PROTO
        const v = u8();
        if (v > 5) fail(`unsupported pickle protocol ${v}`, at);
        break;
      }
      case 0x95: // FRAME: a length prefix only; the data follows inline.
        u64();
        break;
      case 0x2e: // STOP
        if (stack.length !== 1 || marks.length) fail(`STOP with ${stack.length} values on the stack (corrupt pickle)`, at);
        return { value: stack[0], end: pos };
      // --- containers ---
      case 0x7d: // EMPTY_DICT
        push(new Map());
        break;
      case 0x5d: // EMPTY_LIST
        push([]);
        break;
      case 0x29: // EMPTY_TUPLE
        push([]);
        break;
      case 0x8f: // EMPTY_SET
        push(new Set());
        break;
      case 0x28: // MARK
        marks.push(stack.length);
        break;
      case 0x74: // TUPLE
        push(popMark());
        break;
      case 0x85: // TUPLE1
        push([pop()]);
        break;
      case 0x86: {
        // TUPLE2
        const b = pop();
        push([pop(), b]);
        break;
      }
      case 0x87: {
        // TUPLE3
        const c = pop();
        const b = pop();
        push([pop(), b, c]);
        break;
      }
      case 0x6c: // LIST
        push(popMark());
        break;
      case 0x64: {
        // DICT
        const items = popMark();
        if (items.length % 2) fail("DICT with an odd number of items", at);
        const m = new Map();
        for (let i = 0; i < items.length; i += 2) m.set(items[i], items[i + 1]);
        push(m);
        break;
      }
      case 0x91: // FROZENSET
        push(new Set(popMark()));
        break;
      case 0x73: {
        // SETITEM
        const v = pop();
        const k = pop();
        setItem(top(), k, v, at);
        break;
      }
      case 0x75: {
        // SETITEMS
        const items = popMark();
        if (items.length % 2) fail("SETITEMS with an odd number of items", at);
        const d = top();
        for (let i = 0; i < items.length; i += 2) setItem(d, items[i], items[i + 1], at);
        break;
      }
      case 0x61: {
        // APPEND
        const v = pop();
        appendTo(top(), [v], at);
        break;
      }
      case 0x65: {
        // APPENDS
        const items = popMark();
        appendTo(top(), items, at);
        break;
      }
      case 0x90: {
        // ADDITEMS
        const items = popMark();
        const s = top();
        if (!(s instanceof Set)) fail("ADDITEMS on a value that is not a set", at);
        for (const x of items) (s as Set<unknown>).add(x);
        break;
      }
      // --- stack and memo ---
      case 0x30: // POP
        if (marks.length && stack.length === marks[marks.length - 1]) marks.pop();
        else pop();
        break;
      case 0x31: // POP_MARK
        popMark();
        break;
      case 0x32: // DUP
        push(top());
        break;
      case 0x70: // PUT
        memo.set(Number(line()), top());
        break;
      case 0x71: // BINPUT
        memo.set(u8(), top());
        break;
      case 0x72: // LONG_BINPUT
        memo.set(u32(), top());
        break;
      case 0x94: // MEMOIZE
        memo.set(memo.size, top());
        break;
      case 0x67: // GET
        push(memoGet(Number(line()), at));
        break;
      case 0x68: // BINGET
        push(memoGet(u8(), at));
        break;
      case 0x6a: // LONG_BINGET
        push(memoGet(u32(), at));
        break;
      // --- scalars ---
      case 0x4e: // NONE
        push(null);
        break;
      case 0x88: // NEWTRUE
        push(true);
        break;
      case 0x89: // NEWFALSE
        push(false);
        break;
      case 0x4a: // BININT
        push(i32());
        break;
      case 0x4b: // BININT1
        push(u8());
        break;
      case 0x4d: // BININT2
        push(u16());
        break;
      case 0x8a: // LONG1
        push(decodeLong(take(u8())));
        break;
      case 0x8b: {
        // LONG4
        const n = i32();
        if (n < 0) fail("LONG4 with a negative length", at);
        push(decodeLong(take(n)));
        break;
      }
      case 0x49: {
        // INT (protocol 0): also encodes True/False as 01/00
        const s = line();
        if (s === "01") push(true);
        else if (s === "00") push(false);
        else {
          if (!/^[-+]?\d+$/.test(s)) fail(`INT argument '${s.slice(0, 40)}' is not an integer`, at);
          if (s.length > MAX_INT_DIGITS) fail(`INT argument has ${s.length} digits (Python's limit is ${MAX_INT_DIGITS})`, at);
          push(intOf(BigInt(s)));
        }
        break;
      }
      case 0x4c: {
        // LONG (protocol 0)
        const s = line().replace(/L$/, "");
        if (!/^[-+]?\d+$/.test(s)) fail(`LONG argument '${s.slice(0, 40)}' is not an integer`, at);
        if (s.length > MAX_INT_DIGITS) fail(`LONG argument has ${s.length} digits (Python's limit is ${MAX_INT_DIGITS})`, at);
        push(intOf(BigInt(s)));
        break;
      }
      case 0x47: // BINFLOAT (big-endian)
        push(view(8).getFloat64(0, false));
        break;
      case 0x46: {
        // FLOAT (protocol 0)
        const s = line();
        const v = Number(s);
        if (Number.isNaN(v) && !/^[-+]?nan$/i.test(s)) fail(`FLOAT argument '${s.slice(0, 40)}' is not a number`, at);
        push(v);
        break;
      }
      // --- strings and bytes ---
      case 0x8c: // SHORT_BINUNICODE
        push(utf8(take(u8())));
        break;
      case 0x58: // BINUNICODE
        push(utf8(take(u32())));
        break;
      case 0x8d: // BINUNICODE8
        push(utf8(take(u64())));
        break;
      case 0x56: // UNICODE (raw-unicode-escape)
        push(escaped(() => decodeEscapes(line(), true), at));
        break;
      case 0x55: // SHORT_BINSTRING (py2 str, decoded as latin-1)
        push(latin1(take(u8())));
        break;
      case 0x54: {
        // BINSTRING
        const n = i32();
        if (n < 0) fail("BINSTRING with a negative length", at);
        push(latin1(take(n)));
        break;
      }
      case 0x53: // STRING (protocol 0)
        push(escaped(() => decodeReprString(line(), source), at));
        break;
      case 0x43: // SHORT_BINBYTES
        push(new Uint8Array(take(u8())));
        break;
      case 0x42: // BINBYTES
        push(new Uint8Array(take(u32())));
        break;
      case 0x8e: // BINBYTES8
        push(new Uint8Array(take(u64())));
        break;
      case 0x96: // BYTEARRAY8
        push(new Uint8Array(take(u64())));
        break;
      case 0x97: // NEXT_BUFFER
        fail("out-of-band buffers (NEXT_BUFFER) are not supported", at);
        break;
      case 0x98: // READONLY_BUFFER
        top();
        break;
      // --- globals, calls and objects ---
      case 0x63: {
        // GLOBAL
        const module = line();
        const name = line();
        push(makeGlobal(module, name));
        break;
      }
      case 0x93: {
        // STACK_GLOBAL
        const name = pop();
        const module = pop();
        if (typeof module !== "string" || typeof name !== "string") fail("STACK_GLOBAL needs two strings", at);
        push(makeGlobal(module as string, name as string));
        break;
      }
      case 0x52: {
        // REDUCE
        const args = pop();
        const f = pop();
        push(callGlobal(f, args, at));
        break;
      }
      case 0x81: {
        // NEWOBJ
        const args = pop();
        const cls = pop();
        push(construct(cls, args, at));
        break;
      }
      case 0x92: {
        // NEWOBJ_EX
        const kwargs = pop();
        const args = pop();
        const cls = pop();
        if (!(kwargs instanceof Map) || kwargs.size) fail("NEWOBJ_EX with keyword arguments is not supported", at);
        push(construct(cls, args, at));
        break;
      }
      case 0x69: {
        // INST
        const module = line();
        const name = line();
        const args = popMark();
        push(construct(makeGlobal(module, name), args, at));
        break;
      }
      case 0x6f: {
        // OBJ
        const items = popMark();
        if (!items.length) fail("OBJ without a class", at);
        push(construct(items[0], items.slice(1), at));
        break;
      }
      case 0x62: {
        // BUILD
        const state = pop();
        const obj = top();
        const g = typeof obj === "object" && obj !== null ? madeBy.get(obj) : undefined;
        const what = g ? `'${g.fullName}' object` : "object";
        try {
          if (g?.impl.setState) g.impl.setState(obj, state);
          else defaultSetState(obj, state, source, what);
        } catch (e) {
          if (e instanceof PickleError) throw e;
          fail(`BUILD ${what}: ${e instanceof Error ? e.message : String(e)}`, at);
        }
        break;
      }
      case 0x51: {
        // BINPERSID
        const pid = pop();
        push(persistent(pid, at));
        break;
      }
      case 0x50: // PERSID
        push(persistent(line(), at));
        break;
      case 0x82:
      case 0x83:
      case 0x84: // EXT1 / EXT2 / EXT4
        fail("extension-registry codes (EXT1/2/4) are not supported", at);
        break;
      default:
        fail(`unknown pickle opcode 0x${op.toString(16).padStart(2, "0")} (corrupt file, or not a pickle)`, at);
    }
  }
}
