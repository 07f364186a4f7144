/**
 * Gaussian diffusion (official `diffusion/gaussian_diffusion.py` and
 * `respace.py`): schedule arrays in float64, q(x_t | x_0), the posterior,
 * p(x_{t-1} | x_t) from a model, the hybrid training loss, and DDPM / DDIM
 * sampling loops.
 *
 * As the official `_extract_into_tensor`, a coefficient is read from a
 * float64 array and cast to float32 before use, and the elementwise math runs
 * in float32 (Math.fround after each operation, in PyTorch's order), so the
 * loops track the PyTorch reference to float32 rounding. Elementwise steps run
 * on the host; the model call (compiled) is the expensive part.
 */
import { Tensor } from "../runtime/tensor.js";
import { Rng } from "../util/rng.js";
import { discretizedGaussianLogLikelihood, meanFlat, normalKl } from "./losses.js";

const f = Math.fround;
const LN2 = f(Math.log(2.0));

/** What the model's mean channels predict. */
export type ModelMeanType = "epsilon" | "start_x";
/** How the variance is obtained: learned (log-variance), learned_range (interpolation frac), or fixed. */
export type ModelVarType = "learned" | "learned_range" | "fixed_small" | "fixed_large";
/** Training loss: MSE on the mean (+ vb term when the variance is learned), or the variational bound. */
export type LossType = "mse" | "rescaled_mse" | "kl" | "rescaled_kl";

/**
 * A denoiser: x_t (N, C, H, W) float32 and t (N) int32 timesteps (original
 * 0..T−1 timesteps; a respaced diffusion maps its indices first) → output
 * (N, C or 2C, H, W).
 */
export type ModelFn = (x: Tensor, t: Tensor) => Promise<Tensor>;

/** Timestep indices of this diffusion, one per sample. */
export type Timesteps = Tensor | ArrayLike<number>;

export interface GaussianDiffusionOptions {
  /** float64 betas, one per step. */
  betas: ArrayLike<number>;
  modelMeanType?: ModelMeanType;
  modelVarType?: ModelVarType;
  lossType?: LossType;
  /** index → original timestep given to the model (respaced diffusions); identity when absent. */
  timestepMap?: ArrayLike<number>;
  /** Number of steps of the original schedule (respaced diffusions). */
  originalNumSteps?: number;
}

export interface MeanVariance {
  mean: Tensor;
  variance: Tensor;
  logVariance: Tensor;
}

export interface PMeanVariance extends MeanVariance {
  predXstart: Tensor;
  /** The raw model output (mean channels, then variance channels when learned). */
  modelOutput: Tensor;
}

export interface TrainingLossTerms {
  /** Per sample: mse + vb (or the vb alone for the KL losses). */
  loss: Float32Array;
  mse?: Float32Array;
  vb?: Float32Array;
  /** Pieces: x_t, model output, and the vb term's parts (when computed). */
  xT: Tensor;
  modelOutput: Tensor;
  vbParts?: {
    trueMean: Tensor;
    trueLogVarianceClipped: Tensor;
    modelMean: Tensor;
    modelLogVariance: Tensor;
    predXstart: Tensor;
    klBits: Float32Array;
    decoderNllBits: Float32Array;
  };
}

/** Noise and randomness of a sampling loop. */
export interface SampleOptions {
  /** x_T (defaults to standard normal noise from the generator). */
  noise?: Tensor | Float32Array;
  /** Per-step noise, in call order (step i uses stepNoise[i]); a (S, …) tensor or a list. Defaults to the generator. */
  stepNoise?: Tensor | readonly (Tensor | Float32Array)[];
  /** Seeded generator for whatever noise is not supplied (default new Rng(seed ?? 0)). */
  rng?: Rng;
  /**
   * One generator per batch row, instead of `rng`: row r's x_T (when `noise` is
   * not given) and its per-step noise come from rowRngs[r], so a sample does
   * not depend on the batch it is drawn in. Length must equal the batch size.
   */
  rowRngs?: readonly Rng[];
  seed?: number;
  /** Clamp pred_xstart to [-1, 1] (default true, as the official code). */
  clipDenoised?: boolean;
  /** Optional transform of pred_xstart before clipping. */
  denoisedFn?: (x: Tensor) => Tensor;
}

