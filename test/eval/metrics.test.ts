/** Inception Score and improved precision/recall on tiny cases worked out by hand. */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { inceptionScore, precisionRecall, softmaxRows } from "../../src/eval/metrics.js";

describe("inceptionScore", () => {
  it("uniform predictions give IS = 1", () => {
    const r = inceptionScore(new Float64Array(40 * 4).fill(0.25), 40, 4, 10);
    assert.ok(Math.abs(r.score - 1) < 1e-15, `${r.score}`);
    assert.equal(r.splitScores.length, 10);
  });
  it("one-hot predictions spread evenly over K classes give IS = K", () => {
    const K = 5;
    const n = 50; // 10 splits of 5 rows, each row's class = i mod K, so every split holds each class once
    const p = new Float64Array(n * K);
    for (let i = 0; i < n; i++) p[i * K + (i % K)] = 1;
    const r = inceptionScore(p, n, K, 10);
    assert.ok(Math.abs(r.score - K) < 1e-12, `${r.score}`);
    assert.ok(r.std < 1e-12);
  });
  it("two rows (0.9, 0.1) and (0.1, 0.9), one split: exp(0.9·ln 1.8 + 0.1·ln 0.2)", () => {
    const r = inceptionScore(Float64Array.of(0.9, 0.1, 0.1, 0.9), 2, 2, 1);
    const want = Math.exp(0.9 * Math.log(1.8) + 0.1 * Math.log(0.2));
    assert.ok(Math.abs(r.score - want) < 1e-14, `${r.score} vs ${want}`);
  });
  it("softmaxRows normalises logits; bad input is rejected", () => {
    const p = softmaxRows(Float32Array.of(0, Math.log(3), 1000, 1000), 2, 2);
    assert.ok(Math.abs(p[0]! - 0.25) < 1e-7 && Math.abs(p[1]! - 0.75) < 1e-7);
    assert.deepEqual([p[2], p[3]], [0.5, 0.5]);
    assert.throws(() => inceptionScore(Float64Array.of(2, -1), 1, 2, 1), /probabilities in \[0, 1\]/);
    assert.throws(() => inceptionScore(new Float64Array(4).fill(0.5), 2, 2, 3), /splits must be an integer in \[1, 2\]/);
  });
});

describe("precisionRecall (k = 3 unless stated)", () => {
  // Real: the 4 corners of the unit square. Each corner's neighbours: two at 1, one at √2, so the 3rd-NN radius is √2.
  const real = Float64Array.of(0, 0, 1, 0, 0, 1, 1, 1);
  it("identical sets give precision = recall = 1", () => {
    const r = precisionRecall(real, 4, real, 4, 2);
    assert.deepEqual([r.precision, r.recall, r.k], [1, 1, 3]);
  });
  it("disjoint far sets give 0, 0", () => {
    const far = real.map((v) => v + 100);
    const r = precisionRecall(real, 4, far, 4, 2);
    assert.deepEqual([r.precision, r.recall], [0, 0]);
  });
  it("hand-worked: 2 of 4 generated points inside the real manifold; the generated manifold holds all 4 real", () => {
    // Generated: (0.5, 0.5) is √0.5 from (0,0) ≤ √2: inside; (1, 2.4) is 1.4 from (1,1) ≤ √2 ≈ 1.414: inside;
    // (3, 3), (3, 4) are ≥ √8 from every corner: outside. Precision = 2/4.
    // Generated 3rd-NN radius of (0.5, 0.5) is |(0.5,0.5) − (3,4)| = √18.5 ≈ 4.30, and every corner is within
    // √0.5 of (0.5, 0.5): recall = 4/4.
    const gen = Float64Array.of(0.5, 0.5, 1, 2.4, 3, 3, 3, 4);
    const r3 = precisionRecall(real, 4, gen, 4, 2);
    assert.deepEqual([r3.precision, r3.recall], [0.5, 1]);
    // k = 1: real radii are 1 (nearest corner); (0.5,0.5) is √0.5 from a corner: inside; (1,2.4) is 1.4 > 1: outside
    // → precision 1/4. Generated 1-NN radius of (0.5,0.5) is |(0.5,0.5) − (1,2.4)| ≈ 1.965 ≥ √0.5 → recall still 1.
    const r1 = precisionRecall(real, 4, gen, 4, 2, { k: 1 });
    assert.deepEqual([r1.precision, r1.recall], [0.25, 1]);
  });
  it("recall drops when the generated set misses part of the real set (k = 1)", () => {
    // Real: 4 points on a line at 0, 1, 10, 11. Generated: 0.1, 0.9, 0.2, 0.8 (all near the first pair).
    // Generated 1-NN radii: 0.1 (0.1↔0.2), 0.1 (0.9↔0.8), 0.1, 0.1. Real 0 is 0.1 from 0.1 → inside; 1 is 0.1 from 0.9 → inside;
    // 10 and 11 are far → recall 2/4. Real 1-NN radii: 1, 1, 1, 1; every generated point is within 1 of 0 or 1 → precision 1.
    const r = precisionRecall(Float64Array.of(0, 1, 10, 11), 4, Float64Array.of(0.1, 0.9, 0.2, 0.8), 4, 1, { k: 1 });
    assert.deepEqual([r.precision, r.recall], [1, 0.5]);
  });
  it("needs more than k rows per set, and matching sizes", () => {
    assert.throws(() => precisionRecall(real, 4, real.subarray(0, 6), 3, 2), /more than k = 3 rows/);
    assert.throws(() => precisionRecall(real, 4, real, 3, 2), /expected 3×2 = 6 values, got 8/);
  });
});
