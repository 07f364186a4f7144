/**
 * FID math against the `fid-math` fixture (pytorch-fid with scipy 1.10.1):
 * every case of every `fid_stats*.json` under `<fixture root>/fid-math/` is
 * checked — featureStats of the stored features against the stored μ, Σ
 * (≤ 1e-12 relative), and frechetDistance of the stored statistics against
 * the stored FID and components (≤ 1e-9 absolute for full-rank cases, ≤ 1e-6
 * when a set has fewer samples than dimensions, as the fixture README states).
 */
import assert from "node:assert/strict";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { featureStats, frechetDistance } from "../../src/eval/fid.js";
import { readSafetensors, type StTensor } from "../../src/io/safetensors.js";
import { Rng } from "../../src/util/rng.js";
import { FIXTURE_ROOT } from "../fixture-root.js";

const FAMILY = "fid-math";
const dir = join(FIXTURE_ROOT, FAMILY);
const statFiles = existsSync(dir) ? readdirSync(dir).filter((f) => /^fid_stats.*\.json$/.test(f)).sort() : [];

interface FidCase {
  n1: number;
  n2: number;
  dim: number;
  fid_pytorch_fid_scipy_sqrtm: number;
  components: { diff_dot_diff: number; trace_sigma1: number; trace_sigma2: number; trace_sqrtm_sigma1_sigma2: number };
  tensors: { feats1: string; feats2: string; mu1: string; sigma1: string; mu2: string; sigma2: string };
}

function maxRelErr(got: Float64Array, want: ArrayLike<number>): number {
  let maxAbs = 0;
  let maxErr = 0;
  for (let i = 0; i < got.length; i++) {
    maxAbs = Math.max(maxAbs, Math.abs(want[i]!));
    maxErr = Math.max(maxErr, Math.abs(got[i]! - want[i]!));
  }
  return maxErr / maxAbs;
}

function get(tensors: Map<string, StTensor>, name: string): StTensor {
  const t = tensors.get(name);
  assert.ok(t, `tensor ${name} missing from the fixture`);
  return t;
}

