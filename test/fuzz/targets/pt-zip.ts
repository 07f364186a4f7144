/**
 * Fuzz target: `.pt` zip checkpoints (torch.save ≥ 1.6) read by loadTorchCheckpoint (every tensor
 * read, CRC-32 verified) and, for train.py checkpoints, readOfficialCheckpoint. Seeds: files
 * written by saveTorchCheckpoint and the small real torch files in test/fixtures/torch.
 * Lies: central-directory sizes / offsets past the end or overlapping other records, EOCD counts
 * and offsets that lie, deflated records, wrong CRC-32s, record names that escape the archive,
 * duplicate names, and data.pkl replaced by tensors whose storage sizes / shapes / strides /
 * offsets / dtypes lie, or by a hostile pickle.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { OfficialCheckpointError, readOfficialCheckpoint } from "../../../src/io/official-checkpoint.js";
import { loadTorchCheckpoint, openTorchCheckpoint, StorageRef, TensorRef, TorchCheckpointError } from "../../../src/io/torch-checkpoint.js";
import { buildZip, parseZip, pickleOpcodeOffsets, type ZipRecord } from "../../io/pickle-builder.js";
import type { FuzzSeed, FuzzTarget } from "../target.js";
import { fixtureSeeds, hostilePickle, int, lyingSpecs, pick, seedValues, spliceAtBoundary, stateDictPickle, summarize, torchBytes } from "../torch-seeds.js";

interface StorageInfo {
  key: string;
  dtype: string;
  numel: number;
}

/** Storages each seed's pickle uses (for lies that keep the archive and lie about a tensor). */
const storagesOf = new Map<string, StorageInfo[]>();

