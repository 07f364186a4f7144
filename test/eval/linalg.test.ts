/** Symmetric eigen solver: reconstruction, orthogonality, and spectra known in closed form. */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { matmul, sqrtPsd, symmetricEigen, trace } from "../../src/eval/linalg.js";
import { Rng } from "../../src/util/rng.js";

function randomSymmetric(n: number, seed: number): Float64Array {
  const rng = new Rng(seed);
  const a = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j <= i; j++) {
      const v = rng.normal();
      a[i * n + j] = v;
      a[j * n + i] = v;
    }
  }
  return a;
}

function maxAbs(a: Float64Array): number {
  return a.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
}

describe("symmetricEigen", () => {
  for (const n of [1, 2, 5, 17, 64, 130]) {
    it(`random symmetric ${n}×${n}: A = VΛVᵀ to 1e-10·max|A|, VᵀV = I to 1e-12, ascending`, () => {
      const a = randomSymmetric(n, 100 + n);
      const { values, vectors } = symmetricEigen(a, n);
      const v = vectors!;
      const vl = new Float64Array(n * n);
      for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) vl[i * n + j] = v[i * n + j]! * values[j]!;
      const vt = new Float64Array(n * n);
      for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) vt[j * n + i] = v[i * n + j]!;
      const recon = matmul(vl, vt, n, n, n);
      const errA = maxAbs(recon.map((x, i) => x - a[i]!)) / maxAbs(a);
      const vtv = matmul(vt, v, n, n, n);
      const errI = maxAbs(vtv.map((x, i) => x - (i % (n + 1) === 0 ? 1 : 0)));
      console.log(`  n=${n}: reconstruction ${errA.toExponential(2)}, orthogonality ${errI.toExponential(2)}`);
      assert.ok(errA <= 1e-10, `reconstruction error ${errA}`);
      assert.ok(errI <= 1e-12, `orthogonality error ${errI}`);
      for (let i = 1; i < n; i++) assert.ok(values[i - 1]! <= values[i]!, "ascending");
      // Σλ = tr A, independent of the solver
      assert.ok(Math.abs(values.reduce((s, x) => s + x, 0) - trace(a, n)) <= 1e-10 * n);
      // values-only mode gives the same spectrum
      const only = symmetricEigen(a, n, { vectors: false });
      assert.equal(only.vectors, null);
      assert.ok(maxAbs(only.values.map((x, i) => x - values[i]!)) <= 1e-12 * Math.max(1, maxAbs(values)));
    });
  }

  it("tridiagonal [−1, 2, −1] of size 50 has eigenvalues 2 − 2cos(kπ/51)", () => {
    const n = 50;
    const a = new Float64Array(n * n);
    for (let i = 0; i < n; i++) {
      a[i * n + i] = 2;
      if (i > 0) a[i * n + i - 1] = a[(i - 1) * n + i] = -1;
    }
    const { values } = symmetricEigen(a, n, { vectors: false });
    for (let k = 1; k <= n; k++) {
      const want = 2 - 2 * Math.cos((k * Math.PI) / (n + 1));
      assert.ok(Math.abs(values[k - 1]! - want) <= 1e-13, `λ${k}: got ${values[k - 1]}, want ${want}`);
    }
  });

  it("repeated eigenvalues and a zero matrix", () => {
    const z = symmetricEigen(new Float64Array(9), 3);
    assert.deepEqual([...z.values], [0, 0, 0]);
    const id = symmetricEigen(Float64Array.of(3, 0, 0, 0, 3, 0, 0, 0, 3), 3);
    assert.deepEqual([...id.values], [3, 3, 3]);
  });

  it("sqrtPsd squares back, and clamps negative rounding to 0", () => {
    const n = 20;
    const b = randomSymmetric(n, 7);
    const psd = matmul(b, b, n, n, n); // BBᵀ = B² (B symmetric)
    const r = sqrtPsd(psd, n);
    const err = maxAbs(matmul(r, r, n, n, n).map((x, i) => x - psd[i]!)) / maxAbs(psd);
    assert.ok(err <= 1e-12, `√A·√A error ${err}`);
    assert.deepEqual([...sqrtPsd(Float64Array.of(-1e-18, 0, 0, 4), 2)], [0, 0, 0, 2]);
  });

  it("rejects a wrong size or non-finite entries", () => {
    assert.throws(() => symmetricEigen(new Float64Array(5), 2), /expected 2×2 = 4 values, got 5/);
    assert.throws(() => symmetricEigen(Float64Array.of(1, NaN, NaN, 1), 2), /expected finite/);
  });
});
