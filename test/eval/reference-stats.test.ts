/** Reference statistics: npz round trip (ADM names), metadata, network checks, the cache (hit, miss, key changes). */
import assert from "node:assert/strict";
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { EvalInputError } from "../../src/eval/errors.js";
import { checkReferenceMatches, computeReferenceStats, readReferenceStats, referenceCacheKey, referenceStats, writeReferenceStats } from "../../src/eval/reference-stats.js";
import { inMemoryImageSet } from "../../src/eval/sample-set.js";
import { readNpz, writeNpz } from "../../src/io/npz.js";
import { meanCov, randomImages, stubFeatures, stubNetwork, stubSpatial } from "./stub-network.js";

const H = 4;
const W = 4;
const C = 3;
const per = H * W * C;

function rowsOf(images: Uint8Array, n: number, f: (img: Uint8Array) => number[]): number[][] {
  return Array.from({ length: n }, (_, i) => f(images.subarray(i * per, (i + 1) * per)).map(Math.fround)); // the network gives float32
}

function close(got: ArrayLike<number>, want: number[], tol: number, what: string): void {
  assert.equal(got.length, want.length, what);
  for (let i = 0; i < want.length; i++) assert.ok(Math.abs(got[i]! - want[i]!) <= tol * (1 + Math.abs(want[i]!)), `${what}[${i}]: ${got[i]} vs ${want[i]}`);
}

