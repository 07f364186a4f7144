/**
 * The hybrid training loss as a jax-js function, for gradients through
 * `compile(valueAndGrad(...))`: mean over the batch of
 * mse(ε, ε̂) + vb, where the vb term sees the model's ε through a stop-gradient
 * (official training_losses: `frozen_out = cat([eps.detach(), var_values])`).
 *
 * Everything that does not depend on the parameters (x_t, the float32 schedule
 * coefficients, the posterior, the decoder's edge masks) is prepared on the
 * host by `trainingLossInputs`, as the official code's float32 tensors.
 */
import { lax, numpy as np, type Array } from "@jax-js/jax";
import type { DiTConfig } from "../model/config.js";
import { ditForward, type DiTParams } from "../model/dit.js";
import { Tensor } from "../runtime/tensor.js";
import type { GaussianDiffusion, Timesteps } from "./gaussian-diffusion.js";

/** Host inputs of `trainingLossFn` (a tree of tensors). */
export interface TrainingLossInputs<T = Tensor> {
  /** x_t = q_sample(x_0, t, ε) (N, C, H, W) */
  xT: T;
  /** timesteps given to the model (timestep_map[t]), float32 (N) */
  tModel: T;
  /** labels int32 (N) */
  y: T;
  noise: T;
  xStart: T;
  /** per-sample float32 coefficients, (N, 1, 1, 1) */
  sqrtRecip: T;
  sqrtRecipm1: T;
  coef1: T;
  coef2: T;
  minLog: T;
  maxLog: T;
  /** q posterior mean (N, C, H, W) and clipped log variance (N, 1, 1, 1) */
  trueMean: T;
  trueLogVar: T;
  /** 1 where t == 0 (decoder NLL), else 0 (KL); (N) */
  isFirst: T;
  /** x_0 < −0.999, x_0 > 0.999, else (decoder edge cases), (N, C, H, W) */
  low: T;
  high: T;
  mid: T;
}

/** Prepare the host inputs of the loss for (x_0, t, ε, y) under `diffusion`. */
export function trainingLossInputs(diffusion: GaussianDiffusion, xStart: Tensor, t: Timesteps, noise: Tensor, y: Tensor): TrainingLossInputs {
  if (diffusion.modelMeanType !== "epsilon" || diffusion.modelVarType !== "learned_range" || diffusion.lossType !== "mse") {
    throw new Error("trainingLossFn supports the DiT diffusion (epsilon mean, learned_range variance, mse loss)");
  }
  const N = xStart.shape[0]!;
  const ti = Int32Array.from(t instanceof Tensor ? (t.data as ArrayLike<number>) : t, Number);
  if (ti.length !== N) throw new RangeError(`trainingLossInputs: ${ti.length} timesteps for ${N} samples`);
  const coef = (arr: Float64Array) => new Tensor(Float32Array.from(ti, (i) => arr[i]!), [N, 1, 1, 1]);
  const xT = diffusion.qSample(xStart, ti, noise);
  const post = diffusion.qPosteriorMeanVariance(xStart, xT, ti);
  const xs = xStart.data as Float32Array;
  return {
    xT,
    tModel: new Tensor(Float32Array.from(ti, (i) => diffusion.timestepMap[i]!), [N]),
    y,
    noise,
    xStart,
    sqrtRecip: coef(diffusion.sqrtRecipAlphasCumprod),
    sqrtRecipm1: coef(diffusion.sqrtRecipm1AlphasCumprod),
    coef1: coef(diffusion.posteriorMeanCoef1),
    coef2: coef(diffusion.posteriorMeanCoef2),
    minLog: coef(diffusion.posteriorLogVarianceClipped),
    maxLog: coef(diffusion.betas.map(Math.log)),
    trueMean: post.mean,
    trueLogVar: coef(diffusion.posteriorLogVarianceClipped),
    isFirst: new Tensor(Float32Array.from(ti, (i) => (i === 0 ? 1 : 0)), [N]),
    low: new Tensor(xs.map((v) => (v < -0.999 ? 1 : 0)), [...xStart.shape]),
    high: new Tensor(xs.map((v) => (v > 0.999 ? 1 : 0)), [...xStart.shape]),
    mid: new Tensor(xs.map((v) => (v < -0.999 || v > 0.999 ? 0 : 1)), [...xStart.shape]),
  };
}

function approxCdf(x: Array): Array {
  const x3 = np.multiply(np.multiply(x.ref, x.ref), x.ref);
  const inner = np.multiply(Math.sqrt(2.0 / Math.PI), np.add(x, np.multiply(0.044715, x3)));
  return np.multiply(0.5, np.add(1.0, np.tanh(inner)));
}