function storages(bytes: Uint8Array): StorageInfo[] {
  const dir = mkdtempSync(join(tmpdir(), "dit-fuzz-ptzip-"));
  try {
    const p = join(dir, "s.pt");
    writeFileSync(p, bytes);
    const ck = openTorchCheckpoint(p);
    const out = new Map<string, StorageInfo>();
    const seen = new Set<unknown>();
    const walk = (v: unknown) => {
      if (v instanceof TensorRef) {
        const s: StorageRef = v.storage;
        out.set(s.key, { key: s.key, dtype: s.dtype, numel: s.numel });
      } else if (typeof v === "object" && v !== null && !seen.has(v)) {
        seen.add(v);
        for (const x of v instanceof Map ? v.values() : Array.isArray(v) ? v : Object.values(v)) walk(x);
      }
    };
    walk(ck.root);
    ck.close();
    return [...out.values()];
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function boundaries(bytes: Uint8Array): number[] {
  const { layout } = parseZip(bytes);
  const out = new Set<number>([0, bytes.length, layout.cdStart, layout.eocd]);
  for (const r of layout.records) {
    for (const x of [r.local, r.start, r.end, r.central, r.central + 20, r.central + 42]) out.add(x);
    if (r.name.endsWith("data.pkl")) for (const o of pickleOpcodeOffsets(bytes.subarray(r.start, r.end))) out.add(r.start + o);
  }
  return [...out].sort((a, b) => a - b);
}

function seeds(): FuzzSeed[] {
  const all = [...seedValues().map((v) => ({ name: v.name, bytes: torchBytes(v.value, "zip") })), ...fixtureSeeds("zip")];
  for (const s of all) storagesOf.set(s.name, storages(s.bytes));
  return all.map((s) => ({ ...s, boundaries: boundaries(s.bytes) }));
}

const HUGE32 = [0xffffffff, 0x7fffffff, 0x80000000, 0xfffffff0];

function lie(seed: FuzzSeed, rand: () => number): Uint8Array {
  const { records, layout } = parseZip(seed.bytes);
  const pklIdx = records.findIndex((r) => r.name.endsWith("/data.pkl"));
  const prefix = records[pklIdx]!.name.slice(0, -"data.pkl".length);
  const rebuild = (rs: ZipRecord[]) => buildZip(rs).bytes;
  const patch = (f: (dv: DataView, out: Uint8Array) => void) => {
    const out = seed.bytes.slice();
    f(new DataView(out.buffer), out);
    return out;
  };
  const rec = () => pick(rand, layout.records);
  const kind = pick(rand, ["cd-size", "cd-offset", "eocd-count", "eocd-cd", "deflate", "crc", "names", "tensor", "tensor", "tensor", "pickle", "pickle-splice"] as const);
  switch (kind) {
    case "cd-size": {
      const r = rec();
      const v = pick(rand, [...HUGE32, seed.bytes.length, r.end - r.start + 1 + int(rand, 64)]);
      return patch((dv) => {
        if (rand() < 0.5) dv.setUint32(r.central + 20, v, true);
        if (rand() < 0.7) dv.setUint32(r.central + 24, v, true);
      });
    }
    case "cd-offset": {
      const r = rec();
      const other = rec();
      const v = pick(rand, [...HUGE32, seed.bytes.length - 10, other.local, other.start, r.local + 1, 0]);
      return patch((dv) => dv.setUint32(r.central + 42, v, true));
    }
    case "eocd-count": {
      const v = pick(rand, [0, 1, layout.records.length + 1, 0xfffe, 0xffff]);
      return patch((dv) => {
        dv.setUint16(layout.eocd + 10, v, true);
        if (rand() < 0.5) dv.setUint16(layout.eocd + 8, v, true);
      });
    }
    case "eocd-cd": {
      const field = pick(rand, [12, 16]);
      const v = pick(rand, [...HUGE32, 0, layout.cdStart + 1, layout.eocd, seed.bytes.length]);
      return patch((dv) => dv.setUint32(layout.eocd + field, v, true));
    }
    case "deflate": {
      // data.pkl deflated (torch can read it; so must we), or a storage deflated (refused: we map storages)
      const which = rand() < 0.5 ? pklIdx : int(rand, records.length);
      return rebuild(records.map((r, i) => ({ ...r, deflate: i === which || rand() < 0.1 })));
    }
    case "crc": {
      const which = int(rand, records.length);
      return rebuild(records.map((r, i) => (i === which ? { ...r, crc: (int(rand, 2 ** 32) ^ 1) >>> 0 } : r)));
    }
    case "names": {
      const which = int(rand, records.length);
      const bad = pick(rand, ["../../x", "/abs/data.pkl", `${prefix}../../etc/passwd`, "other/data/0", `${prefix}data/0`, "C:/x", `${prefix}data\\..\\0`, `${prefix}./data.pkl`, ""]);
      const rs = records.map((r, i) => (i === which ? { ...r, name: bad } : r));
      if (rand() < 0.3) rs.push({ ...records[which]!, name: records[which]!.name }); // and a duplicate
      return rebuild(rs);
    }
    case "tensor": {
      const { specs } = lyingSpecs(rand, storagesOf.get(seed.name) ?? []);
      return rebuild(records.map((r, i) => (i === pklIdx ? { ...r, data: stateDictPickle(specs, false) } : r)));
    }
    case "pickle":
      return rebuild(records.map((r, i) => (i === pklIdx ? { ...r, data: hostilePickle(rand).bytes } : r)));
    case "pickle-splice": {
      const frag = hostilePickle(rand).bytes;
      const body = frag.subarray(2, frag.length - 1); // without PROTO and STOP
      return rebuild(records.map((r, i) => (i === pklIdx ? { ...r, data: spliceAtBoundary(rand, r.data, body) } : r)));
    }
  }
}

const target: FuzzTarget = {
  format: "pt-zip",
  ext: ".pt",
  seeds,
  lie,
  load(path) {
    let root: unknown;
    let crc = "verified";
    try {
      root = loadTorchCheckpoint(path);
    } catch (e) {
      if (!(e instanceof TorchCheckpointError && /CRC-32 mismatch/.test(e.message))) throw e;
      // A flipped bit is refused by the CRC check before the parsers see it; the opt-out path
      // (verifyCrc: false) must also load or refuse cleanly, so fuzz the parsers through it too.
      crc = "mismatch";
      root = loadTorchCheckpoint(path, { verifyCrc: false });
    }
    const bytes = summarize(root);
    let official: boolean | string = false;
    if (root instanceof Map && root.has("opt") && root.has("ema")) {
      // a refusal here is a clean one (not every checkpoint with these keys is a DiT train.py one)
      try {
        readOfficialCheckpoint(path);
        official = true;
      } catch (e) {
        if (!(e instanceof OfficialCheckpointError)) throw e;
        official = e.message;
      }
    }
    return { bytes, official, crc };
  },
};
export default target;
