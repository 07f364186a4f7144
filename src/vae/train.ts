/**
 * Training a small AutoencoderKL from scratch (the latent space for small-scale
 * DiT experiments):
 *
 *   loss  = recon + klWeight · kl
 *   recon = mean over every pixel of |x̂ − x| (L1) or (x̂ − x)² (L2)
 *   kl    = KL(q(z|x) ‖ N(0, I)) summed over the latent elements of an image,
 *           averaged over the batch: mean_b ½ Σ (μ² + σ² − 1 − log σ²)
 *           (diffusers' DiagonalGaussianDistribution.kl, as LDM's loss uses it)
 *   x̂     = decode(μ + σ·ε), ε ~ N(0, I) drawn on the host from the seeded Rng
 *           and passed in as an input; log σ² clamped to [−30, 20] as at inference.
 *
 * One step is a compiled `valueAndGrad` over the whole parameter tree (ONNX
 * Runtime; jax-js eager as the reference), then PyTorch's Adam on the host in
 * float32 arrays. Everything random (init, batch order, ε) comes from the seed.
 */
import { mkdirSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { numpy as np, valueAndGrad, type Array, type JsTree } from "@jax-js/jax";
import { loadImageDataset, padToMultiple, type ImageDataset } from "../io/datasets.js";
import { subtree, type StateDict } from "../io/state-dict.js";
import { saveStateDict } from "../io/state-dict.js";
import { compile, type CompiledFunction } from "../runtime/compile.js";
import { eager } from "../runtime/eager.js";
import { Tensor } from "../runtime/tensor.js";
import { Adam } from "../train/adam.js";
import { Rng } from "../util/rng.js";
import { AutoencoderKL, decoderForward, encoderForward, type DecoderParams, type EncoderParams } from "./autoencoder.js";
import { downsampleFactor, SCALING_FACTOR, validateVaeConfig, type VaeConfig } from "./config.js";
import { VaeTrainError } from "./errors.js";
import { initVaeParams } from "./init.js";
import type { ConvParams } from "./layers.js";
import { vaeParamShapes } from "./weights.js";

export type ReconLoss = "l1" | "l2";

/** The parameter tree of a VAE (diffusers names nested at the dots). */
export interface VaeParamTree {
  encoder: EncoderParams;
  decoder: DecoderParams;
  quant_conv: ConvParams;
  post_quant_conv: ConvParams;
}

export type VaeLossParts = { recon: Array; kl: Array };

/** The training loss as a jax-js function (params, images, ε) → [loss, {recon, kl}] (for `valueAndGrad(·, {hasAux: true})`). */
export function vaeLossFn(c: VaeConfig, recon: ReconLoss, klWeight: number): (p: VaeParamTree, x: Array, eps: Array) => [Array, VaeLossParts] {
  return (p, x, eps) => {
    const n = x.shape[0]!;
    const moments = encoderForward(c, p.encoder, p.quant_conv, x.ref);
    const [mean, rawLogvar] = np.split(moments, 2, 1) as [Array, Array];
    const logvar = np.clip(rawLogvar, -30, 20);
    const z = mean.ref.add(np.exp(logvar.ref.mul(0.5)).mul(eps));
    const d = decoderForward(c, p.post_quant_conv, p.decoder, z).sub(x);
    const rec = recon === "l1" ? np.mean(np.absolute(d)) : np.mean(d.ref.mul(d));
    const klTerms = mean.ref.mul(mean).add(np.exp(logvar.ref)).sub(1).sub(logvar);
    const kl = np.sum(klTerms).mul(0.5 / n);
    const loss = rec.ref.add(kl.ref.mul(klWeight));
    return [loss, { recon: rec, kl }];
  };
}

/** One loss evaluation + gradient: `[[loss, {recon, kl}], grads]` over host tensors. */
export function vaeStepFn(c: VaeConfig, recon: ReconLoss, klWeight: number, backend: "onnx" | "eager" = "onnx"): CompiledFunction {
  const f = valueAndGrad(vaeLossFn(c, recon, klWeight) as never, { hasAux: true });
  return (backend === "eager" ? eager : compile)(f as never);
}

export interface StepStats {
  loss: number;
  recon: number;
  kl: number;
}

export interface TrainVaeOptions {
  /** Images (N, C, H, W) in [-1, 1], or a path for `loadImageDataset`. H and W are padded (with −1) to multiples of the downsampling factor. */
  data: ImageDataset | string;
  /** The architecture; in/out channels are taken from the data; scalingFactor as `scalingFactor` below. */
  config: Omit<VaeConfig, "inChannels" | "outChannels" | "scalingFactor"> & Partial<Pick<VaeConfig, "inChannels" | "outChannels" | "scalingFactor">>;
  steps: number;
  batch: number;
  lr?: number;
  klWeight?: number;
  recon?: ReconLoss;
  seed?: number;
  betas?: [number, number];
  eps?: number;
  backend?: "onnx" | "eager";
  /** Start from these weights instead of the seeded initialisation. */
  init?: StateDict;
  onStep?: (step: number, stats: StepStats) => void;
  /**
   * The config's scaling_factor: "auto" (default) = 1 / std of latent samples
   * of up to `scaleImages` training images after training (LDM's
   * scale-by-std: diffusion models expect unit-variance latents; 0.18215 is
   * this rule on the SD VAE), or a fixed number (e.g. SCALING_FACTOR).
   * Default: config.scalingFactor if given, else "auto".
   */
  scalingFactor?: "auto" | number;
  /** Images encoded for the "auto" scaling factor (default TRAIN_DEFAULTS.scaleImages = 256, at most the data set). */
  scaleImages?: number;
}

export interface TrainVaeResult {
  config: VaeConfig;
  weights: StateDict;
  /** Per step, evaluated before that step's update. */
  history: StepStats[];
  /** The last step's values. */
  final: StepStats;
  /** Image size trained on (after padding). */
  sampleSize: [number, number];
  /** Standard deviation of latent samples of the first `scaleImages` training images (set when scalingFactor is "auto"). */
  latentStd?: number;
}

export const TRAIN_DEFAULTS = { lr: 1e-3, klWeight: 1e-6, recon: "l1" as ReconLoss, seed: 0, betas: [0.9, 0.999] as [number, number], eps: 1e-8, scaleImages: 256 };

/** Train a VAE (see the module comment for the loss); deterministic given the seed. */
export async function trainVae(opts: TrainVaeOptions): Promise<TrainVaeResult> {
  const raw = typeof opts.data === "string" ? loadImageDataset(opts.data) : opts.data;
  const channels = raw.shape[1];
  const config = validateVaeConfig({ ...opts.config, inChannels: opts.config.inChannels ?? channels, outChannels: opts.config.outChannels ?? channels, scalingFactor: opts.config.scalingFactor ?? SCALING_FACTOR } as VaeConfig);
  if (config.inChannels !== channels || config.outChannels !== channels) throw new VaeTrainError(`${typeof opts.data === "string" ? `${opts.data}: ` : ""}the data has ${channels} channels, the config ${config.inChannels} in / ${config.outChannels} out`);
  const ds = padToMultiple(raw, downsampleFactor(config));
  const [N, C, H, W] = ds.shape;
  if (!(opts.steps >= 1 && opts.batch >= 1)) throw new VaeTrainError("trainVae: steps and batch must be ≥ 1");
  const scaling = opts.scalingFactor ?? opts.config.scalingFactor ?? "auto";
  if (scaling !== "auto" && !(scaling > 0 && Number.isFinite(scaling))) throw new VaeTrainError(`trainVae: scalingFactor must be "auto" or a positive number, got ${scaling}`);
  const lr = opts.lr ?? TRAIN_DEFAULTS.lr;
  const klWeight = opts.klWeight ?? TRAIN_DEFAULTS.klWeight;
  const seed = opts.seed ?? TRAIN_DEFAULTS.seed;
  const [b1, b2] = opts.betas ?? TRAIN_DEFAULTS.betas;
  const adamEps = opts.eps ?? TRAIN_DEFAULTS.eps;
  const B = opts.batch;

  const weights: StateDict = new Map();
  const init = opts.init ?? initVaeParams(config, seed);
  for (const [k, shape] of vaeParamShapes(config)) {
    const t = init.get(k);
    if (!t || t.shape.join() !== shape.join()) throw new VaeTrainError(`trainVae: initial weights lack '${k}' [${shape}]`);
    weights.set(k, new Tensor(Float32Array.from(t.data as Float32Array), [...shape]));
  }
  const adam = new Adam(weights, [...weights.keys()], { lr, betas: [b1, b2], eps: adamEps });

  const order = new Rng((seed ^ 0x5eed0001) >>> 0);
  const noise = new Rng((seed ^ 0x5eed0002) >>> 0);
  const f = downsampleFactor(config);
  const latentShape = [B, config.latentChannels, H / f, W / f];
  const per = C * H * W;
  const nextIndex = order.epochIndices(N);

  const step = vaeStepFn(config, opts.recon ?? TRAIN_DEFAULTS.recon, klWeight, opts.backend);
  const history: StepStats[] = [];
  try {
    for (let s = 1; s <= opts.steps; s++) {
      const x = new Float32Array(B * per);
      for (let b = 0; b < B; b++) {
        const i = nextIndex();
        x.set(ds.data.subarray(i * per, (i + 1) * per), b * per);
      }
      const eps = new Tensor(noise.normals(B * latentShape.slice(1).reduce((a, c) => a * c, 1)), latentShape);
      const params = subtree(weights, "");
      const [[loss, parts], grads] = (await step(params, new Tensor(x, [B, C, H, W]), eps)) as unknown as [[Tensor, { recon: Tensor; kl: Tensor }], JsTree<Tensor>];
      const stats = { loss: loss.data[0] as number, recon: parts.recon.data[0] as number, kl: parts.kl.data[0] as number };
      if (!Number.isFinite(stats.loss)) throw new VaeTrainError(`trainVae: loss is ${stats.loss} at step ${s}; lower --lr`);
      history.push(stats);
      adam.step(grads);
      opts.onStep?.(s, stats);
    }
  } finally {
    await step.dispose();
  }
  const result: TrainVaeResult = { config, weights, history, final: history[history.length - 1]!, sampleSize: [H, W] };
  if (scaling === "auto") {
    result.latentStd = await latentStd(config, weights, ds, Math.min(N, opts.scaleImages ?? TRAIN_DEFAULTS.scaleImages), B, new Rng((seed ^ 0x5eed0003) >>> 0), opts.backend);
    if (!(result.latentStd > 0) || !Number.isFinite(result.latentStd)) throw new VaeTrainError(`trainVae: latent std is ${result.latentStd}; cannot set scaling_factor (pass a number)`);
    result.config = { ...config, scalingFactor: 1 / result.latentStd };
  } else {
    result.config = { ...config, scalingFactor: scaling };
  }
  return result;
}

/**
 * Standard deviation (unbiased, over every element) of posterior samples
 * z ~ q(z | x) of the first `count` images: LDM's `scale_by_std` rule.
 */
async function latentStd(config: VaeConfig, weights: StateDict, ds: ImageDataset, count: number, batch: number, rng: Rng, backend?: "onnx" | "eager"): Promise<number> {
  const vae = new AutoencoderKL(config, weights, { backend });
  const [, C, H, W] = ds.shape;
  const per = C * H * W;
  let n = 0;
  let sum = 0;
  let sumSq = 0;
  try {
    for (let start = 0; start < count; start += batch) {
      const b = Math.min(batch, count - start);
      const x = new Tensor(ds.data.slice(start * per, (start + b) * per), [b, C, H, W]);
      const z = (await vae.encode(x)).sample(rng).data as Float32Array;
      for (const v of z) {
        sum += v;
        sumSq += v * v;
      }
      n += z.length;
    }
  } finally {
    await vae.dispose();
  }
  const mean = sum / n;
  return Math.sqrt(Math.max(0, (sumSq - n * mean * mean) / (n - 1)));
}

/** A diffusers-style `config.json` for AutoencoderKL (read back by `vaeConfigFromDiffusers`). */
export function diffusersVaeConfig(c: VaeConfig, sampleSize?: number): Record<string, unknown> {
  return {
    _class_name: "AutoencoderKL",
    _diffusers_version: "0.30.0",
    act_fn: "silu",
    block_out_channels: [...c.blockOutChannels],
    down_block_types: c.blockOutChannels.map(() => "DownEncoderBlock2D"),
    up_block_types: c.blockOutChannels.map(() => "UpDecoderBlock2D"),
    in_channels: c.inChannels,
    out_channels: c.outChannels,
    latent_channels: c.latentChannels,
    layers_per_block: c.layersPerBlock,
    norm_num_groups: c.normNumGroups,
    sample_size: sampleSize ?? 32,
    scaling_factor: c.scalingFactor ?? SCALING_FACTOR,
    force_upcast: false,
    mid_block_add_attention: true,
    use_quant_conv: true,
    use_post_quant_conv: true,
  };
}

/** Write `<dir>/vae.safetensors` (diffusers names) and `<dir>/config.json`, each atomically (temp file + rename). */
export function saveVae(dir: string, config: VaeConfig, weights: StateDict, sampleSize?: number): { weights: string; config: string } {
  mkdirSync(dir, { recursive: true });
  const wPath = join(dir, "vae.safetensors");
  const cPath = join(dir, "config.json");
  saveStateDict(wPath, weights, { format: "pt" });
  const tmp = `${cPath}.${process.pid}.tmp`;
  try {
    writeFileSync(tmp, JSON.stringify(diffusersVaeConfig(config, sampleSize), null, 2) + "\n");
    renameSync(tmp, cPath);
  } catch (e) {
    rmSync(tmp, { force: true });
    throw e;
  }
  return { weights: wPath, config: cPath };
}
