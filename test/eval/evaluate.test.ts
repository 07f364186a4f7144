/** evaluate(): the numbers equal the metric functions applied to the features; identities; every bad input refused before any network work. */
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { EvalInputError } from "../../src/eval/errors.js";
import { evalReportJson, evaluate } from "../../src/eval/evaluate.js";
import { featureStats, frechetDistance } from "../../src/eval/fid.js";
import { inceptionScore, precisionRecall, softmaxRows } from "../../src/eval/metrics.js";
import { computeReferenceStats, writeReferenceStats } from "../../src/eval/reference-stats.js";
import { inMemoryImageSet, loadNpzImageSet, openImageFolderSet, openImageSet } from "../../src/eval/sample-set.js";
import { writeNpz } from "../../src/io/npz.js";
import { encodePng } from "../../src/sample/png.js";
import { randomImages, stubFeatures, stubLogits, stubNetwork, stubSpatial } from "./stub-network.js";

const H = 4;
const W = 4;
const C = 3;
const per = H * W * C;

/** The stub network's outputs for a set, computed here (not through evaluate). */
function rows(images: Uint8Array, n: number, f: (img: Uint8Array) => number[]): Float32Array {
  return Float32Array.from(Array.from({ length: n }, (_, i) => f(images.subarray(i * per, (i + 1) * per))).flat());
}

