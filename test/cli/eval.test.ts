/** `dit fid-stats` and `dit eval` end to end on 40 Fashion-MNIST test images (fmnist network). */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { FASHION_MNIST_DIR } from "../../src/data/dataset.js";
import { readIdxImageFile, readIdxLabelFile } from "../../src/data/idx.js";
import { FMNIST_CLASSIFIER_PATH } from "../../src/eval/fmnist-classifier.js";
import { readNpz, writeNpz } from "../../src/io/npz.js";

const BIN = fileURLToPath(new URL("../../bin/dit.mjs", import.meta.url));
const skip = !existsSync(FMNIST_CLASSIFIER_PATH) ? `no weights at ${FMNIST_CLASSIFIER_PATH}` : !existsSync(FASHION_MNIST_DIR) ? `no Fashion-MNIST at ${FASHION_MNIST_DIR}` : false;

describe("dit fid-stats / dit eval", { skip }, () => {
  const tmp = mkdtempSync(join(tmpdir(), "dit-eval-cli-"));
  after(() => rmSync(tmp, { recursive: true, force: true }));
  const env = { ...process.env, DIT_CACHE_DIR: join(tmp, "cache") };
  const dit = (...args: string[]) => execFileSync(process.execPath, [BIN, ...args], { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"], env });
  const n = 40;
  const data = join(tmp, "fmnist40.npz");
  if (!skip) {
    // as `dit sample --npz` writes them: 32×32 RGB with equal channels, padded; labels in arr_1
    const raw = readIdxImageFile(`${FASHION_MNIST_DIR}/t10k-images-idx3-ubyte.gz`);
    const labels = readIdxLabelFile(`${FASHION_MNIST_DIR}/t10k-labels-idx1-ubyte.gz`).slice(0, n);
    const x = new Uint8Array(n * 32 * 32 * 3);
    for (let i = 0; i < n; i++) for (let y = 0; y < 28; y++) for (let c = 0; c < 28; c++) x.fill(raw.pixels[i * 784 + y * 28 + c]!, ((i * 32 + y + 2) * 32 + c + 2) * 3, ((i * 32 + y + 2) * 32 + c + 3) * 3);
    writeNpz(data, { arr_0: { dtype: "uint8", shape: [n, 32, 32, 3], data: x }, arr_1: { dtype: "int32", shape: [n], data: labels } });
  }

  it("--help on both commands", () => {
    assert.match(dit("--help"), /fid-stats[\s\S]*eval/);
    assert.match(dit("fid-stats", "--help"), /Usage: dit fid-stats[\s\S]*--data[\s\S]*--net[\s\S]*--out/);
    assert.match(dit("eval", "--help"), /Usage: dit eval \[options\] <samples> <ref>[\s\S]*--json \[file\]/);
  });

  it("fid-stats writes ADM-named statistics; eval of the set against them gives FID ≈ 0, precision = recall = 1, flagged rank-deficient", () => {
    const ref = join(tmp, "ref.npz");
    const out = JSON.parse(dit("fid-stats", "--data", data, "--net", "fmnist", "--out", ref, "--json")) as Record<string, unknown>;
    assert.equal(out.network, "fmnist");
    assert.equal(out.n, n);
    assert.equal(out.cached, false);
    const arrays = readNpz(ref);
    assert.deepEqual(arrays.get("sigma")!.shape, [128, 128]);
    assert.equal(arrays.get("mu")!.dtype, "float64");
    assert.ok(arrays.has("dit_ts_meta") && arrays.has("features"));
    const again = JSON.parse(dit("fid-stats", "--data", data, "--out", join(tmp, "ref2.npz"), "--json")) as Record<string, unknown>;
    assert.equal(again.cached, true, "second run reads the cache");
    assert.equal(again.network, "fmnist", "default network for grey 32-px images");

    const jsonPath = join(tmp, "eval.json");
    const text = dit("eval", data, ref, "--json", jsonPath);
    assert.match(text, /FID\s+-?0\.0000/);
    const r = JSON.parse(readFileSync(jsonPath, "utf8")) as Record<string, number | boolean | null>;
    assert.ok(Math.abs(r.fid as number) < 1e-3, `fid ${r.fid}`); // Σ is singular (40 < 128): tr √(Σ·Σ) is accurate to ~1e-7 relative
    assert.equal(r.precision, 1);
    assert.equal(r.recall, 1);
    assert.equal(r.fid_rank_deficient, true);
    assert.equal(r.sfid, null);
    assert.equal(r.num_samples, n);
    assert.ok((r.class_accuracy as number) >= 0.85, `class accuracy ${r.class_accuracy}`);
    assert.ok((r.inception_score as number) > 1);
  });

  it("eval against a dataset reference computes and caches its statistics; refuses a reference from another network", () => {
    const cache = join(tmp, "other-cache"); // fid-stats above filled the default one with these statistics
    const first = JSON.parse(dit("eval", data, data, "--json", "--cache-dir", cache)) as Record<string, unknown>;
    assert.equal(first.reference_cached, false);
    const second = JSON.parse(dit("eval", data, data, "--json", "--cache-dir", cache)) as Record<string, unknown>;
    assert.equal(second.reference_cached, true);
    assert.equal(second.fid, first.fid);
    assert.throws(
      () => dit("eval", data, join(tmp, "ref.npz"), "--net", "inception"),
      (e: { status: number; stderr: string }) => e.status !== 0 && /from the 'fmnist' network, but this evaluation uses 'inception'/.test(e.stderr),
    );
  });
});
