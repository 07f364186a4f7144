/**
 * `sample()`: class-conditional image generation with a DiT, as the official
 * `sample.py` / `sample_ddp.py` (guidance batch [cond; null], clip_denoised
 * false, latents decoded as vae.decode(z / scaling_factor)), plus DDIM and
 * DPM-Solver++ and per-image noise streams.
 *
 * Every input is checked before any model evaluation: classes, step counts,
 * the VAE's latent channels and the image size.
 */
import { DiT, type CfgMode, type DiTConfig, type GaussianDiffusion } from "../index.js";
import { Tensor } from "../runtime/tensor.js";
import { AutoencoderKL } from "../vae/autoencoder.js";
import { downsampleFactor } from "../vae/config.js";
import { SampleError } from "./errors.js";
import { resolveClass, sampleLabels } from "./labels.js";
import { loadModelSource, type LoadedModel, type ModelSource } from "./model-source.js";
import { DEFAULT_STEPS, SAMPLERS, sampleLatentBatch, samplerDiffusion, type SamplerName } from "./loop.js";
import { toUint8Hwc } from "./pixels.js";
import { loadVaeSource, type LoadedVae, type VaeSource } from "./vae-source.js";

// The sampler names, default steps and diffusions live in loop.ts (shared with the browser page).
export { DEFAULT_STEPS, SAMPLERS, samplerDiffusion, type SamplerName };

/** Default guidance scale (official sample.py). */
export const DEFAULT_CFG_SCALE = 4.0;

/** Images per class when neither classes nor a count is given and the model has few classes. */
export const DEFAULT_PER_CLASS = 4;

export interface SampleProgress {
  /** Model evaluations done / total over the whole run (one per sampler step per batch). */
  step: number;
  totalSteps: number;
  /** Images finished. */
  images: number;
  totalImages: number;
}

export interface SamplingOptions {
  /** The DiT: a checkpoint path or {config, weights, classNames}. */
  model: ModelSource;
  /** Official model name when the checkpoint carries no config ("DiT-XL/2"). */
  modelName?: string;
  /** A config overriding the checkpoint's. */
  config?: DiTConfig;
  /** Check the CRC-32 of every record of a `.pt` checkpoint (default true; false loads a corrupt file too). */
  verifyCrc?: boolean;
  /** "none" for pixel-space models, a path, or {config, weights}. Default: the VAE the checkpoint names or ships beside it. */
  vae?: VaeSource;
  /** Class ids or names. Labels cycle through them; when absent they are uniform random over all classes (sample_ddp.py). */
  classes?: readonly (number | string)[];
  /**
   * Total number of images. Default: DEFAULT_PER_CLASS per given class; with no
   * classes, every class DEFAULT_PER_CLASS times for models with ≤ 16 classes
   * (a grid of all classes), else 16 random labels.
   */
  numSamples?: number;
  /** Guidance scale (default 4.0, as sample.py, for class-conditional models with a null class; 1 = no guidance). */
  cfgScale?: number;
  /** "official": guidance on the first 3 channels, as the official code; "standard": on all channels. */
  cfgMode?: CfgMode;
  sampler?: SamplerName;
  /** Sampler steps (DEFAULT_STEPS[sampler]). */
  numSamplingSteps?: number;
  seed?: number;
  /** Images per model call (default 16; guidance doubles the model batch). */
  batchSize?: number;
  /** Expected image side; checked against the model (latent size × VAE factor). */
  imageSize?: number;
  onProgress?: (p: SampleProgress) => void;
}

export interface SampleResult {
  /** (N, H, W, C) uint8, pixels clamp(127.5·x + 128, 0, 255) truncated. */
  images: Uint8Array;
  shape: [number, number, number, number];
  /** The final latents of the sampler (the conditional half), before VAE decoding: (N, C, h, w) float32, the DiT's in_channels × input_size². */
  latents: Float32Array;
  /** Class label of each image. */
  labels: Int32Array;
  /** The classes asked for, resolved to ids (grid rows); undefined when labels were random. */
  classes?: number[];
  /** Display names of the model's classes, when known (the checkpoint's own, or ImageNet's for 1000 classes). */
  classNames?: readonly string[];
  sampler: SamplerName;
  steps: number;
  cfgScale: number;
  seed: number;
  config: DiTConfig;
}

function positiveInt(name: string, v: number): number {
  if (!Number.isInteger(v) || v <= 0) throw new SampleError(`${name} must be a positive integer, got ${v}`);
  return v;
}

/** Everything `sample()` checks and derives before running, exposed for the CLI and tests. */
export interface SamplePlan {
  model: LoadedModel;
  vae: LoadedVae | null;
  labels: Int32Array;
  classes?: number[];
  classNames?: readonly string[];
  sampler: SamplerName;
  steps: number;
  diffusion: GaussianDiffusion;
  cfgScale: number;
  guided: boolean;
  cfgMode: CfgMode;
  seed: number;
  batchSize: number;
  /** Output image (H, W, C). */
  image: [number, number, number];
}

