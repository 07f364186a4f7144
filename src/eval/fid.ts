/**
 * Fréchet Inception Distance math, as pytorch-fid (Heusel et al. 2017,
 * https://github.com/mseitzer/pytorch-fid): Gaussian fits of feature sets and
 * the Fréchet distance between them, all in float64.
 */
import { EvalInputError } from "./errors.js";
import { matmul, sqrtPsd, symmetricEigen, symmetrize, trace } from "./linalg.js";

/** Mean (d) and covariance (d×d, row-major) of a feature set. */
export interface FeatureStats {
  mu: Float64Array;
  sigma: Float64Array;
}

/** FID and its parts: fid = diffDotDiff + traceSigma1 + traceSigma2 − 2·traceSqrtProduct. */
export interface FrechetResult {
  fid: number;
  diffDotDiff: number;
  traceSigma1: number;
  traceSigma2: number;
  /** tr sqrt(Σ1·Σ2) = Σ √max(0, λ), λ = eigenvalues of √Σ1·Σ2·√Σ1. */
  traceSqrtProduct: number;
}

/**
 * μ = mean over rows, Σ = np.cov(rowvar=False) (unbiased, divides by N−1) of
 * `features` (N, D) row-major, upcast to float64 as pytorch-fid does.
 */
export function featureStats(features: Float32Array | Float64Array, n: number, d: number): FeatureStats {
  if (!Number.isInteger(n) || !Number.isInteger(d) || n < 2 || d < 1) {
    throw new EvalInputError(`featureStats: expected at least 2 rows and 1 column, got n=${n}, d=${d}`);
  }
  if (features.length !== n * d) {
    throw new EvalInputError(`featureStats: expected ${n}×${d} = ${n * d} values, got ${features.length}`);
  }
  const mu = new Float64Array(d);
  for (let i = 0; i < n; i++) {
    const r = i * d;
    for (let j = 0; j < d; j++) mu[j]! += features[r + j]!;
  }
  for (let j = 0; j < d; j++) mu[j]! /= n;
  const sigma = new Float64Array(d * d); // upper triangle accumulated, then mirrored
  const x = new Float64Array(d); // (D) centred row
  for (let i = 0; i < n; i++) {
    const r = i * d;
    for (let j = 0; j < d; j++) x[j] = features[r + j]! - mu[j]!;
    for (let j = 0; j < d; j++) {
      const xj = x[j]!;
      if (xj === 0) continue;
      const row = j * d;
      for (let k = j; k < d; k++) sigma[row + k]! += xj * x[k]!;
    }
  }
  for (let j = 0; j < d; j++) {
    for (let k = j; k < d; k++) {
      const v = sigma[j * d + k]! / (n - 1);
      sigma[j * d + k] = v;
      sigma[k * d + j] = v;
    }
  }
  return { mu, sigma };
}

/**
 * Fréchet distance between N(μ1, Σ1) and N(μ2, Σ2):
 * |μ1 − μ2|² + tr Σ1 + tr Σ2 − 2·tr √(Σ1Σ2).
 * tr √(Σ1Σ2) comes from the eigenvalues of the symmetric √Σ1·Σ2·√Σ1 (same
 * spectrum as Σ1Σ2), not from a general matrix sqrtm; it agrees with
 * pytorch-fid's scipy value to ~1e-13 on full-rank covariances and ~1e-7 on
 * singular ones (fewer samples than dimensions).
 */
export function frechetDistance(mu1: Float64Array, sigma1: Float64Array, mu2: Float64Array, sigma2: Float64Array): FrechetResult {
  const d = mu1.length;
  if (d < 1 || mu2.length !== d) throw new EvalInputError(`frechetDistance: means must have the same non-zero length, got ${mu1.length} and ${mu2.length}`);
  if (sigma1.length !== d * d || sigma2.length !== d * d) {
    throw new EvalInputError(`frechetDistance: covariances must be ${d}×${d} = ${d * d} values, got ${sigma1.length} and ${sigma2.length}`);
  }
  let diffDotDiff = 0;
  for (let j = 0; j < d; j++) {
    const t = mu1[j]! - mu2[j]!;
    diffDotDiff += t * t;
  }
  const s1 = symmetrize(sigma1, d);
  const s2 = symmetrize(sigma2, d);
  const root1 = sqrtPsd(s1, d);
  const m = symmetrize(matmul(matmul(root1, s2, d, d, d), root1, d, d, d), d); // √Σ1·Σ2·√Σ1
  const { values } = symmetricEigen(m, d, { vectors: false });
  let traceSqrtProduct = 0;
  for (let j = 0; j < d; j++) traceSqrtProduct += Math.sqrt(Math.max(0, values[j]!));
  const traceSigma1 = trace(s1, d);
  const traceSigma2 = trace(s2, d);
  const fid = diffDotDiff + traceSigma1 + traceSigma2 - 2 * traceSqrtProduct;
  return { fid, diffDotDiff, traceSigma1, traceSigma2, traceSqrtProduct };
}