export interface DdimOptions extends SampleOptions {
  /** DDIM η (0 = deterministic). */
  eta?: number;
}

/** One step of a progressive loop. */
export interface SampleStep {
  /** Step number (0 = first, at t = S−1). */
  step: number;
  /** Index into this diffusion's schedule. */
  t: number;
  /** Timestep the model saw (timestep_map[t]). */
  tModel: number;
  sample: Tensor;
  predXstart: Tensor;
}

function log64(a: Float64Array): Float64Array {
  return a.map((v) => Math.log(v));
}

function asF32(x: Tensor | Float32Array): Float32Array {
  if (x instanceof Tensor) {
    if (!(x.data instanceof Float32Array)) throw new TypeError(`expected a float32 tensor, got ${x.dtype}`);
    return x.data;
  }
  return x;
}

export class GaussianDiffusion {
  readonly modelMeanType: ModelMeanType;
  readonly modelVarType: ModelVarType;
  readonly lossType: LossType;
  readonly numTimesteps: number;
  readonly originalNumSteps: number;
  /** index → original timestep (the identity for an unspaced diffusion). */
  readonly timestepMap: Int32Array;

  readonly betas: Float64Array;
  readonly alphasCumprod: Float64Array;
  readonly alphasCumprodPrev: Float64Array;
  readonly alphasCumprodNext: Float64Array;
  readonly sqrtAlphasCumprod: Float64Array;
  readonly sqrtOneMinusAlphasCumprod: Float64Array;
  readonly logOneMinusAlphasCumprod: Float64Array;
  readonly sqrtRecipAlphasCumprod: Float64Array;
  readonly sqrtRecipm1AlphasCumprod: Float64Array;
  readonly posteriorVariance: Float64Array;
  readonly posteriorLogVarianceClipped: Float64Array;
  readonly posteriorMeanCoef1: Float64Array;
  readonly posteriorMeanCoef2: Float64Array;
  private readonly oneMinusAlphasCumprod: Float64Array;
  private readonly logBetas: Float64Array;
  private readonly fixedLarge: [Float64Array, Float64Array];

