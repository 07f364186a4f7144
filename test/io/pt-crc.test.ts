/**
 * CRC-32 verification of `.pt` zip records: 200 seeded single-bit flips in the data region of a
 * checkpoint written by saveTorchCheckpoint are all refused, naming the record that holds the
 * flipped bit; with `verifyCrc: false` the same files load changed weights (so the check is what
 * refuses them). Also: a flip in data.pkl, a flip outside a tensor's view of its storage (the
 * whole record is checked), and the legacy format, which has no checksum to check.
 */
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { loadTorchCheckpoint, loadTorchStateDict, TorchCheckpointError } from "../../src/io/torch-checkpoint.js";
import type { StTensor } from "../../src/io/safetensors.js";
import { saveTorchCheckpoint, TorchOrderedDict, TorchTensor } from "../../src/io/torch-save.js";
import { buildZip, parseZip } from "./pickle-builder.js";
import { mulberry32 } from "../fuzz/harness.js";
import { stateDictPickle } from "../fuzz/torch-seeds.js";

const tmp = mkdtempSync(join(tmpdir(), "dit-pt-crc-"));
after(() => rmSync(tmp, { recursive: true, force: true }));


const bytesOf = (t: StTensor) => Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength);

const ramp = (n: number, k: number) => Float32Array.from({ length: n }, (_, i) => Math.sin(i * k));
const state = new TorchOrderedDict(
  new Map([
    ["blocks.0.attn.qkv.weight", new TorchTensor("float32", [12, 4], ramp(48, 0.1))],
    ["blocks.0.attn.qkv.bias", new TorchTensor("float32", [12], ramp(12, 0.7))],
    ["final_layer.linear.weight", new TorchTensor("float32", [8, 4], ramp(32, 1.3))],
    ["y_embedder.embedding_table.weight", new TorchTensor("float16", [5, 4], Uint16Array.from({ length: 20 }, (_, i) => 0x3c00 + i))],
  ]),
);

describe("CRC-32 of .pt zip records", () => {
  const path = join(tmp, "clean.pt");
  saveTorchCheckpoint(path, state);
  const clean = new Uint8Array(readFileSync(path));
  const { layout } = parseZip(clean);
  const storages = layout.records.filter((r) => /\/data\/\d+$/.test(r.name) && r.end > r.start);
  const dataBytes = storages.reduce((a, r) => a + r.end - r.start, 0);
  const original = loadTorchStateDict(path).stateDict;

  it("a clean file loads with verification on (the default)", () => {
    assert.equal(original.size, 4);
    assert.equal(storages.length, 4);
  });

  it("200 seeded single-bit flips in the data region: all refused naming the record; with verifyCrc: false all load changed weights", () => {
    const rand = mulberry32(14);
    let refused = 0;
    let changed = 0;
    for (let i = 0; i < 200; i++) {
      // a uniformly random bit of the data region
      let k = Math.floor(rand() * dataBytes);
      const rec = storages.find((r) => (k < r.end - r.start ? true : ((k -= r.end - r.start), false)))!;
      const at = rec.start + k;
      const bit = Math.floor(rand() * 8);
      const bad = clean.slice();
      bad[at]! ^= 1 << bit;
      const p = join(tmp, `flip-${i}.pt`);
      writeFileSync(p, bad);
      assert.throws(
        () => loadTorchStateDict(p),
        (e: unknown) => {
          assert.ok(e instanceof TorchCheckpointError, String(e));
          assert.match(e.message, new RegExp(`^${p.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}: ${rec.name}: CRC-32 mismatch \\(stored 0x[0-9a-f]{8}, computed 0x[0-9a-f]{8}\\) — the file is corrupt`));
          return true;
        },
        `flip ${i} (byte ${at} bit ${bit}, record ${rec.name}) loaded`,
      );
      refused++;
      const loose = loadTorchStateDict(p, undefined, { verifyCrc: false }).stateDict;
      const differs = [...original].filter(([name, t]) => !bytesOf(t).equals(bytesOf(loose.get(name)!)));
      assert.equal(differs.length, 1, `flip ${i}: exactly one tensor changes without verification`);
      changed++;
    }
    assert.equal(refused, 200);
    assert.equal(changed, 200);
  });

  it("a flip in data.pkl is refused naming archive/data.pkl", () => {
    const pkl = layout.records.find((r) => r.name.endsWith("/data.pkl"))!;
    const bad = clean.slice();
    bad[pkl.start + Math.floor((pkl.end - pkl.start) / 2)]! ^= 0x10;
    const p = join(tmp, "flip-pkl.pt");
    writeFileSync(p, bad);
    assert.throws(() => loadTorchCheckpoint(p), /archive\/data\.pkl: CRC-32 mismatch/);
  });

  it("a flip outside a tensor's view of its storage is still refused (the whole record is checked)", () => {
    // one storage of 8 float32; the tensor views elements 1..3 only; the flip hits element 6
    const data = new Uint8Array(Float32Array.from([0, 1, 2, 3, 4, 5, 6, 7]).buffer);
    const pkl = stateDictPickle([{ name: "v", storageType: "FloatStorage", key: "0", numel: 8, offset: 1, shape: [3], stride: [1] }], false);
    const good = buildZip([
      { name: "archive/data.pkl", data: pkl },
      { name: "archive/data/0", data },
      { name: "archive/version", data: Buffer.from("3\n") },
    ]);
    const p = join(tmp, "view.pt");
    writeFileSync(p, good.bytes);
    assert.deepEqual([...(loadTorchStateDict(p).stateDict.get("v")!.data as Float32Array)], [1, 2, 3]);
    const rec = good.layout.records.find((r) => r.name === "archive/data/0")!;
    const bad = good.bytes.slice();
    bad[rec.start + 6 * 4 + 1]! ^= 0x01;
    writeFileSync(p, bad);
    assert.throws(() => loadTorchStateDict(p), /archive\/data\/0: CRC-32 mismatch/);
    assert.deepEqual([...(loadTorchStateDict(p, undefined, { verifyCrc: false }).stateDict.get("v")!.data as Float32Array)], [1, 2, 3]);
  });

  it("legacy .pt files have no checksum: a flipped bit loads changed weights (documented limitation)", () => {
    const p = join(tmp, "legacy.pt");
    saveTorchCheckpoint(p, state, { format: "legacy" });
    const bad = new Uint8Array(readFileSync(p));
    bad[bad.length - 3]! ^= 0x04; // inside the last storage's data
    writeFileSync(p, bad);
    const loose = loadTorchStateDict(p).stateDict;
    const differs = [...original].filter(([name, t]) => !bytesOf(t).equals(bytesOf(loose.get(name)!)));
    assert.equal(differs.length, 1);
  });
});
