import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { writeSafetensors } from "../../src/io/safetensors.js";
import { weightsKey } from "../../src/io/weights-key.js";

const dir = mkdtempSync(join(tmpdir(), "dit-weights-key-"));
after(() => rmSync(dir, { recursive: true, force: true }));

const tensors = () => ({
  "b.weight": { data: Float32Array.of(1, 2, 3, 4, 5, 6), shape: [2, 3] },
  "a.bias": { data: Float32Array.of(-1, 0.5), shape: [2] },
  "c.count": { data: new BigInt64Array([7n]), shape: [1] },
});

describe("weightsKey", () => {
  it("is the same for the same tensors whatever the metadata and the stored SHA-256 (a rewrite keeps the identity)", () => {
    const p1 = join(dir, "plain.safetensors");
    const p2 = join(dir, "meta.safetensors");
    writeSafetensors(p1, tensors(), {}, { sha256: false });
    writeSafetensors(p2, tensors(), { note: "rewritten", format: "pt" });
    assert.notEqual(readFileSync(p1).toString("hex"), readFileSync(p2).toString("hex"), "the files should differ");
    assert.match(weightsKey(p1), /^[0-9a-f]{16}$/);
    assert.equal(weightsKey(p1), weightsKey(p2));
  });

  it("changes when a weight, a shape or a name changes", () => {
    const base = join(dir, "base.safetensors");
    writeSafetensors(base, tensors());
    const k = weightsKey(base);
    const v = (name: string, mutate: (t: ReturnType<typeof tensors>) => Record<string, { data: Float32Array | BigInt64Array; shape: number[] }>) => {
      const p = join(dir, `${name}.safetensors`);
      writeSafetensors(p, mutate(tensors()));
      return weightsKey(p);
    };
    assert.notEqual(v("value", (t) => ({ ...t, "a.bias": { data: Float32Array.of(-1, 0.50001), shape: [2] } })), k);
    assert.notEqual(v("shape", (t) => ({ ...t, "b.weight": { data: t["b.weight"].data, shape: [3, 2] } })), k);
    assert.notEqual(v("name", (t) => ({ "b.weight": t["b.weight"], "a.bias2": t["a.bias"], "c.count": t["c.count"] })), k);
  });

  it("of another file is the SHA-256 of its bytes", () => {
    const p = join(dir, "w.bin");
    writeFileSync(p, "weights");
    assert.equal(weightsKey(p), createHash("sha256").update("weights").digest("hex").slice(0, 16));
  });

  it("of the shipped classifier and the bundled VAE: their tensors' keys (the ones study.json files record)", () => {
    // Computed independently by test/io/weights_key.py (Python's json + hashlib), and the same for the
    // VAE as first committed (a29f3b4, before its rewrite with dit_ts_sha256). A change here means other
    // weights: every study.json and cached statistics made with these no longer match.
    assert.equal(weightsKey("models/fmnist-classifier/classifier.safetensors"), "b6c01c4d3364c72b");
    assert.equal(weightsKey("models/fashion-mnist/vae/vae.safetensors"), "d44d38c971d3517b");
  });
});