  constructor(opts: GaussianDiffusionOptions) {
    const betas = Float64Array.from(opts.betas);
    const T = betas.length;
    if (T < 1) throw new RangeError("GaussianDiffusion: betas must not be empty");
    for (const b of betas) if (!(b > 0 && b <= 1)) throw new RangeError(`GaussianDiffusion: betas must lie in (0, 1], got ${b}`);
    this.modelMeanType = opts.modelMeanType ?? "epsilon";
    this.modelVarType = opts.modelVarType ?? "learned_range";
    this.lossType = opts.lossType ?? "mse";
    this.numTimesteps = T;
    this.originalNumSteps = opts.originalNumSteps ?? T;
    this.timestepMap = opts.timestepMap ? Int32Array.from(opts.timestepMap) : Int32Array.from({ length: T }, (_, i) => i);
    if (this.timestepMap.length !== T) throw new RangeError(`GaussianDiffusion: timestepMap has ${this.timestepMap.length} entries for ${T} betas`);

    this.betas = betas;
    const alphas = betas.map((b) => 1.0 - b);
    const ac = new Float64Array(T);
    let p = 1;
    for (let i = 0; i < T; i++) ac[i] = p = i === 0 ? alphas[0]! : p * alphas[i]!;
    this.alphasCumprod = ac;
    this.alphasCumprodPrev = Float64Array.from({ length: T }, (_, i) => (i === 0 ? 1.0 : ac[i - 1]!));
    this.alphasCumprodNext = Float64Array.from({ length: T }, (_, i) => (i === T - 1 ? 0.0 : ac[i + 1]!));
    this.sqrtAlphasCumprod = ac.map(Math.sqrt);
    this.oneMinusAlphasCumprod = ac.map((a) => 1.0 - a);
    this.sqrtOneMinusAlphasCumprod = ac.map((a) => Math.sqrt(1.0 - a));
    this.logOneMinusAlphasCumprod = ac.map((a) => Math.log(1.0 - a));
    this.sqrtRecipAlphasCumprod = ac.map((a) => Math.sqrt(1.0 / a));
    this.sqrtRecipm1AlphasCumprod = ac.map((a) => Math.sqrt(1.0 / a - 1));
    const prev = this.alphasCumprodPrev;
    this.posteriorVariance = betas.map((b, i) => (b * (1.0 - prev[i]!)) / (1.0 - ac[i]!));
    const pv = this.posteriorVariance;
    this.posteriorLogVarianceClipped = T > 1 ? Float64Array.from({ length: T }, (_, i) => Math.log(i === 0 ? pv[1]! : pv[i]!)) : new Float64Array(0);
    this.posteriorMeanCoef1 = betas.map((b, i) => (b * Math.sqrt(prev[i]!)) / (1.0 - ac[i]!));
    this.posteriorMeanCoef2 = betas.map((_, i) => ((1.0 - prev[i]!) * Math.sqrt(alphas[i]!)) / (1.0 - ac[i]!));
    this.logBetas = log64(betas);
    const large = Float64Array.from({ length: T }, (_, i) => (i === 0 ? pv[1] ?? betas[0]! : betas[i]!));
    this.fixedLarge = [large, log64(large)];
  }

  // ---- helpers ---------------------------------------------------------------

  /** Timestep indices as an Int32Array, range-checked. */
  private indices(t: Timesteps, n: number): Int32Array {
    const src = t instanceof Tensor ? t.data : t;
    if (src.length !== n) throw new RangeError(`timesteps: expected ${n} (one per sample), got ${src.length}`);
    const out = new Int32Array(n);
    for (let i = 0; i < n; i++) {
      const v = Number(src[i]);
      if (!Number.isInteger(v) || v < 0 || v >= this.numTimesteps) throw new RangeError(`timestep ${v} out of range [0, ${this.numTimesteps})`);
      out[i] = v;
    }
    return out;
  }

  /** `_extract_into_tensor`: arr[t] cast to float32, one value per sample. */
  private extract(arr: Float64Array, t: Int32Array): Float32Array {
    return Float32Array.from(t, (i) => arr[i]!);
  }

  /** Apply `fn(n, i)` over an (N, …) array with `per` elements per sample. */
  private static map(shape: number[], fn: (n: number, i: number) => number): Tensor {
    const len = shape.reduce((a, b) => a * b, 1);
    const per = len / shape[0]!;
    const out = new Float32Array(len);
    for (let n = 0, i = 0; n < shape[0]!; n++) for (let e = 0; e < per; e++, i++) out[i] = fn(n, i);
    return new Tensor(out, [...shape]);
  }

  private static broadcast(coef: Float32Array, shape: number[]): Tensor {
    return GaussianDiffusion.map(shape, (n) => coef[n]!);
  }

  /** The model as this diffusion calls it: indices mapped through timestep_map. */
  private async callModel(model: ModelFn, x: Tensor, t: Int32Array): Promise<Tensor> {
    const tm = new Tensor(Int32Array.from(t, (i) => this.timestepMap[i]!), [t.length]);
    const out = await model(x, tm);
    return out;
  }

  // ---- forward process ---------------------------------------------------------