describe("reference statistics", () => {
  const tmp = mkdtempSync(join(tmpdir(), "dit-refstats-"));
  after(() => rmSync(tmp, { recursive: true, force: true }));
  const n = 12;
  const images = randomImages(n, H, W, C, 7);
  const set = inMemoryImageSet(images, [n, H, W, C], { source: "test-set" });

  it("computes μ, Σ (and μ_s, Σ_s) of the features and round-trips them through an ADM-compatible npz", async () => {
    const net = stubNetwork();
    const stats = await computeReferenceStats(net, set, { split: "test" });
    const f = meanCov(rowsOf(images, n, stubFeatures));
    const s = meanCov(rowsOf(images, n, stubSpatial));
    close(stats.mu, f.mu, 1e-12, "mu");
    close(stats.sigma, f.sigma.flat(), 1e-12, "sigma");
    close(stats.muS!, s.mu, 1e-12, "mu_s");
    close(stats.sigmaS!, s.sigma.flat(), 1e-12, "sigma_s");
    close(stats.features!, rowsOf(images, n, stubFeatures).flat(), 0, "features");
    const path = join(tmp, "ref.npz");
    writeReferenceStats(path, stats);
    const raw = readNpz(path);
    assert.deepEqual([...raw.keys()].sort(), ["dit_ts_meta", "features", "mu", "mu_s", "sigma", "sigma_s"]);
    assert.equal(raw.get("mu")!.dtype, "float64");
    assert.deepEqual(raw.get("sigma")!.shape, [4, 4]);
    assert.deepEqual(raw.get("sigma_s")!.shape, [2, 2]);
    assert.equal(raw.get("features")!.dtype, "float32");
    assert.deepEqual(raw.get("features")!.shape, [n, 4]);
    const back = readReferenceStats(path);
    assert.deepEqual([...back.mu], [...stats.mu]);
    assert.deepEqual([...back.sigma], [...stats.sigma]);
    assert.deepEqual([...back.sigmaS!], [...stats.sigmaS!]);
    assert.deepEqual([...back.features!], [...stats.features!]);
    assert.equal(back.meta!.network, "inception");
    assert.equal(back.meta!.weightsKey, "stub-weights-1");
    assert.equal(back.meta!.n, n);
    assert.equal(back.meta!.spatialDim, 2);
    assert.equal(back.meta!.dataset.split, "test");
    assert.equal(back.meta!.dataset.fingerprint, set.fingerprint);
  });

  it("reads an ADM reference batch (mu, sigma, mu_s, sigma_s, arr_0; no metadata or features)", () => {
    const path = join(tmp, "adm.npz");
    writeNpz(path, {
      arr_0: { dtype: "uint8", shape: [1, 2, 2, 3], data: new Uint8Array(12) },
      mu: { dtype: "float64", shape: [4], data: Float64Array.of(1, 2, 3, 4) },
      sigma: { dtype: "float64", shape: [4, 4], data: new Float64Array(16) },
      mu_s: { dtype: "float64", shape: [2], data: Float64Array.of(5, 6) },
      sigma_s: { dtype: "float64", shape: [2, 2], data: new Float64Array(4) },
    });
    const r = readReferenceStats(path);
    assert.equal(r.meta, null);
    assert.equal(r.features, null);
    assert.deepEqual([...r.mu], [1, 2, 3, 4]);
    assert.deepEqual([...r.muS!], [5, 6]);
    checkReferenceMatches(r, stubNetwork(), path); // sizes agree: accepted
    assert.throws(() => checkReferenceMatches(r, { name: "fmnist", weightsKey: "k", featureDim: 128, spatialDim: null }, path), (e: Error) => e instanceof EvalInputError && /4-dimensional features, the 'fmnist' network gives 128/.test(e.message));
    assert.throws(() => checkReferenceMatches(r, { name: "inception", weightsKey: "k", featureDim: 4, spatialDim: 3 }, path), /mu_s\) have 2 values.*spatial features have 3/);
    writeNpz(join(tmp, "bad.npz"), { mu: { dtype: "float64", shape: [4], data: new Float64Array(4) }, sigma: { dtype: "float64", shape: [3, 3], data: new Float64Array(9) } });
    assert.throws(() => readReferenceStats(join(tmp, "bad.npz")), /sigma is float64 \(3, 3\), expected float64 \(4, 4\)/);
  });

  it("refuses statistics from another network or other weights, saying which", async () => {
    const stats = await computeReferenceStats(stubNetwork(), set);
    assert.throws(() => checkReferenceMatches(stats, stubNetwork({ name: "fmnist" }), "ref.npz"), (e: Error) => e instanceof EvalInputError && /from the 'inception' network, but this evaluation uses 'fmnist'/.test(e.message));
    assert.throws(() => checkReferenceMatches(stats, stubNetwork({ weightsKey: "other" }), "ref.npz"), /other 'inception' weights \(key stub-weights-1; these weights are other\)/);
  });

  it("caches: computed once, read back the second time; the key changes with the data and with the weights", async () => {
    const cacheDir = join(tmp, "cache");
    const net = stubNetwork();
    const first = await referenceStats({ data: set, net, cacheDir });
    assert.equal(first.cached, false);
    assert.equal(net.extracted, n);
    assert.ok(first.cachePath!.startsWith(cacheDir));
    const second = await referenceStats({ data: set, net, cacheDir });
    assert.equal(second.cached, true);
    assert.equal(second.cachePath, first.cachePath);
    assert.equal(net.extracted, n, "the second call runs no network");
    assert.deepEqual([...second.stats.sigma], [...first.stats.sigma]);

    const key = referenceCacheKey(net, set);
    const changed = randomImages(n, H, W, C, 7);
    changed[5] = changed[5]! ^ 1; // one pixel of one image
    const set2 = inMemoryImageSet(changed, [n, H, W, C]);
    assert.notEqual(referenceCacheKey(net, set2), key, "data change → new key");
    const net2 = stubNetwork({ weightsKey: "stub-weights-2" });
    assert.notEqual(referenceCacheKey(net2, set), key, "weights change → new key");
    assert.notEqual(referenceCacheKey(net, set, "test"), key, "split → new key");
    const third = await referenceStats({ data: set2, net, cacheDir });
    assert.equal(third.cached, false);
    const fourth = await referenceStats({ data: set, net: net2, cacheDir });
    assert.equal(fourth.cached, false);
    assert.equal(net2.extracted, n);
    assert.equal(readdirSync(cacheDir).filter((f) => f.endsWith(".npz")).length, 3);

    writeFileSync(first.cachePath!, "not an npz"); // a damaged entry is recomputed and replaced
    const fifth = await referenceStats({ data: set, net, cacheDir });
    assert.equal(fifth.cached, false);
    assert.equal((await referenceStats({ data: set, net, cacheDir })).cached, true);
    const none = await referenceStats({ data: set, net, cacheDir, cache: false });
    assert.equal(none.cachePath, null);
    assert.equal(none.cached, false);
  });
});