/** Load and validate everything; throws SampleError before any model evaluation. */
export async function planSample(opts: SamplingOptions): Promise<SamplePlan> {
  const sampler = opts.sampler ?? "ddpm";
  if (!SAMPLERS.includes(sampler)) throw new SampleError(`unknown sampler '${String(sampler)}': expected ${SAMPLERS.join(", ")}`);
  const steps = opts.numSamplingSteps ?? DEFAULT_STEPS[sampler];
  const diffusion = samplerDiffusion(sampler, steps);
  const cfgMode = opts.cfgMode ?? "official";
  if (cfgMode !== "official" && cfgMode !== "standard") throw new SampleError(`--cfg-mode must be official or standard, got '${String(cfgMode)}'`);
  const seed = opts.seed ?? 0;
  if (!Number.isInteger(seed)) throw new SampleError(`seed must be an integer, got ${seed}`);
  const batchSize = positiveInt("batch size", opts.batchSize ?? 16);
  if (opts.numSamples !== undefined) positiveInt("number of samples", opts.numSamples);

  const model = loadModelSource(opts.model, { model: opts.modelName, config: opts.config, verifyCrc: opts.verifyCrc });
  const c = model.config;
  const conditional = c.numClasses > 1;
  const hasNull = conditional && c.classDropoutProb > 0;
  const cfgScale = opts.cfgScale ?? (hasNull ? DEFAULT_CFG_SCALE : 1);
  if (!Number.isFinite(cfgScale) || cfgScale < 1) throw new SampleError(`cfg scale must be ≥ 1 (1 = no guidance), got ${cfgScale}`);
  const guided = cfgScale > 1; // as sample_ddp.py: using_cfg = cfg_scale > 1
  if (guided && !hasNull) throw new SampleError(`cfg scale ${cfgScale} needs classifier-free guidance, but this model has ${conditional ? "no null class (trained without label dropout)" : "no classes"}; use --cfg-scale 1`);

  const classNames = model.classNames ?? (c.numClasses === 1000 ? (await import("../model/imagenet.js")).IMAGENET_CLASSES.map((k) => k.names[0]!) : undefined);
  if (model.classNames && model.classNames.length !== c.numClasses) throw new SampleError(`the checkpoint lists ${model.classNames.length} class names for ${c.numClasses} classes`);
  let classes: number[] | undefined;
  if (opts.classes && opts.classes.length > 0) {
    if (!conditional) throw new SampleError("this model is unconditional: it takes no classes");
    classes = opts.classes.map((q) => resolveClass(q, c.numClasses, model.classNames));
  }
  let numSamples = opts.numSamples;
  if (numSamples === undefined) {
    if (classes) numSamples = DEFAULT_PER_CLASS * classes.length;
    else if (conditional && c.numClasses <= 16) {
      classes = Array.from({ length: c.numClasses }, (_, i) => i);
      numSamples = DEFAULT_PER_CLASS * c.numClasses;
    } else numSamples = 16;
  }
  const labels = conditional ? sampleLabels(numSamples, c.numClasses, classes, seed) : new Int32Array(numSamples);

  // the VAE: given, named by the checkpoint, or none for pixel-space models
  let vaeSrc = opts.vae ?? model.vae;
  if (vaeSrc === undefined) {
    if (c.inChannels === 1 || c.inChannels === 3) vaeSrc = "none";
    else throw new SampleError(`the model has ${c.inChannels} latent channels and the checkpoint names no VAE: give --vae (for the official DiT-XL/2, the SD VAE: stabilityai/sd-vae-ft-ema or -mse)`);
  }
  const vae = loadVaeSource(vaeSrc);
  let image: [number, number, number];
  if (vae) {
    if (vae.config.latentChannels !== c.inChannels) throw new SampleError(`the VAE has ${vae.config.latentChannels} latent channels but the model takes ${c.inChannels} (in_channels): they do not belong together`);
    const side = c.inputSize * downsampleFactor(vae.config);
    image = [side, side, vae.config.outChannels];
  } else {
    if (c.inChannels !== 1 && c.inChannels !== 3) throw new SampleError(`--vae none samples in pixel space, which needs 1 or 3 channels; the model has ${c.inChannels}`);
    image = [c.inputSize, c.inputSize, c.inChannels];
  }
  if (opts.imageSize !== undefined && opts.imageSize !== image[0]) {
    throw new SampleError(`image size ${opts.imageSize} does not match the model: latent size ${c.inputSize}${vae ? ` × VAE factor ${downsampleFactor(vae.config)}` : " (pixel space)"} = ${image[0]}`);
  }
  return { model, vae, labels, classes, classNames, sampler, steps, diffusion, cfgScale, guided, cfgMode, seed, batchSize, image };
}

