/**
 * The sampler loop of one batch, shared by Node's `sample()` and the browser
 * page (web/): labels [y; null] with guidance, each image's noise from its own
 * (seed, index) stream, z = cat([z, z]) for guidance, then DDPM, DDIM or
 * DPM-Solver++ with classifier-free guidance (model/guidance.ts), returning
 * the final latents of the conditional half.
 *
 * Browser-safe: the DiT comes in as a function (`DiTForward`: onnxruntime-node
 * through `DiT.forward` in Node, an onnxruntime-web session in the page), and
 * nothing reachable from here imports a `node:` module, onnxruntime-node or
 * jax-js (test/runtime/browser-core.test.ts checks the imports). Import the
 * diffusion files directly, not diffusion/index.ts, which re-exports the
 * training loss (jax-js).
 */
import { createDiffusion } from "../diffusion/create.js";
import { dpmSolverSampleLoopProgressive } from "../diffusion/dpm-solver.js";
import type { GaussianDiffusion, ModelFn, SampleStep } from "../diffusion/gaussian-diffusion.js";
import { RespacingError } from "../diffusion/respace.js";
import type { DiTConfig } from "../model/config.js";
import { forwardWithCfg, type CfgMode } from "../model/guidance.js";
import { Tensor } from "../runtime/tensor.js";
import { SampleError } from "./errors.js";
import { imageRng, initialNoise } from "./noise.js";

export type SamplerName = "ddpm" | "ddim" | "dpm++";
export const SAMPLERS: readonly SamplerName[] = ["ddpm", "ddim", "dpm++"];

/** Default step counts: 250 for DDPM (official sample.py), 50 for DDIM, 25 for DPM-Solver++ (on log-SNR steps). */
export const DEFAULT_STEPS: Record<SamplerName, number> = { ddpm: 250, ddim: 50, "dpm++": 25 };

/** A sampler's diffusion: DDPM on uniform respacing "N" (sample.py), DDIM on "ddimN", DPM-Solver++ on "logsnrN". */
export function samplerDiffusion(sampler: SamplerName, steps: number): GaussianDiffusion {
  if (!SAMPLERS.includes(sampler)) throw new SampleError(`unknown sampler '${String(sampler)}': expected ${SAMPLERS.join(", ")}`);
  if (!Number.isInteger(steps) || steps < 1 || steps > 1000) throw new SampleError(`--num-sampling-steps must be an integer in 1..1000 (the diffusion has 1000 steps), got ${steps}`);
  if (sampler === "dpm++" && steps < 2) throw new SampleError(`dpm++ needs at least 2 steps, got ${steps}`);
  const spec = sampler === "ddpm" ? String(steps) : sampler === "ddim" ? `ddim${steps}` : `logsnr${steps}`;
  try {
    return createDiffusion(spec);
  } catch (e) {
    if (e instanceof RespacingError) throw new SampleError(`${sampler} cannot run ${steps} steps: ${e.message}${sampler === "ddim" ? " (DDIM takes every k-th of the 1000 steps: try e.g. 10, 20, 25, 50, 100, 200, 250)" : ""}`);
    throw e;
  }
}

/**
 * A DiT forward pass over a batch of rows: x (R, C, S, S) float32, t (R)
 * int32 timesteps, y (R) int32 labels (num_classes = the null class) →
 * (R, C_out, S, S). Rows are independent (any row order or chunking gives
 * the same per-row result up to rounding).
 */
export type DiTForward = (x: Tensor, t: Tensor, y: Tensor) => Promise<Tensor>;

/** One batch of images to sample. */
export interface LatentBatch {
  /** The DiT's config (latent geometry, classes). */
  config: DiTConfig;
  sampler: SamplerName;
  /** `samplerDiffusion(sampler, steps)`. */
  diffusion: GaussianDiffusion;
  seed: number;
  /** Guidance scale; > 1 guides (the model batch is [y; null], 2B rows), 1 = none. */
  cfgScale: number;
  /** "official": guidance on the first 3 channels (default); "standard": on all. */
  cfgMode?: CfgMode;
  /** The run's image indices of this batch: image k's noise comes from the stream (seed, k). */
  indices: readonly number[];
  /** The class label of each image (same length as indices). */
  labels: Int32Array;
}

