import { DitError } from "../errors.js";
/**
 * Timestep respacing (official `respace.space_timesteps`), with Python's exact
 * rounding: round-half-to-even on an accumulated float stride.
 */

/** An invalid respacing spec; thrown before any work starts. */
export class RespacingError extends DitError {
  constructor(message: string) {
    super(message);
    this.name = "RespacingError";
  }
}

/** Python's round(): nearest integer, ties to even. */
export function roundHalfEven(x: number): number {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/** Python int() of a decimal string (surrounding whitespace, sign and digit underscores allowed). */
function parseCount(s: string, spec: string): number {
  const m = /^\s*([+-]?)(\d+(?:_\d+)*)\s*$/.exec(s);
  if (!m) throw new RespacingError(`invalid timestep respacing ${JSON.stringify(spec)}: ${JSON.stringify(s)} is not an integer step count`);
  const v = Number(m[1]! + m[2]!.replaceAll("_", ""));
  if (v < 0) throw new RespacingError(`invalid timestep respacing ${JSON.stringify(spec)}: step count ${v} is negative`);
  return v;
}

/**
 * Which of `numTimesteps` original steps to keep. `sectionCounts` is a list
 * of per-section counts, a comma-separated string of them ("10,15,20": the
 * steps are split into equal sections, each strided evenly), or "ddimN" (the
 * integer stride of the DDIM paper that gives exactly N steps). Returns the
 * kept timesteps, sorted ascending. Throws RespacingError for invalid specs.
 */
export function spaceTimesteps(numTimesteps: number, sectionCounts: string | readonly number[]): number[] {
  if (!Number.isInteger(numTimesteps) || numTimesteps < 1) throw new RespacingError(`number of timesteps must be a positive integer, got ${numTimesteps}`);
  const spec = typeof sectionCounts === "string" ? sectionCounts : sectionCounts.join(",");
  let counts: number[];
  if (typeof sectionCounts === "string") {
    if (sectionCounts.startsWith("ddim")) {
      const desired = parseCount(sectionCounts.slice(4), spec);
      for (let i = 1; i < numTimesteps; i++) {
        if (Math.ceil(numTimesteps / i) === desired) return Array.from({ length: desired }, (_, k) => k * i);
      }
      throw new RespacingError(`invalid timestep respacing ${JSON.stringify(spec)}: cannot create exactly ${desired} steps out of ${numTimesteps} with an integer stride`);
    }
    counts = sectionCounts.split(",").map((s) => parseCount(s, spec));
  } else {
    counts = sectionCounts.map((c) => {
      if (!Number.isInteger(c) || c < 0) throw new RespacingError(`invalid timestep respacing [${spec}]: section counts must be non-negative integers, got ${c}`);
      return c;
    });
    if (counts.length === 0) throw new RespacingError("invalid timestep respacing []: no sections");
  }
  const sizePer = Math.floor(numTimesteps / counts.length);
  const extra = numTimesteps % counts.length;
  // validate every section before taking any steps
  counts.forEach((count, i) => {
    const size = sizePer + (i < extra ? 1 : 0);
    if (size < count) {
      throw new RespacingError(`invalid timestep respacing ${JSON.stringify(spec)}: cannot divide section ${i} of ${size} steps into ${count}`);
    }
  });
  const steps = new Set<number>();
  let startIdx = 0;
  counts.forEach((count, i) => {
    const size = sizePer + (i < extra ? 1 : 0);
    const fracStride = count <= 1 ? 1 : (size - 1) / (count - 1);
    let cur = 0.0;
    for (let k = 0; k < count; k++) {
      steps.add(startIdx + roundHalfEven(cur));
      cur += fracStride;
    }
    startIdx += size;
  });
  return [...steps].sort((a, b) => a - b);
}

/**
 * `count` of the original timesteps spaced evenly in log-SNR
 * λ_t = ½·log(ᾱ_t / (1 − ᾱ_t)) from t = T−1 to t = 0 (DPM-Solver's "logSNR"
 * step selection, rounded to the integer timesteps the model was trained on).
 * A uniform stride in t leaves one huge last interval in λ on DiT's linear
 * schedule (at 25 steps t = 42 → 0, λ ≈ 1.9 → 4.6, against ~0.4 per step
 * before), where any few-step sampler's error concentrates; even λ steps
 * spread it. Ascending, distinct, always holding 0 and T−1. Not part of the
 * official code; `createDiffusion("logsnr25")` selects it.
 */
export function logSnrTimesteps(alphasCumprod: ArrayLike<number>, count: number): number[] {
  const T = alphasCumprod.length;
  if (!Number.isInteger(count) || count < 2 || count > T) throw new RespacingError(`log-SNR respacing needs between 2 and ${T} steps, got ${count}`);
  const lambda = (t: number) => 0.5 * (Math.log(alphasCumprod[t]!) - Math.log1p(-alphasCumprod[t]!));
  const lo = lambda(T - 1);
  const hi = lambda(0);
  // Nearest timestep to each even λ target (λ falls as t grows), from t = 0 upwards.
  const picks: number[] = [];
  let t = 0;
  for (let k = 0; k < count; k++) {
    const target = hi + ((lo - hi) * k) / (count - 1);
    while (t + 1 < T && Math.abs(lambda(t + 1) - target) <= Math.abs(lambda(t) - target)) t++;
    picks.push(t);
  }
  // Where λ changes less than one step's worth per timestep, neighbours collide: keep them distinct, within [0, T−1].
  for (let k = 1; k < count; k++) picks[k] = Math.max(picks[k]!, picks[k - 1]! + 1);
  picks[count - 1] = T - 1;
  for (let k = count - 2; k >= 0; k--) picks[k] = Math.min(picks[k]!, picks[k + 1]! - 1);
  return picks;
}
