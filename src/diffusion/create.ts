/**
 * `createDiffusion` (official `diffusion/__init__.py: create_diffusion`) and
 * the respaced diffusion (official `respace.SpacedDiffusion`).
 */
import { GaussianDiffusion, type LossType, type ModelMeanType, type ModelVarType } from "./gaussian-diffusion.js";
import { logSnrTimesteps, RespacingError, spaceTimesteps } from "./respace.js";
import { getNamedBetaSchedule, type NoiseSchedule } from "./schedules.js";

/**
 * A diffusion that keeps only `useTimesteps` of a base schedule: betas are
 * re-derived as 1 − ᾱ_t / ᾱ_{t_prev}, and the model sees the original
 * timesteps through `timestepMap`.
 */
export function spacedDiffusion(
  useTimesteps: Iterable<number>,
  opts: { betas: ArrayLike<number>; modelMeanType?: ModelMeanType; modelVarType?: ModelVarType; lossType?: LossType },
): GaussianDiffusion {
  const use = new Set(useTimesteps);
  const base = new GaussianDiffusion({ betas: opts.betas });
  const newBetas: number[] = [];
  const timestepMap: number[] = [];
  let last = 1.0;
  base.alphasCumprod.forEach((ac, i) => {
    if (use.has(i)) {
      newBetas.push(1 - ac / last);
      last = ac;
      timestepMap.push(i);
    }
  });
  if (newBetas.length === 0) throw new RangeError("spacedDiffusion: no timesteps kept");
  return new GaussianDiffusion({ ...opts, betas: newBetas, timestepMap, originalNumSteps: base.numTimesteps });
}

export interface CreateDiffusionOptions {
  /**
   * "" (all steps), "250", "ddim25", "10,15,20", or section counts, as the
   * official code; or "logsnrN": N steps evenly spaced in log-SNR (see
   * `logSnrTimesteps`; best for few-step samplers such as DPM-Solver++). Default "".
   */
  timestepRespacing?: string | readonly number[];
  noiseSchedule?: NoiseSchedule;
  useKl?: boolean;
  sigmaSmall?: boolean;
  predictXstart?: boolean;
  learnSigma?: boolean;
  rescaleLearnedSigmas?: boolean;
  diffusionSteps?: number;
}

/**
 * The diffusion DiT trains and samples with: linear schedule over 1000 steps,
 * ε prediction, learned-range variance, MSE + vb loss; respaced when asked.
 * An invalid respacing throws RespacingError before anything is built.
 */
export function createDiffusion(opts: CreateDiffusionOptions | string = {}): GaussianDiffusion {
  const o: CreateDiffusionOptions = typeof opts === "string" ? { timestepRespacing: opts } : opts;
  const steps = o.diffusionSteps ?? 1000;
  let respacing = o.timestepRespacing ?? "";
  if (respacing === "") respacing = [steps];
  const betas = getNamedBetaSchedule(o.noiseSchedule ?? "linear", steps);
  const use = typeof respacing === "string" && respacing.startsWith("logsnr") ? logSnrTimesteps(new GaussianDiffusion({ betas }).alphasCumprod, logSnrCount(respacing)) : spaceTimesteps(steps, respacing);
  const lossType: LossType = o.useKl ? "rescaled_kl" : o.rescaleLearnedSigmas ? "rescaled_mse" : "mse";
  const learnSigma = o.learnSigma ?? true;
  return spacedDiffusion(use, {
    betas,
    modelMeanType: o.predictXstart ? "start_x" : "epsilon",
    modelVarType: learnSigma ? "learned_range" : o.sigmaSmall ? "fixed_small" : "fixed_large",
    lossType,
  });
}

function logSnrCount(spec: string): number {
  const m = /^logsnr(\d+)$/.exec(spec);
  if (!m) throw new RespacingError(`invalid timestep respacing ${JSON.stringify(spec)}: expected "logsnrN" with N a step count, e.g. "logsnr25"`);
  return Number(m[1]);
}
