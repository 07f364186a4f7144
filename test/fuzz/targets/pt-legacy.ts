/**
 * Fuzz target: legacy `.pt` checkpoints (`torch.save(..., _use_new_zipfile_serialization=False)`)
 * read by loadTorchCheckpoint (every tensor read). Seeds: files written by saveTorchCheckpoint
 * with `format: "legacy"` and the real torch file test/fixtures/torch/state_legacy.pt.
 * Lies: storage element counts that are huge, negative or disagree with the tensors; storage-key
 * lists naming storages that don't exist or leaving some out; sys_info saying big-endian; magic
 * number / protocol lies; and the object pickle replaced by tensors whose sizes / shapes /
 * strides / offsets / dtypes lie, or by a hostile pickle.
 * The legacy format has no checksum: flipped bits in tensor data load as changed values.
 */
import { loadTorchCheckpoint, openTorchCheckpoint, TensorRef } from "../../../src/io/torch-checkpoint.js";
import { ELEMENT_TYPES } from "../../../src/runtime/dtype.js";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { OP, pickle } from "../../io/pickle-builder.js";
import type { FuzzSeed, FuzzTarget } from "../target.js";
import { fixtureSeeds, hostilePickle, int, joinLegacy, lyingSpecs, pick, seedValues, spliceAtBoundary, splitLegacy, stateDictPickle, summarize, torchBytes } from "../torch-seeds.js";

interface StorageInfo {
  key: string;
  dtype: string;
  numel: number;
}

/** Per seed: its storages (their element sizes are needed to split the file). */
const info = new Map<string, StorageInfo[]>();

function storages(bytes: Uint8Array): StorageInfo[] {
  const dir = mkdtempSync(join(tmpdir(), "dit-fuzz-ptleg-"));
  try {
    const p = join(dir, "s.pt");
    writeFileSync(p, bytes);
    const ck = openTorchCheckpoint(p);
    const out = new Map<string, StorageInfo>();
    const seen = new Set<unknown>();
    const work: unknown[] = [ck.root];
    while (work.length) {
      const v = work.pop();
      if (v instanceof TensorRef) out.set(v.storage.key, { key: v.storage.key, dtype: v.storage.dtype, numel: v.storage.numel });
      else if (typeof v === "object" && v !== null && !seen.has(v)) {
        seen.add(v);
        for (const x of v instanceof Map ? v.values() : Array.isArray(v) ? v : Object.values(v)) work.push(x);
      }
    }
    ck.close();
    return [...out.values()];
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const sizes = (s: StorageInfo[]) => (key: string) => ELEMENT_TYPES[s.find((x) => x.key === key)?.dtype as keyof typeof ELEMENT_TYPES]?.bytes ?? 1;

function seeds(): FuzzSeed[] {
  const all = [...seedValues().map((v) => ({ name: v.name, bytes: torchBytes(v.value, "legacy") })), ...fixtureSeeds("legacy")];
  return all.map((s) => {
    const st = storages(s.bytes);
    info.set(s.name, st);
    return { ...s, boundaries: splitLegacy(s.bytes, sizes(st)).boundaries };
  });
}

const listOf = (keys: unknown[]) => {
  const p = pickle().proto(2).op(OP.EMPTY_LIST, OP.MARK);
  for (const k of keys) {
    if (typeof k === "string") p.str(k);
    else p.int(k as number);
  }
  return p.op(OP.APPENDS).stop().bytes();
};

function lie(seed: FuzzSeed, rand: () => number): Uint8Array {
  const st = info.get(seed.name) ?? [];
  const parts = splitLegacy(seed.bytes, sizes(st));
  const { pickles, storages } = parts;
  const kind = pick(rand, ["count", "count", "keys", "sysinfo", "magic", "tensor", "tensor", "pickle", "pickle-splice", "tail"] as const);
  switch (kind) {
    case "count": {
      if (!storages.length) break;
      const i = int(rand, storages.length);
      const v = pick(rand, [-1n, 2n ** 62n, 1_000_000_000_000n, 2n ** 63n - 1n, -(2n ** 63n), storages[i]!.count + 1n, storages[i]!.count - 1n, 0n]);
      return joinLegacy(pickles, storages.map((s, j) => (j === i ? { ...s, count: v } : s)));
    }
    case "keys": {
      const keys = st.map((s) => s.key);
      const v = pick(rand, [[...keys, "999"], keys.slice(1), [...keys, ...keys], ["../../etc/passwd"], [1, 2], [], [...keys].reverse()]);
      return joinLegacy([...pickles.slice(0, 4), listOf(v)], storages);
    }
    case "sysinfo": {
      // big-endian data (valid: loads byte-swapped), or a sys_info that is not a dict
      const p = pickle().proto(2);
      if (rand() < 0.6) p.emptyDict().str("little_endian").bool(false).op(OP.SETITEM).str("protocol_version").int(1001).op(OP.SETITEM);
      else p.op(OP.EMPTY_LIST);
      return joinLegacy([pickles[0]!, pickles[1]!, p.stop().bytes(), ...pickles.slice(3)], storages);
    }
    case "magic": {
      const which = int(rand, 2);
      const v = pick(rand, [0n, 1001n, 0x1950a86a20f9469cfc6cn + 1n, 2n ** 200n]);
      const p = pickle().proto(2).int(which === 0 ? v : pick(rand, [1000, 1002, 0, -1])).stop().bytes();
      return joinLegacy(pickles.map((x, i) => (i === which ? p : x)), storages);
    }
    case "tensor": {
      const { specs } = lyingSpecs(rand, st);
      const keys = [...new Set(specs.map((s) => s.key))].sort();
      const known = new Set(st.map((s) => s.key));
      return joinLegacy(
        [...pickles.slice(0, 3), stateDictPickle(specs, true), listOf(rand() < 0.5 ? keys.filter((k) => known.has(k)) : st.map((s) => s.key))],
        rand() < 0.5 ? storages : storages.filter((_, i) => keys.includes(st[i]?.key ?? "")),
      );
    }
    case "pickle": {
      const which = pick(rand, [0, 1, 2, 3, 3, 3, 4]);
      return joinLegacy(pickles.map((x, i) => (i === which ? hostilePickle(rand).bytes : x)), storages);
    }
    case "pickle-splice": {
      const frag = hostilePickle(rand).bytes;
      return joinLegacy(pickles.map((x, i) => (i === 3 ? spliceAtBoundary(rand, x, frag.subarray(2, frag.length - 1)) : x)), storages);
    }
    case "tail":
      // bytes after the last storage, or the last storage cut short
      return rand() < 0.5 ? new Uint8Array(Buffer.concat([seed.bytes, Buffer.alloc(1 + int(rand, 64), 0xab)])) : seed.bytes.slice(0, Math.max(0, seed.bytes.length - 1 - int(rand, 8)));
  }
  return seed.bytes.slice(0, int(rand, seed.bytes.length));
}

const target: FuzzTarget = {
  format: "pt-legacy",
  ext: ".pt",
  seeds,
  lie,
  load(path) {
    return { bytes: summarize(loadTorchCheckpoint(path)) };
  },
};
export default target;