  /** q(x_t | x_0): mean, variance, log variance (broadcast to x_start's shape). */
  qMeanVariance(xStart: Tensor, t: Timesteps): MeanVariance {
    const ti = this.indices(t, xStart.shape[0]!);
    const a = this.extract(this.sqrtAlphasCumprod, ti);
    const xs = asF32(xStart);
    return {
      mean: GaussianDiffusion.map(xStart.shape, (n, i) => f(a[n]! * xs[i]!)),
      variance: GaussianDiffusion.broadcast(this.extract(this.oneMinusAlphasCumprod, ti), xStart.shape),
      logVariance: GaussianDiffusion.broadcast(this.extract(this.logOneMinusAlphasCumprod, ti), xStart.shape),
    };
  }

  /** Sample x_t = √ᾱ_t x_0 + √(1−ᾱ_t) ε (ε from `rng` when not given). */
  qSample(xStart: Tensor, t: Timesteps, noise?: Tensor | Float32Array, rng?: Rng): Tensor {
    const ti = this.indices(t, xStart.shape[0]!);
    const xs = asF32(xStart);
    const eps = noise ? asF32(noise) : (rng ?? new Rng(0)).normals(xs.length);
    if (eps.length !== xs.length) throw new RangeError(`qSample: noise has ${eps.length} elements, x_start ${xs.length}`);
    const a = this.extract(this.sqrtAlphasCumprod, ti);
    const b = this.extract(this.sqrtOneMinusAlphasCumprod, ti);
    return GaussianDiffusion.map(xStart.shape, (n, i) => f(f(a[n]! * xs[i]!) + f(b[n]! * eps[i]!)));
  }

  /** q(x_{t−1} | x_t, x_0): mean, variance, clipped log variance. */
  qPosteriorMeanVariance(xStart: Tensor, xT: Tensor, t: Timesteps): MeanVariance {
    const ti = this.indices(t, xStart.shape[0]!);
    const xs = asF32(xStart);
    const xt = asF32(xT);
    const c1 = this.extract(this.posteriorMeanCoef1, ti);
    const c2 = this.extract(this.posteriorMeanCoef2, ti);
    return {
      mean: GaussianDiffusion.map(xStart.shape, (n, i) => f(f(c1[n]! * xs[i]!) + f(c2[n]! * xt[i]!))),
      variance: GaussianDiffusion.broadcast(this.extract(this.posteriorVariance, ti), xStart.shape),
      logVariance: GaussianDiffusion.broadcast(this.extract(this.posteriorLogVarianceClipped, ti), xStart.shape),
    };
  }

  /** x_0 from ε: √(1/ᾱ_t) x_t − √(1/ᾱ_t − 1) ε. */
  predictXstartFromEps(xT: Tensor, t: Timesteps, eps: Tensor | Float32Array): Tensor {
    const ti = this.indices(t, xT.shape[0]!);
    const xt = asF32(xT);
    const e = asF32(eps);
    const a = this.extract(this.sqrtRecipAlphasCumprod, ti);
    const b = this.extract(this.sqrtRecipm1AlphasCumprod, ti);
    return GaussianDiffusion.map(xT.shape, (n, i) => f(f(a[n]! * xt[i]!) - f(b[n]! * e[i]!)));
  }

  /** ε from x_0: (√(1/ᾱ_t) x_t − x_0) / √(1/ᾱ_t − 1). */
  predictEpsFromXstart(xT: Tensor, t: Timesteps, predXstart: Tensor): Tensor {
    const ti = this.indices(t, xT.shape[0]!);
    const xt = asF32(xT);
    const px = asF32(predXstart);
    const a = this.extract(this.sqrtRecipAlphasCumprod, ti);
    const b = this.extract(this.sqrtRecipm1AlphasCumprod, ti);
    return GaussianDiffusion.map(xT.shape, (n, i) => f(f(f(a[n]! * xt[i]!) - px[i]!) / b[n]!));
  }

  // ---- reverse process ------------------------------------------------------------