/** After each sampler step (one model evaluation). */
export interface LatentStep {
  /** Steps done (1 … total). */
  step: number;
  total: number;
  /** The current x̂₀ of the conditional half: (B, C, S, S). */
  predXstart: Float32Array;
}

export interface LatentLoopHooks {
  /** Called (and awaited) after each step, e.g. to show progress or decode x̂₀. */
  onStep?: (s: LatentStep) => void | Promise<void>;
  /** Cancels before the next model evaluation (the loop throws the signal's reason). */
  signal?: AbortSignal;
}

/**
 * Sample one batch: returns the final latents of the conditional half,
 * (B, C, S, S) float32 (before VAE decoding). Image k gets the noise of
 * (seed, k) whatever batch it falls in.
 */
export async function sampleLatentBatch(forward: DiTForward, b: LatentBatch, hooks: LatentLoopHooks = {}): Promise<Float32Array> {
  const c = b.config;
  const B = b.indices.length;
  if (B === 0) throw new SampleError("sampleLatentBatch: no images");
  if (b.labels.length !== B) throw new SampleError(`sampleLatentBatch: ${b.labels.length} labels for ${B} images`);
  const guided = b.cfgScale > 1; // as sample_ddp.py: using_cfg = cfg_scale > 1
  const per = c.inChannels * c.inputSize * c.inputSize;
  const rows = guided ? 2 * B : B;
  const shape = [rows, c.inChannels, c.inputSize, c.inputSize];
  // labels [y; null] with guidance, as sample.py (y_null = num_classes)
  const y = new Int32Array(rows);
  y.set(b.labels);
  if (guided) y.fill(c.numClasses, B);
  const yt = new Tensor(y, [rows]);
  const model = { config: c, forward: (x: Tensor, t: Tensor, yy?: Tensor) => forward(x, t, yy ?? yt) };
  const fn: ModelFn = async (x, t) => {
    hooks.signal?.throwIfAborted();
    return guided ? forwardWithCfg(model, x, t, yt, b.cfgScale, b.cfgMode ?? "official") : forward(x, t, yt);
  };
  let steps: AsyncGenerator<SampleStep>;
  if (b.sampler === "dpm++") {
    const z0 = new Float32Array(B * per);
    b.indices.forEach((k, i) => z0.set(initialNoise(b.seed, k, 1, per), i * per));
    const noise = new Float32Array(rows * per);
    noise.set(z0);
    if (guided) noise.set(z0, B * per); // z = cat([z, z]), as sample.py
    steps = dpmSolverSampleLoopProgressive(b.diffusion, fn, shape, { noise, clipDenoised: false });
  } else {
    // one stream per image; the guidance half repeats the conditional half's streams (z = cat([z, z]))
    const rowRngs = Array.from({ length: rows }, (_, r) => imageRng(b.seed, b.indices[r % B]!));
    const o = { rowRngs, clipDenoised: false };
    steps = b.sampler === "ddpm" ? b.diffusion.pSampleLoopProgressive(fn, shape, o) : b.diffusion.ddimSampleLoopProgressive(fn, shape, o);
  }
  const total = b.diffusion.numTimesteps;
  let last: Tensor | undefined;
  for await (const s of steps) {
    last = s.sample;
    await hooks.onStep?.({ step: s.step + 1, total, predXstart: (s.predXstart.data as Float32Array).slice(0, B * per) });
  }
  if (!last) throw new Error("sampling loop ran no steps");
  return (last.data as Float32Array).slice(0, B * per); // samples.chunk(2)[0]
}