describe(`FID math: ${FAMILY}`, { skip: statFiles.length === 0 ? `no fid_stats*.json under ${dir}` : false }, () => {
  for (const file of statFiles) {
    const meta = JSON.parse(readFileSync(join(dir, file), "utf8")) as { file: string; cases: Record<string, FidCase> };
    const { tensors } = readSafetensors(join(dir, meta.file));
    for (const [name, c] of Object.entries(meta.cases)) {
      const tol = c.n1 < c.dim || c.n2 < c.dim ? 1e-6 : 1e-9;
      it(`${file} case ${name}: featureStats matches the stored μ, Σ (≤ 1e-12 relative)`, () => {
        for (const [feats, n, mu, sigma] of [
          [c.tensors.feats1, c.n1, c.tensors.mu1, c.tensors.sigma1],
          [c.tensors.feats2, c.n2, c.tensors.mu2, c.tensors.sigma2],
        ] as const) {
          const f = get(tensors, feats);
          assert.deepEqual(f.shape, [n, c.dim]);
          const got = featureStats(f.data as Float32Array, n, c.dim);
          const eMu = maxRelErr(got.mu, get(tensors, mu).data as Float64Array);
          const eSigma = maxRelErr(got.sigma, get(tensors, sigma).data as Float64Array);
          console.log(`  ${name}/${feats}: mu rel err ${eMu.toExponential(2)}, sigma rel err ${eSigma.toExponential(2)}`);
          assert.ok(eMu <= 1e-12, `mu relative error ${eMu}`);
          assert.ok(eSigma <= 1e-12, `sigma relative error ${eSigma}`);
        }
      });
      it(`${file} case ${name}: FID and components match pytorch-fid (≤ ${tol} absolute)`, () => {
        const r = frechetDistance(
          get(tensors, c.tensors.mu1).data as Float64Array,
          get(tensors, c.tensors.sigma1).data as Float64Array,
          get(tensors, c.tensors.mu2).data as Float64Array,
          get(tensors, c.tensors.sigma2).data as Float64Array,
        );
        const checks: [string, number, number][] = [
          ["fid", r.fid, c.fid_pytorch_fid_scipy_sqrtm],
          ["|Δμ|²", r.diffDotDiff, c.components.diff_dot_diff],
          ["tr Σ1", r.traceSigma1, c.components.trace_sigma1],
          ["tr Σ2", r.traceSigma2, c.components.trace_sigma2],
          ["tr √(Σ1Σ2)", r.traceSqrtProduct, c.components.trace_sqrtm_sigma1_sigma2],
        ];
        for (const [what, got, want] of checks) {
          console.log(`  ${name}: ${what} |Δ| = ${Math.abs(got - want).toExponential(2)}`);
          assert.ok(Math.abs(got - want) <= tol, `${what}: got ${got}, want ${want}`);
        }
      });
      it(`${file} case ${name}: FID of a set with itself ≈ 0, and a shift by d adds |d|²`, () => {
        const mu = get(tensors, c.tensors.mu1).data as Float64Array;
        const sigma = get(tensors, c.tensors.sigma1).data as Float64Array;
        const self = frechetDistance(mu, sigma, mu, sigma).fid;
        console.log(`  ${name}: FID(x, x) = ${self.toExponential(2)}`);
        assert.ok(Math.abs(self) <= tol, `FID(x, x) = ${self}`);
        const rng = new Rng(11);
        const shift = Float64Array.from(rng.normals(c.dim));
        const shifted = mu.map((m, j) => m + shift[j]!);
        const d2 = shift.reduce((a, b) => a + b * b, 0);
        const base = frechetDistance(mu, sigma, get(tensors, c.tensors.mu2).data as Float64Array, get(tensors, c.tensors.sigma2).data as Float64Array).fid;
        const moved = frechetDistance(shifted, sigma, shifted, sigma).fid;
        assert.ok(Math.abs(moved - self) <= 1e-9, "a common shift changes nothing");
        const one = frechetDistance(shifted, sigma, mu, sigma).fid;
        assert.ok(Math.abs(one - self - d2) <= 1e-9 * Math.max(1, d2), `shift by d: got ${one - self}, want |d|² = ${d2}`);
        assert.ok(base > 1, "distinct sets give a clearly positive FID");
      });
    }
  }
});

describe("featureStats / frechetDistance by hand", () => {
  it("mean and unbiased covariance of a 3×2 set", () => {
    // rows (1,2), (3,6), (5,4): μ = (3,4); centred (−2,−2),(0,2),(2,0); Σ = [[8,4],[4,8]]/2
    const { mu, sigma } = featureStats(Float64Array.of(1, 2, 3, 6, 5, 4), 3, 2);
    assert.deepEqual([...mu], [3, 4]);
    assert.deepEqual([...sigma], [4, 2, 2, 4]);
  });
  it("diagonal covariances: FID = |Δμ|² + Σ (√a − √b)²", () => {
    const r = frechetDistance(Float64Array.of(0, 0), Float64Array.of(4, 0, 0, 9), Float64Array.of(1, 1), Float64Array.of(1, 0, 0, 4));
    // 2 + (2−1)² + (3−2)² = 4
    assert.ok(Math.abs(r.fid - 4) < 1e-12, `${r.fid}`);
    assert.ok(Math.abs(r.traceSqrtProduct - (2 + 6)) < 1e-12);
  });
  it("rejects mismatched sizes with a clear error", () => {
    assert.throws(() => featureStats(new Float32Array(5), 3, 2), /expected 3×2 = 6 values, got 5/);
    assert.throws(() => frechetDistance(new Float64Array(2), new Float64Array(4), new Float64Array(3), new Float64Array(9)), /same non-zero length/);
  });
});