  /**
   * p(x_{t−1} | x_t) from a model output already computed (the official
   * p_mean_variance after its model call): splits the variance channels,
   * derives pred_xstart (clipped to [-1, 1] when clipDenoised) and the mean.
   */
  pMeanVarianceFromOutput(
    modelOutput: Tensor,
    x: Tensor,
    t: Timesteps,
    opts: { clipDenoised?: boolean; denoisedFn?: (x: Tensor) => Tensor } = {},
  ): PMeanVariance {
    const [B, C, ...rest] = x.shape as [number, number, ...number[]];
    const ti = this.indices(t, B);
    const plane = rest.reduce((a, b) => a * b, 1);
    const learned = this.modelVarType === "learned" || this.modelVarType === "learned_range";
    const outC = learned ? 2 * C : C;
    if (modelOutput.shape.length !== x.shape.length || modelOutput.shape[0] !== B || modelOutput.shape[1] !== outC || modelOutput.shape.slice(2).some((d, i) => d !== rest[i])) {
      throw new RangeError(`model output must be (${[B, outC, ...rest].join(", ")}) for x (${x.shape.join(", ")}) with ${this.modelVarType} variance, got (${modelOutput.shape.join(", ")})`);
    }
    const mo = asF32(modelOutput);
    const len = B * C * plane;
    const meanOut = new Float32Array(len);
    const logVar = new Float32Array(len);
    const variance = new Float32Array(len);
    // split (B, 2C, …) into mean channels and variance channels
    for (let b = 0; b < B; b++) meanOut.set(mo.subarray(b * outC * plane, (b * outC + C) * plane), b * C * plane);
    if (learned) {
      const minLog = this.extract(this.posteriorLogVarianceClipped, ti);
      const maxLog = this.extract(this.logBetas, ti);
      for (let b = 0; b < B; b++) {
        const src = (b * outC + C) * plane;
        for (let e = 0; e < C * plane; e++) {
          const v = mo[src + e]!;
          let lv: number;
          if (this.modelVarType === "learned") lv = v;
          else {
            const frac = f(f(v + 1) / 2);
            lv = f(f(frac * maxLog[b]!) + f(f(1 - frac) * minLog[b]!));
          }
          logVar[b * C * plane + e] = lv;
          variance[b * C * plane + e] = f(Math.exp(lv));
        }
      }
    } else {
      const [va, lva] = this.modelVarType === "fixed_large" ? this.fixedLarge : [this.posteriorVariance, this.posteriorLogVarianceClipped];
      const v = this.extract(va, ti);
      const lv = this.extract(lva, ti);
      for (let i = 0; i < len; i++) {
        const n = Math.floor(i / (C * plane));
        variance[i] = v[n]!;
        logVar[i] = lv[n]!;
      }
    }
    const process = (p: Tensor): Tensor => {
      let q = opts.denoisedFn ? opts.denoisedFn(p) : p;
      if (opts.clipDenoised) q = new Tensor(asF32(q).map((v) => Math.min(1, Math.max(-1, v))), q.shape);
      return q;
    };
    const mt = new Tensor(meanOut, [...x.shape]);
    const predXstart = process(this.modelMeanType === "start_x" ? mt : this.predictXstartFromEps(x, ti, mt));
    const { mean } = this.qPosteriorMeanVariance(predXstart, x, ti);
    return { mean, variance: new Tensor(variance, [...x.shape]), logVariance: new Tensor(logVar, [...x.shape]), predXstart, modelOutput };
  }

  /** p(x_{t−1} | x_t): calls the model (with timestep_map[t]) and derives mean, variance and pred_xstart. */
  async pMeanVariance(model: ModelFn, x: Tensor, t: Timesteps, opts: { clipDenoised?: boolean; denoisedFn?: (x: Tensor) => Tensor } = {}): Promise<PMeanVariance> {
    const ti = this.indices(t, x.shape[0]!);
    const out = await this.callModel(model, x, ti);
    return this.pMeanVarianceFromOutput(out, x, ti, { clipDenoised: opts.clipDenoised ?? true, denoisedFn: opts.denoisedFn });
  }

