/**
 * Inception Score (Salimans et al. 2016) and improved precision/recall
 * (Kynkäänniemi et al. 2019), following ADM's evaluator
 * (https://github.com/openai/guided-diffusion/blob/main/evaluations/evaluator.py), in float64.
 */
import { EvalInputError } from "./errors.js";

/** Softmax of each row of `logits` (N, C) row-major, in float64. */
export function softmaxRows(logits: Float32Array | Float64Array, n: number, classes: number): Float64Array {
  checkMatrix(logits, n, classes, "softmaxRows");
  const out = new Float64Array(n * classes);
  for (let i = 0; i < n; i++) {
    const r = i * classes;
    let max = -Infinity;
    for (let c = 0; c < classes; c++) max = Math.max(max, logits[r + c]!);
    let sum = 0;
    for (let c = 0; c < classes; c++) {
      const e = Math.exp(logits[r + c]! - max);
      out[r + c] = e;
      sum += e;
    }
    for (let c = 0; c < classes; c++) out[r + c]! /= sum;
  }
  return out;
}

/** IS: the mean over splits, their standard deviation, and each split's score. */
export interface InceptionScoreResult {
  score: number;
  std: number;
  splitScores: number[];
}

/**
 * Inception Score of class probabilities p(y|x) (N, C): the rows are cut into
 * `splits` consecutive parts [i·N/splits, (i+1)·N/splits); each part scores
 * exp(mean_x KL(p(y|x) ‖ p(y))) with p(y) the part's mean prediction; the
 * result is the mean over parts (ADM uses parts of 5000, i.e. 10 for 50k).
 * Terms with p(y|x) = 0 contribute 0 (numpy would give NaN).
 */
export function inceptionScore(probs: Float32Array | Float64Array, n: number, classes: number, splits = 10): InceptionScoreResult {
  checkMatrix(probs, n, classes, "inceptionScore");
  if (!Number.isInteger(splits) || splits < 1 || splits > n) {
    throw new EvalInputError(`inceptionScore: splits must be an integer in [1, ${n}] (the number of rows), got ${splits}`);
  }
  for (let i = 0; i < probs.length; i++) {
    const p = probs[i]!;
    if (!(p >= 0 && p <= 1)) throw new EvalInputError(`inceptionScore: expected probabilities in [0, 1] (apply softmaxRows to logits), got ${p} at ${i}`);
  }
  const splitScores: number[] = [];
  const py = new Float64Array(classes);
  for (let s = 0; s < splits; s++) {
    const lo = Math.floor((s * n) / splits);
    const hi = Math.floor(((s + 1) * n) / splits);
    py.fill(0);
    for (let i = lo; i < hi; i++) for (let c = 0; c < classes; c++) py[c]! += probs[i * classes + c]!;
    for (let c = 0; c < classes; c++) py[c]! /= hi - lo;
    let kl = 0;
    for (let i = lo; i < hi; i++) {
      for (let c = 0; c < classes; c++) {
        const p = probs[i * classes + c]!;
        if (p > 0) kl += p * (Math.log(p) - Math.log(py[c]!));
      }
    }
    splitScores.push(Math.exp(kl / (hi - lo)));
  }
  const score = splitScores.reduce((a, b) => a + b, 0) / splits;
  const std = Math.sqrt(splitScores.reduce((a, b) => a + (b - score) ** 2, 0) / splits);
  return { score, std, splitScores };
}

/** Improved precision and recall, and the k they used. */
export interface PrecisionRecallResult {
  precision: number;
  recall: number;
  k: number;
}

/**
 * Improved precision/recall (Kynkäänniemi et al. 2019, arXiv:1904.06991):
 * a sample lies in a set's manifold when its distance to some member is ≤
 * that member's distance to its k-th nearest neighbour in the set (itself
 * excluded). precision = share of `generated` rows inside the real manifold;
 * recall = share of `real` rows inside the generated manifold. Rows are
 * D-dimensional, row-major; distances are exact float64 (squared, which
 * orders the same), computed row against row with O(k) extra memory (no
 * N×N matrix), so any set size fits; the cost is O((N_real + N_gen)²·D).
 */
export function precisionRecall(
  real: Float32Array | Float64Array,
  nReal: number,
  generated: Float32Array | Float64Array,
  nGenerated: number,
  d: number,
  opts: { k?: number } = {},
): PrecisionRecallResult {
  const k = opts.k ?? 3;
  if (!Number.isInteger(k) || k < 1) throw new EvalInputError(`precisionRecall: k must be a positive integer, got ${k}`);
  checkMatrix(real, nReal, d, "precisionRecall (real)");
  checkMatrix(generated, nGenerated, d, "precisionRecall (generated)");
  if (nReal <= k || nGenerated <= k) {
    throw new EvalInputError(`precisionRecall: each set needs more than k = ${k} rows, got ${nReal} real and ${nGenerated} generated`);
  }
  const realRadii = kthNeighbourRadii(real, nReal, d, k);
  const genRadii = kthNeighbourRadii(generated, nGenerated, d, k);
  const precision = fractionInside(generated, nGenerated, real, nReal, realRadii, d);
  const recall = fractionInside(real, nReal, generated, nGenerated, genRadii, d);
  return { precision, recall, k };
}

function checkMatrix(a: Float32Array | Float64Array, n: number, d: number, what: string): void {
  if (!Number.isInteger(n) || !Number.isInteger(d) || n < 1 || d < 1) {
    throw new EvalInputError(`${what}: expected positive integer sizes, got ${n}×${d}`);
  }
  if (a.length !== n * d) throw new EvalInputError(`${what}: expected ${n}×${d} = ${n * d} values, got ${a.length}`);
}

/** |a_i − b_j|² for rows i of a and j of b. */
function sqDist(a: Float32Array | Float64Array, i: number, b: Float32Array | Float64Array, j: number, d: number): number {
  let s = 0;
  const ai = i * d;
  const bj = j * d;
  for (let c = 0; c < d; c++) {
    const t = a[ai + c]! - b[bj + c]!;
    s += t * t;
  }
  return s;
}

/** Squared distance of each row to its k-th nearest other row (N). */
function kthNeighbourRadii(x: Float32Array | Float64Array, n: number, d: number, k: number): Float64Array {
  const radii = new Float64Array(n);
  const best = new Float64Array(k); // k smallest so far, ascending
  for (let i = 0; i < n; i++) {
    best.fill(Infinity);
    for (let j = 0; j < n; j++) {
      if (j === i) continue;
      const dist = sqDist(x, i, x, j, d);
      if (dist >= best[k - 1]!) continue;
      let p = k - 1;
      while (p > 0 && best[p - 1]! > dist) {
        best[p] = best[p - 1]!;
        p--;
      }
      best[p] = dist;
    }
    radii[i] = best[k - 1]!;
  }
  return radii;
}

/** Share of rows of `query` within radius of some row of `set`. */
function fractionInside(
  query: Float32Array | Float64Array,
  nQuery: number,
  set: Float32Array | Float64Array,
  nSet: number,
  radii: Float64Array,
  d: number,
): number {
  let inside = 0;
  for (let i = 0; i < nQuery; i++) {
    for (let j = 0; j < nSet; j++) {
      if (sqDist(query, i, set, j, d) <= radii[j]!) {
        inside++;
        break;
      }
    }
  }
  return inside / nQuery;
}