describe("evaluate", () => {
  const tmp = mkdtempSync(join(tmpdir(), "dit-evaluate-"));
  after(() => rmSync(tmp, { recursive: true, force: true }));
  const nRef = 20;
  const nGen = 9;
  const refImages = randomImages(nRef, H, W, C, 3);
  const genImages = randomImages(nGen, H, W, C, 11);
  const refSet = inMemoryImageSet(refImages, [nRef, H, W, C]);
  const genSet = inMemoryImageSet(genImages, [nGen, H, W, C]);

  it("gives the FID, sFID, IS and precision/recall of the features against the reference", async () => {
    const ref = await computeReferenceStats(stubNetwork(), refSet);
    const net = stubNetwork();
    const r = await evaluate({ samples: genSet, ref, net });
    // expected: the metric functions on features computed by the test itself
    const fr = rows(refImages, nRef, stubFeatures);
    const fg = rows(genImages, nGen, stubFeatures);
    const sr = rows(refImages, nRef, stubSpatial);
    const sg = rows(genImages, nGen, stubSpatial);
    const a = featureStats(fr, nRef, 4);
    const b = featureStats(fg, nGen, 4);
    assert.equal(r.fid, frechetDistance(b.mu, b.sigma, a.mu, a.sigma).fid);
    const as = featureStats(sr, nRef, 2);
    const bs = featureStats(sg, nGen, 2);
    assert.equal(r.sfid, frechetDistance(bs.mu, bs.sigma, as.mu, as.sigma).fid);
    const pr = precisionRecall(fr, nRef, fg, nGen, 4, { k: 3 });
    assert.equal(r.precision, pr.precision);
    assert.equal(r.recall, pr.recall);
    const is = inceptionScore(softmaxRows(rows(genImages, nGen, stubLogits), nGen, 3), nGen, 3, 1);
    assert.equal(r.inceptionScore, is.score);
    assert.equal(r.inceptionScoreSplits, 1);
    assert.equal(r.fidRankDeficient, false);
    assert.equal(r.classAccuracy, null, "not the fmnist network");
    assert.equal(r.numSamples, nGen);
    assert.equal(r.numReference, nRef);
    const json = evalReportJson(r);
    for (const k of ["fid", "sfid", "inception_score", "precision", "recall", "class_accuracy", "fid_rank_deficient", "num_samples", "network", "notes"]) assert.ok(k in json, k);
  });

  it("a set against its own reference: FID ≈ 0, precision = recall = 1", async () => {
    const ref = await computeReferenceStats(stubNetwork(), refSet);
    const r = await evaluate({ samples: refSet, ref, net: stubNetwork() });
    assert.ok(Math.abs(r.fid) < 1e-6, `fid ${r.fid}`);
    assert.ok(Math.abs(r.sfid!) < 1e-6, `sfid ${r.sfid}`);
    assert.equal(r.precision, 1);
    assert.equal(r.recall, 1);
  });

  it("a dataset reference gets its statistics computed, then cached", async () => {
    const net = stubNetwork();
    const cacheDir = join(tmp, "cache");
    const r1 = await evaluate({ samples: genSet, ref: refSet, net, cacheDir });
    assert.equal(r1.referenceCached, false);
    assert.equal(net.extracted, nGen + nRef);
    const r2 = await evaluate({ samples: genSet, ref: refSet, net, cacheDir });
    assert.equal(r2.referenceCached, true);
    assert.equal(net.extracted, 2 * nGen + nRef);
    assert.equal(r2.fid, r1.fid);
  });

  it("fewer samples than feature dimensions: warns, computes FID, flags it", async () => {
    const ref = await computeReferenceStats(stubNetwork(), refSet);
    const warnings: string[] = [];
    const r = await evaluate({ samples: inMemoryImageSet(genImages.subarray(0, 3 * per), [3, H, W, C]), ref, net: stubNetwork(), onWarning: (w) => warnings.push(w) });
    assert.equal(r.fidRankDeficient, true);
    assert.ok(Number.isFinite(r.fid));
    assert.match(warnings.join("\n"), /3 samples < 4 feature dimensions/);
    assert.equal(evalReportJson(r).fid_rank_deficient, true);
    assert.equal(r.precision, null, "3 samples ≤ k");
  });

  it("an ADM reference batch without features: precision/recall unavailable, said so", async () => {
    const ref = await computeReferenceStats(stubNetwork(), refSet);
    const r = await evaluate({ samples: genSet, ref: { ...ref, features: null, meta: null }, net: stubNetwork() });
    assert.equal(r.precision, null);
    assert.equal(r.recall, null);
    assert.match(r.notes.join("\n"), /precision\/recall unavailable: the reference has no stored features/);
  });

  describe("bad input is refused before any network work", () => {
    const dir = join(tmp, "bad");
    mkdirSync(dir, { recursive: true });
    const refPath = join(dir, "ref.npz");
    const refReady = computeReferenceStats(stubNetwork(), refSet).then((s) => writeReferenceStats(refPath, s));

    async function refused(samples: string, ref: string, pattern: RegExp, net = stubNetwork()): Promise<void> {
      await refReady;
      await assert.rejects(evaluate({ samples, ref, net }), (e: Error) => e instanceof EvalInputError && pattern.test(e.message));
      assert.equal(net.extracted, 0, "no network work");
    }

    it("images of mixed sizes in a folder, naming two files", async () => {
      const f = join(dir, "sizes");
      mkdirSync(f);
      writeFileSync(join(f, "000000.png"), encodePng(new Uint8Array(4 * 4), 4, 4, 1));
      writeFileSync(join(f, "000001.png"), encodePng(new Uint8Array(4 * 4), 4, 4, 1));
      writeFileSync(join(f, "000002.png"), encodePng(new Uint8Array(5 * 4), 5, 4, 1));
      await refused(f, refPath, /mixed sizes or modes.*000000\.png is 4×4 grey, 000002\.png is 5×4 grey/);
    });

    it("images of mixed modes (grey and RGB) in a folder", async () => {
      const f = join(dir, "modes");
      mkdirSync(f);
      writeFileSync(join(f, "000000.png"), encodePng(new Uint8Array(4 * 4 * 3), 4, 4, 3));
      writeFileSync(join(f, "000001.png"), encodePng(new Uint8Array(4 * 4), 4, 4, 1));
      await refused(f, refPath, /000000\.png is 4×4 RGB, 000001\.png is 4×4 grey/);
    });

    it("an .npz without arr_0, or whose arr_0 is not uint8 N×H×W×C", async () => {
      const noArr = join(dir, "noarr.npz");
      writeNpz(noArr, { images: { dtype: "uint8", shape: [1, 4, 4, 3], data: new Uint8Array(48) } });
      await refused(noArr, refPath, /no arr_0 \(holds images\)/);
      const float = join(dir, "float.npz");
      writeNpz(float, { arr_0: { dtype: "float32", shape: [1, 4, 4, 3], data: new Float32Array(48) } });
      await refused(float, refPath, /arr_0 is float32 \(1, 4, 4, 3\); expected uint8 N×H×W×C/);
      const threeD = join(dir, "nhw.npz");
      writeNpz(threeD, { arr_0: { dtype: "uint8", shape: [2, 4, 4], data: new Uint8Array(32) } });
      await refused(threeD, refPath, /arr_0 is uint8 \(2, 4, 4\)/);
      const fourC = join(dir, "rgba.npz");
      writeNpz(fourC, { arr_0: { dtype: "uint8", shape: [2, 4, 4, 4], data: new Uint8Array(128) } });
      await refused(fourC, refPath, /C = 1 or 3/);
    });

    it("reference statistics from another network, other weights, or another feature size", async () => {
      const samples = join(dir, "ok.npz");
      writeNpz(samples, { arr_0: { dtype: "uint8", shape: [nGen, H, W, C], data: genImages } });
      await refused(samples, refPath, /from the 'inception' network, but this evaluation uses 'fmnist'/, stubNetwork({ name: "fmnist" }));
      await refused(samples, refPath, /other 'inception' weights/, stubNetwork({ weightsKey: "new" }));
      const adm = join(dir, "adm.npz");
      writeNpz(adm, { mu: { dtype: "float64", shape: [2048], data: new Float64Array(2048) }, sigma: { dtype: "float64", shape: [2048, 2048], data: new Float64Array(2048 * 2048) } });
      await refused(samples, adm, /2048-dimensional features, the 'inception' network gives 4/);
    });
  });

  it("a sample folder: NNNNNN.png in numeric order, grid.png and hidden files ignored, labels from .dit-sample.json", () => {
    const f = join(tmp, "samples");
    mkdirSync(f);
    const imgs = randomImages(3, 4, 4, 1, 5);
    for (let i = 0; i < 3; i++) writeFileSync(join(f, `${String(i).padStart(6, "0")}.png`), encodePng(imgs.subarray(i * 16, (i + 1) * 16), 4, 4, 1));
    writeFileSync(join(f, "grid.png"), encodePng(new Uint8Array(8 * 8), 8, 8, 1)); // another size: must be ignored
    writeFileSync(join(f, ".dit-sample.json"), JSON.stringify({ files: [], labels: [7, 2, 9] }));
    const set = openImageFolderSet(f);
    assert.equal(set.count, 3);
    assert.deepEqual([set.height, set.width, set.channels], [4, 4, 1]);
    assert.deepEqual([...set.labels!], [7, 2, 9]);
    assert.deepEqual([...set.read(1, 2)], [...imgs.subarray(16, 48)]);
    // a subset folder of symbolic links (e.g. some shards of a set) reads the same images and labels
    const sub = join(tmp, "subset");
    mkdirSync(sub);
    for (const n of ["000000.png", "000002.png", ".dit-sample.json"]) symlinkSync(join(f, n), join(sub, n));
    const ss = openImageSet(sub);
    assert.equal(ss.count, 2);
    assert.deepEqual([...ss.labels!], [7, 9]);
    assert.deepEqual([...ss.read(1, 1)], [...imgs.subarray(32, 48)]);
  });

  it("an ADM sample .npz: arr_1 labels as int64 (ADM's sampler) or int32 (dit sample); negative labels refused", () => {
    const imgs = randomImages(3, 4, 4, 3, 6);
    const p64 = join(tmp, "adm-samples.npz");
    writeNpz(p64, { arr_0: { dtype: "uint8", shape: [3, 4, 4, 3], data: imgs }, arr_1: { dtype: "int64", shape: [3], data: BigInt64Array.from([4n, 0n, 9n]) } });
    assert.deepEqual([...loadNpzImageSet(p64).labels!], [4, 0, 9]);
    const p32 = join(tmp, "dit-samples.npz");
    writeNpz(p32, { arr_0: { dtype: "uint8", shape: [3, 4, 4, 3], data: imgs }, arr_1: { dtype: "int32", shape: [3], data: Int32Array.from([1, 2, 3]) } });
    assert.deepEqual([...loadNpzImageSet(p32).labels!], [1, 2, 3]);
    const bad = join(tmp, "bad-labels.npz");
    writeNpz(bad, { arr_0: { dtype: "uint8", shape: [3, 4, 4, 3], data: imgs }, arr_1: { dtype: "int64", shape: [3], data: BigInt64Array.from([1n, -1n, 2n]) } });
    assert.throws(() => loadNpzImageSet(bad), (e: unknown) => e instanceof EvalInputError && /arr_1 \(labels\) holds -1 at 1/.test(e.message));
  });
});
