/**
 * Beta schedules (official `gaussian_diffusion.get_named_beta_schedule`), in float64.
 */

export type NoiseSchedule = "linear" | "squaredcos_cap_v2" | "cosine";

/** numpy.linspace(start, stop, num) exactly as numpy computes it (i·step + start, last = stop). */
export function linspace(start: number, stop: number, num: number): Float64Array {
  const out = new Float64Array(num);
  if (num === 0) return out;
  if (num === 1) {
    out[0] = start;
    return out;
  }
  const step = (stop - start) / (num - 1);
  for (let i = 0; i < num; i++) out[i] = i * step + start;
  out[num - 1] = stop;
  return out;
}

/** The official `get_beta_schedule` ("quad", "linear", "const", "jsd"). */
export function getBetaSchedule(
  schedule: "quad" | "linear" | "const" | "jsd",
  betaStart: number,
  betaEnd: number,
  numDiffusionTimesteps: number,
): Float64Array {
  let betas: Float64Array;
  switch (schedule) {
    case "quad":
      betas = linspace(Math.sqrt(betaStart), Math.sqrt(betaEnd), numDiffusionTimesteps).map((v) => v * v);
      break;
    case "linear":
      betas = linspace(betaStart, betaEnd, numDiffusionTimesteps);
      break;
    case "const":
      betas = new Float64Array(numDiffusionTimesteps).fill(betaEnd);
      break;
    case "jsd":
      betas = linspace(numDiffusionTimesteps, 1, numDiffusionTimesteps).map((v) => 1 / v);
      break;
    default:
      throw new Error(`unknown beta schedule: ${String(schedule)}`);
  }
  return betas;
}

/**
 * Betas that discretise alphaBar(t), t in [0, 1]: beta_i = min(1 − ᾱ((i+1)/T)/ᾱ(i/T), maxBeta).
 */
export function betasForAlphaBar(numDiffusionTimesteps: number, alphaBar: (t: number) => number, maxBeta = 0.999): Float64Array {
  const betas = new Float64Array(numDiffusionTimesteps);
  for (let i = 0; i < numDiffusionTimesteps; i++) {
    const t1 = i / numDiffusionTimesteps;
    const t2 = (i + 1) / numDiffusionTimesteps;
    betas[i] = Math.min(1 - alphaBar(t2) / alphaBar(t1), maxBeta);
  }
  return betas;
}

/**
 * Named schedules: "linear" (Ho et al., scaled to any step count: 1e-4 → 2e-2 at 1000
 * steps, DiT's) and "squaredcos_cap_v2" (alias "cosine", Nichol & Dhariwal).
 */
export function getNamedBetaSchedule(name: NoiseSchedule, numDiffusionTimesteps: number): Float64Array {
  if (!Number.isInteger(numDiffusionTimesteps) || numDiffusionTimesteps < 1) {
    throw new RangeError(`number of diffusion timesteps must be a positive integer, got ${numDiffusionTimesteps}`);
  }
  if (name === "linear") {
    const scale = 1000 / numDiffusionTimesteps;
    return getBetaSchedule("linear", scale * 0.0001, scale * 0.02, numDiffusionTimesteps);
  }
  if (name === "squaredcos_cap_v2" || name === "cosine") {
    return betasForAlphaBar(numDiffusionTimesteps, (t) => Math.cos(((t + 0.008) / 1.008) * (Math.PI / 2)) ** 2);
  }
  throw new Error(`unknown beta schedule: ${String(name)} (expected "linear" or "squaredcos_cap_v2")`);
}