/** Which images of a plan `runSamplePlan` samples, and a hook after each batch. */
export interface RunSampleOptions {
  /**
   * Indices into the plan's images to sample, in this order (default all,
   * 0..N−1). Image k gets label plan.labels[k] and the noise of (seed, k),
   * so it is the same image whichever batch it falls in (a shard's subset).
   */
  indices?: readonly number[];
  /** After each batch: its image indices and their (B, H, W, C) uint8 pixels (e.g. to save them before the next batch). */
  onBatch?: (indices: readonly number[], images: Uint8Array) => void | Promise<void>;
}

/** Run a validated plan: batches of images, each from its own noise stream; returns uint8 images. */
export async function runSamplePlan(plan: SamplePlan, onProgress?: (p: SampleProgress) => void, run: RunSampleOptions = {}): Promise<SampleResult> {
  const { model: m, diffusion, guided, seed } = plan;
  const c = m.config;
  const all = plan.labels.length;
  const indices = run.indices ?? Array.from({ length: all }, (_, i) => i);
  for (const k of indices) if (!Number.isInteger(k) || k < 0 || k >= all) throw new SampleError(`image index ${k} is outside the plan's 0..${all - 1}`);
  const labels = Int32Array.from(indices, (k) => plan.labels[k]!);
  const N = indices.length;
  const [H, W, C] = plan.image;
  const per = c.inChannels * c.inputSize * c.inputSize;
  const dit = new DiT(c, m.weights);
  const vae = plan.vae ? new AutoencoderKL(plan.vae.config, plan.vae.weights) : undefined;
  const images = new Uint8Array(N * H * W * C);
  const latents = new Float32Array(N * per); // (N, C, h, w)
  const batches = Math.ceil(N / plan.batchSize);
  const totalSteps = batches * diffusion.numTimesteps;
  let step = 0;
  try {
    for (let first = 0; first < N; first += plan.batchSize) {
      const B = Math.min(plan.batchSize, N - first);
      const ids = indices.slice(first, first + B);
      const zc = await sampleLatentBatch((x, t, y) => dit.forward(x, t, y), { config: c, sampler: plan.sampler, diffusion, seed, cfgScale: guided ? plan.cfgScale : 1, cfgMode: plan.cfgMode, indices: ids, labels: labels.subarray(first, first + B) }, {
        onStep: () => onProgress?.({ step: ++step, totalSteps, images: first, totalImages: N }),
      });
      latents.set(zc, first * per);
      const cond = new Tensor(zc, [B, c.inChannels, c.inputSize, c.inputSize]);
      let x = cond;
      if (vae) {
        const s = plan.vae!.config.scalingFactor;
        // important: decode an even number of latents (a lone image repeated). ONNX Runtime's multi-threaded
        // convolutions at batch 1 round differently from batch ≥ 2 (and by thread count), so an image alone in
        // a VAE chunk (of 4) would differ in the last bits from the same image decoded beside others; paired,
        // image k's pixels do not depend on the batch it falls in, which sharded runs rely on.
        const pad = B % 2;
        const zs = new Float32Array((B + pad) * per);
        zs.set(cond.data as Float32Array);
        if (pad) zs.set((cond.data as Float32Array).subarray((B - 1) * per), B * per);
        const d = await vae.decode(new Tensor(zs.map((v) => v / s), [B + pad, c.inChannels, c.inputSize, c.inputSize]));
        x = new Tensor((d.data as Float32Array).subarray(0, (d.data.length / (B + pad)) * B), [B, ...d.shape.slice(1)]);
      }
      const pixels = toUint8Hwc(x.data as Float32Array, x.shape);
      images.set(pixels, first * H * W * C);
      await run.onBatch?.(ids, pixels);
      onProgress?.({ step, totalSteps, images: first + B, totalImages: N });
    }
  } finally {
    await dit.dispose();
    await vae?.dispose();
  }
  return {
    images,
    shape: [N, H, W, C],
    latents,
    labels,
    classes: plan.classes,
    classNames: plan.classNames,
    sampler: plan.sampler,
    steps: plan.steps,
    cfgScale: plan.cfgScale,
    seed: plan.seed,
    config: c,
  };
}

/**
 * Generate images with a DiT (official sample.py / sample_ddp.py semantics):
 * validate every input (SampleError), then sample in batches and decode.
 * Image i's noise comes from its own stream seeded by (seed, i), so it does
 * not depend on the batch size.
 */
export async function sample(opts: SamplingOptions): Promise<SampleResult> {
  return runSamplePlan(await planSample(opts), opts.onProgress);
}
