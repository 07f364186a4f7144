/**
 * Fuzz target: raw pickle streams through `unpickle` with the torch allow-list and the torch
 * persistent-id loader — exactly how a `.pt` zip's data.pkl is read — the mutant written to a
 * `.pkl` file and read back. Seeds: the data.pkl of checkpoints written by saveTorchCheckpoint,
 * pickles of plain values (protocols 2–5 by pickle-writer and by CPython, see
 * test/io/torch-checkpoint.test.ts) and pickles built opcode by opcode. Lies: huge
 * BINUNICODE / BINBYTES / LONG4 lengths, 1e5-deep nesting, unmatched MARKs, missing memo keys,
 * copy amplification, bad escapes, cycles — alone or spliced into a seed at an opcode boundary.
 */
import { readFileSync } from "node:fs";
import { pickleDumps, PyOrderedDict, tuple } from "../../../src/io/pickle-writer.js";
import { unpickle } from "../../../src/io/pickle.js";
import { TORCH_GLOBALS, torchPersistentLoad } from "../../../src/io/torch-checkpoint.js";
import { parseZip, pickleOpcodeOffsets } from "../../io/pickle-builder.js";
import type { FuzzSeed, FuzzTarget } from "../target.js";
import { hostilePickle, seedValues, spliceAtBoundary, torchBytes } from "../torch-seeds.js";

/** CPython 3.11 `pickle.dumps(v, protocol=4)` and `protocol=0` of a dict of every value type (from test/io/torch-checkpoint.test.ts). */
const CPYTHON = {
  p4: "800495cb000000000000007d94288c0161945d94284b014afeffffff8a090000000000000000408a090000000000000000c0473ff80000000000004e88898c05c3a9e2988394430200ff944b014b0286947d944b034b04734bff4dffff4affffff7f4a000000808a0700000000000020658c03736574948f94284b01908c02667394284b0291948c026261948c086275696c74696e73948c0962797465617272617994939443017894859452948c027331945d944b07618c0273329468138c05656d70747994298c027433944b014b024b038794752e",
  p0: "286470300a56610a70310a286c70320a49310a61492d320a614c313138303539313632303731373431313330333432344c0a614c2d313138303539313632303731373431313330333432344c0a6146312e350a614e614930310a614930300a6156e95c75323630330a70330a61635f636f646563730a656e636f64650a70340a28565c7530303030ff0a70350a566c6174696e310a70360a7470370a5270380a612849310a49320a7470390a6128647031300a49330a49340a7361493235350a614936353533350a6149323134373438333634370a61492d323134373438333634380a614c393030373139393235343734303939324c0a6173567365740a7031310a635f5f6275696c74696e5f5f0a7365740a7031320a28286c7031330a49310a61747031340a527031350a735666730a7031360a635f5f6275696c74696e5f5f0a66726f7a656e7365740a7031370a28286c7031380a49320a61747031390a527032300a735662610a7032310a635f5f6275696c74696e5f5f0a6279746561727261790a7032320a2867340a2856780a7032330a67360a747032340a527032350a747032360a527032370a735673310a7032380a286c7032390a49370a61735673320a7033300a6732390a7356656d7074790a7033310a2874735674330a7033320a2849310a49320a49330a747033330a732e",
};

const seedOf = (name: string, bytes: Uint8Array): FuzzSeed => ({ name, bytes, boundaries: pickleOpcodeOffsets(bytes) });

function seeds(): FuzzSeed[] {
  const out: FuzzSeed[] = [];
  for (const v of seedValues()) {
    const { records } = parseZip(torchBytes(v.value, "zip"));
    out.push(seedOf(`data.pkl:${v.name}`, records.find((r) => r.name.endsWith("/data.pkl"))!.data));
  }
  out.push(seedOf("plain", pickleDumps(new Map<string, never>([["a", [1, -2, 2n ** 70n, "é☃", tuple(1, 2), null, true, 1e300] as never], ["od", new PyOrderedDict(new Map([["k", 1.5]])) as never]]))));
  out.push(seedOf("cpython-p4", Buffer.from(CPYTHON.p4, "hex")));
  out.push(seedOf("cpython-p0", Buffer.from(CPYTHON.p0, "hex")));
  return out;
}

function lie(seed: FuzzSeed, rand: () => number): Uint8Array {
  const h = hostilePickle(rand).bytes;
  if (rand() < 0.5) return h;
  return spliceAtBoundary(rand, seed.bytes, h.subarray(2, h.length - 1));
}

const target: FuzzTarget = {
  format: "pickle",
  ext: ".pkl",
  seeds,
  lie,
  load(path) {
    const { value, end } = unpickle(new Uint8Array(readFileSync(path)), { source: path, globals: TORCH_GLOBALS, persistentLoad: torchPersistentLoad() });
    return { end, type: value instanceof Map ? "dict" : Array.isArray(value) ? "list" : typeof value };
  },
};
export default target;
