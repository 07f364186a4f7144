import { DitError } from "../errors.js";
/**
 * Correlations for the study reports: Pearson's r and Spearman's ρ (Pearson's
 * r of the ranks, tied values sharing their average rank), as the DiT paper
 * correlates forward Gflops with FID (Fig. 8, r = −0.93 on log10 Gflops).
 */

/** A correlation that cannot be computed: fewer than 2 pairs, unequal lengths, a non-finite value or a constant series. */
export class CorrelationError extends DitError {
  override name = "CorrelationError";
}

function check(x: readonly number[], y: readonly number[], what: string): void {
  if (x.length !== y.length) throw new CorrelationError(`${what}: x has ${x.length} values and y ${y.length}; expected pairs`);
  if (x.length < 2) throw new CorrelationError(`${what}: needs at least 2 pairs, got ${x.length}`);
  for (const [name, v] of [["x", x], ["y", y]] as const) {
    const i = v.findIndex((e) => !Number.isFinite(e));
    if (i >= 0) throw new CorrelationError(`${what}: ${name}[${i}] is ${v[i]}; expected finite numbers`);
  }
}

/** The arithmetic mean Σx / n (NaN for no values). */
export function mean(x: readonly number[]): number {
  let s = 0;
  for (const v of x) s += v;
  return s / x.length;
}

/**
 * Pearson's product-moment correlation
 * r = Σ(x − x̄)(y − ȳ) / √(Σ(x − x̄)² Σ(y − ȳ)²), in [−1, 1].
 * Throws `CorrelationError` when it is undefined (a constant series, < 2 pairs).
 */
export function pearson(x: readonly number[], y: readonly number[]): number {
  check(x, y, "pearson");
  const mx = mean(x);
  const my = mean(y);
  let sxy = 0;
  let sxx = 0;
  let syy = 0;
  for (let i = 0; i < x.length; i++) {
    const dx = x[i]! - mx;
    const dy = y[i]! - my;
    sxy += dx * dy;
    sxx += dx * dx;
    syy += dy * dy;
  }
  if (sxx === 0 || syy === 0) throw new CorrelationError(`pearson: ${sxx === 0 ? "x" : "y"} is constant; the correlation is undefined`);
  return Math.max(-1, Math.min(1, sxy / Math.sqrt(sxx * syy)));
}

/** 1-based ranks of `x` in ascending order; tied values get the average of the ranks they span ("fractional" ranking). */
export function ranks(x: readonly number[]): number[] {
  const order = x.map((v, i) => [v, i] as const).sort((a, b) => a[0] - b[0]);
  const r = new Array<number>(x.length);
  for (let i = 0; i < order.length; ) {
    let j = i;
    while (j + 1 < order.length && order[j + 1]![0] === order[i]![0]) j++;
    const avg = (i + j) / 2 + 1; // ranks i+1 … j+1
    for (let k = i; k <= j; k++) r[order[k]![1]] = avg;
    i = j + 1;
  }
  return r;
}

/**
 * Spearman's rank correlation ρ: Pearson's r of the ranks, with average
 * ranks for ties (equal to 1 − 6Σd² / (n(n² − 1)) when there are none).
 */
export function spearman(x: readonly number[], y: readonly number[]): number {
  check(x, y, "spearman");
  try {
    return pearson(ranks(x), ranks(y));
  } catch (e) {
    throw new CorrelationError((e as Error).message.replace(/^pearson/, "spearman"));
  }
}