  // ---- training -------------------------------------------------------------

  /**
   * The vb term (bits per dimension) for an already computed model output:
   * KL(q(x_{t−1}|x_t,x_0) ‖ p(x_{t−1}|x_t)), or the decoder NLL at t = 0.
   */
  vbTermsBpd(modelOutput: Tensor, xStart: Tensor, xT: Tensor, t: Timesteps, clipDenoised = false): NonNullable<TrainingLossTerms["vbParts"]> & { output: Float32Array } {
    const B = xStart.shape[0]!;
    const ti = this.indices(t, B);
    const tp = this.qPosteriorMeanVariance(xStart, xT, ti);
    const out = this.pMeanVarianceFromOutput(modelOutput, xT, ti, { clipDenoised });
    const xs = asF32(xStart);
    const tm = asF32(tp.mean);
    const tlv = asF32(tp.logVariance);
    const mm = asF32(out.mean);
    const mlv = asF32(out.logVariance);
    const kl = new Float32Array(xs.length);
    const nll = new Float32Array(xs.length);
    for (let i = 0; i < xs.length; i++) {
      kl[i] = normalKl(tm[i]!, tlv[i]!, mm[i]!, mlv[i]!);
      nll[i] = -discretizedGaussianLogLikelihood(xs[i]!, mm[i]!, f(0.5 * mlv[i]!));
    }
    const klBits = meanFlat(kl, B).map((v) => f(v / LN2));
    const decoderNllBits = meanFlat(nll, B).map((v) => f(v / LN2));
    const output = Float32Array.from(ti, (tv, b) => (tv === 0 ? decoderNllBits[b]! : klBits[b]!));
    return {
      output,
      trueMean: tp.mean,
      trueLogVarianceClipped: tp.logVariance,
      modelMean: out.mean,
      modelLogVariance: out.logVariance,
      predXstart: out.predXstart,
      klBits,
      decoderNllBits,
    };
  }

  /**
   * Per-sample training losses (official training_losses): x_t = q_sample(x_0, t, ε),
   * mse = mean((ε − ε̂)²), and with a learned variance the vb term computed
   * with the mean prediction frozen (the hybrid loss). Values only; for
   * gradients see `trainingLossFn`.
   */
  async trainingLosses(model: ModelFn, xStart: Tensor, t: Timesteps, noise?: Tensor | Float32Array, rng?: Rng): Promise<TrainingLossTerms> {
    const B = xStart.shape[0]!;
    const C = xStart.shape[1]!;
    const ti = this.indices(t, B);
    const eps = noise ? asF32(noise) : (rng ?? new Rng(0)).normals(xStart.data.length);
    const xT = this.qSample(xStart, ti, eps);
    const modelOutput = await this.callModel(model, xT, ti);
    if (this.lossType === "kl" || this.lossType === "rescaled_kl") {
      const vb = this.vbTermsBpd(modelOutput, xStart, xT, ti, false);
      const loss = this.lossType === "rescaled_kl" ? vb.output.map((v) => f(v * this.numTimesteps)) : vb.output;
      return { loss, xT, modelOutput, vbParts: vb };
    }
    const learned = this.modelVarType === "learned" || this.modelVarType === "learned_range";
    let vbParts: TrainingLossTerms["vbParts"];
    let vb: Float32Array | undefined;
    if (learned) {
      const r = this.vbTermsBpd(modelOutput, xStart, xT, ti, false);
      vb = this.lossType === "rescaled_mse" ? r.output.map((v) => f(v * f(this.numTimesteps / 1000.0))) : r.output;
      vbParts = r;
    }
    const mo = asF32(modelOutput);
    const outC = learned ? 2 * C : C;
    const per = xStart.data.length / B;
    const target = this.modelMeanType === "epsilon" ? eps : asF32(xStart);
    const sq = new Float32Array(B * per);
    for (let b = 0; b < B; b++) {
      for (let e = 0; e < per; e++) {
        const d = f(target[b * per + e]! - mo[b * outC * (per / C) + e]!);
        sq[b * per + e] = f(d * d);
      }
    }
    const mse = meanFlat(sq, B);
    const loss = vb ? mse.map((m, b) => f(m + vb[b]!)) : mse;
    return { loss, mse, vb, xT, modelOutput, vbParts };
  }