/** mean over axes 1.. of (N, C, H, W) */
function meanFlat(x: Array): Array {
  return np.mean(x, [1, 2, 3]);
}

/**
 * The per-sample terms { loss, mse, vb } of the hybrid loss as jax-js arrays;
 * `p` are the DiT parameters without pos_embed (which is frozen), `freqs` the
 * timestep frequencies.
 */
export function trainingLossTerms(config: DiTConfig, p: Omit<DiTParams, "pos_embed">, posEmbed: Array, inp: TrainingLossInputs<Array>, freqs: Array): { loss: Array; mse: Array; vb: Array } {
  const out = ditForward(config, { ...p, pos_embed: posEmbed } as DiTParams, inp.xT.ref, inp.tModel, inp.y, freqs);
  return hybridLossTerms(config, out, inp);
}

/**
 * The per-sample terms { loss, mse, vb } from the model's output `out`
 * (N, 2C, H, W), for callers that run the model themselves (block-by-block
 * training). Uses every input but `tModel` and `y`, which it leaves alone.
 */
export function hybridLossTerms(config: DiTConfig, out: Array, inp: Omit<TrainingLossInputs<Array>, "tModel" | "y">): { loss: Array; mse: Array; vb: Array } {
  const C = config.inChannels;
  const [eps, v] = np.split(out, [C], 1) as [Array, Array];
  const mse = meanFlat(np.square(np.subtract(inp.noise, eps.ref)));
  // vb term: the mean prediction is frozen
  const epsF = lax.stopGradient(eps);
  const predXstart = np.subtract(np.multiply(inp.sqrtRecip, inp.xT.ref), np.multiply(inp.sqrtRecipm1, epsF));
  const mean = np.add(np.multiply(inp.coef1, predXstart), np.multiply(inp.coef2, inp.xT));
  const frac = np.divide(np.add(v, 1), 2);
  const logVar = np.add(np.multiply(frac.ref, inp.maxLog), np.multiply(np.subtract(1, frac), inp.minLog));
  // normal_kl(true_mean, true_logvar, mean, logVar)
  const d = np.subtract(inp.trueMean, mean.ref);
  const kl = np.multiply(
    0.5,
    np.add(
      np.add(np.subtract(np.add(-1.0, logVar.ref), inp.trueLogVar.ref), np.exp(np.subtract(inp.trueLogVar, logVar.ref))),
      np.multiply(np.square(d), np.exp(np.negative(logVar.ref))),
    ),
  );
  const klBits = np.divide(meanFlat(kl), Math.log(2.0));
  // decoder NLL, log_scales = 0.5 · logVar
  const centered = np.subtract(inp.xStart, mean);
  const invStdv = np.exp(np.multiply(-0.5, logVar));
  const cdfPlus = approxCdf(np.multiply(invStdv.ref, np.add(centered.ref, 1.0 / 255.0)));
  const cdfMin = approxCdf(np.multiply(invStdv, np.subtract(centered, 1.0 / 255.0)));
  const logCdfPlus = np.log(np.maximum(cdfPlus.ref, 1e-12));
  const logOneMinusCdfMin = np.log(np.maximum(np.subtract(1.0, cdfMin.ref), 1e-12));
  const logDelta = np.log(np.maximum(np.subtract(cdfPlus, cdfMin), 1e-12));
  const logProbs = np.add(np.add(np.multiply(inp.low, logCdfPlus), np.multiply(inp.high, logOneMinusCdfMin)), np.multiply(inp.mid, logDelta));
  const nllBits = np.divide(np.negative(meanFlat(logProbs)), Math.log(2.0));
  const vb = np.add(np.multiply(inp.isFirst.ref, nllBits), np.multiply(np.subtract(1, inp.isFirst), klBits));
  const loss = np.add(mse.ref, vb.ref);
  return { loss, mse, vb };
}

/** Scalar loss: training_losses(...)["loss"].mean(); differentiate with valueAndGrad (argument 0 = parameters). */
export function trainingLossFn(config: DiTConfig) {
  return (p: Omit<DiTParams, "pos_embed">, posEmbed: Array, inp: TrainingLossInputs<Array>, freqs: Array): Array => {
    const { loss, mse, vb } = trainingLossTerms(config, p, posEmbed, inp, freqs);
    mse.dispose();
    vb.dispose();
    return np.mean(loss);
  };
}