  // ---- sampling ----------------------------------------------------------------

  private noiseSource(shape: number[], opts: SampleOptions): { init: Float32Array; step: (i: number) => Float32Array } {
    const len = shape.reduce((a, b) => a * b, 1);
    const rows = opts.rowRngs;
    if (rows && rows.length !== shape[0]) throw new RangeError(`rowRngs has ${rows.length} generators, the batch has ${shape[0]} rows`);
    const rng = opts.rng ?? new Rng(opts.seed ?? 0);
    // per-row streams: each row's values drawn from its own generator, rows concatenated
    const draw = rows ? () => perRowNormals(rows, len) : () => rng.normals(len);
    const init = opts.noise ? asF32(opts.noise) : draw();
    if (init.length !== len) throw new RangeError(`initial noise has ${init.length} elements, shape (${shape.join(", ")}) needs ${len}`);
    const sn = opts.stepNoise;
    let step: (i: number) => Float32Array;
    if (sn instanceof Tensor) {
      const data = asF32(sn);
      if (data.length !== len * this.numTimesteps) throw new RangeError(`stepNoise must hold ${this.numTimesteps} × ${len} values, got ${data.length}`);
      step = (i) => data.subarray(i * len, (i + 1) * len);
    } else if (sn) {
      if (sn.length !== this.numTimesteps) throw new RangeError(`stepNoise must hold ${this.numTimesteps} arrays (one per step), got ${sn.length}`);
      step = (i) => {
        const d = asF32(sn[i]!);
        if (d.length !== len) throw new RangeError(`stepNoise[${i}] has ${d.length} elements, expected ${len}`);
        return d;
      };
    } else step = draw;
    return { init, step };
  }

  /** One DDPM step: x_{t−1} = mean + [t ≠ 0] · exp(½ log σ²) · z. */
  async pSample(model: ModelFn, x: Tensor, t: Timesteps, noise: Float32Array, opts: SampleOptions = {}): Promise<{ sample: Tensor; predXstart: Tensor }> {
    const ti = this.indices(t, x.shape[0]!);
    const out = await this.pMeanVariance(model, x, ti, { clipDenoised: opts.clipDenoised ?? true, denoisedFn: opts.denoisedFn });
    const mean = asF32(out.mean);
    const lv = asF32(out.logVariance);
    const sample = GaussianDiffusion.map(x.shape, (n, i) => {
      const mask = ti[n] !== 0 ? 1 : 0;
      return f(mean[i]! + f(f(mask * f(Math.exp(f(0.5 * lv[i]!)))) * noise[i]!));
    });
    return { sample, predXstart: out.predXstart };
  }

  /** DDPM sampling from x_T down to t = 0, yielding every step. */
  pSampleLoopProgressive(model: ModelFn, shape: number[], opts: SampleOptions = {}): AsyncGenerator<SampleStep> {
    return this.sampleLoop(shape, opts, (img, t, noise) => this.pSample(model, img, t, noise, opts));
  }

  /** DDPM sampling; returns the final sample. */
  pSampleLoop(model: ModelFn, shape: number[], opts: SampleOptions = {}): Promise<Tensor> {
    return finalSample(this.pSampleLoopProgressive(model, shape, opts));
  }

  /** The reverse loop shared by DDPM and DDIM: from x_T (given or drawn) down to t = 0, one step function. */
  private async *sampleLoop(
    shape: number[],
    opts: SampleOptions,
    stepFn: (img: Tensor, t: Int32Array, noise: Float32Array) => Promise<{ sample: Tensor; predXstart: Tensor }>,
  ): AsyncGenerator<SampleStep> {
    const { init, step } = this.noiseSource(shape, opts);
    let img = new Tensor(init, [...shape]);
    for (let s = 0; s < this.numTimesteps; s++) {
      const i = this.numTimesteps - 1 - s;
      const out = await stepFn(img, new Int32Array(shape[0]!).fill(i), step(s));
      yield { step: s, t: i, tModel: this.timestepMap[i]!, sample: out.sample, predXstart: out.predXstart };
      img = out.sample;
    }
  }

  /** One DDIM step (η = 0: deterministic). */
  async ddimSample(model: ModelFn, x: Tensor, t: Timesteps, noise: Float32Array, opts: DdimOptions = {}): Promise<{ sample: Tensor; predXstart: Tensor }> {
    const ti = this.indices(t, x.shape[0]!);
    const out = await this.pMeanVariance(model, x, ti, { clipDenoised: opts.clipDenoised ?? true, denoisedFn: opts.denoisedFn });
    const eps = asF32(this.predictEpsFromXstart(x, ti, out.predXstart));
    const px = asF32(out.predXstart);
    const eta = f(opts.eta ?? 0);
    const ab = this.extract(this.alphasCumprod, ti);
    const abp = this.extract(this.alphasCumprodPrev, ti);
    const B = ti.length;
    const sigma = new Float32Array(B);
    const sqrtAbp = new Float32Array(B);
    const dirCoef = new Float32Array(B);
    for (let n = 0; n < B; n++) {
      const a = ab[n]!;
      const ap = abp[n]!;
      sigma[n] = f(f(eta * f(Math.sqrt(f(f(1 - ap) / f(1 - a))))) * f(Math.sqrt(f(1 - f(a / ap)))));
      sqrtAbp[n] = f(Math.sqrt(ap));
      dirCoef[n] = f(Math.sqrt(f(f(1 - ap) - f(sigma[n]! * sigma[n]!))));
    }
    const sample = GaussianDiffusion.map(x.shape, (n, i) => {
      const meanPred = f(f(px[i]! * sqrtAbp[n]!) + f(dirCoef[n]! * eps[i]!));
      const mask = ti[n] !== 0 ? 1 : 0;
      return f(meanPred + f(f(mask * sigma[n]!) * noise[i]!));
    });
    return { sample, predXstart: out.predXstart };
  }

  /** DDIM sampling from x_T down to t = 0, yielding every step. Noise is drawn every step, as the official code. */
  ddimSampleLoopProgressive(model: ModelFn, shape: number[], opts: DdimOptions = {}): AsyncGenerator<SampleStep> {
    return this.sampleLoop(shape, opts, (img, t, noise) => this.ddimSample(model, img, t, noise, opts));
  }

  /** DDIM sampling; returns the final sample. */
  ddimSampleLoop(model: ModelFn, shape: number[], opts: DdimOptions = {}): Promise<Tensor> {
    return finalSample(this.ddimSampleLoopProgressive(model, shape, opts));
  }
}

/** `len` normals, row r's share (len / rows.length values) drawn from rows[r]. */
function perRowNormals(rows: readonly Rng[], len: number): Float32Array {
  const per = len / rows.length;
  const out = new Float32Array(len);
  rows.forEach((r, i) => out.set(r.normals(per), i * per));
  return out;
}

/** Run a progressive loop to the end; its last sample. */
export async function finalSample(steps: AsyncGenerator<SampleStep>): Promise<Tensor> {
  let last: Tensor | undefined;
  for await (const s of steps) last = s.sample;
  if (!last) throw new Error("sampling loop ran no steps");
  return last;
}
