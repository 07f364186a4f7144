/**
 * What the trainer draws x_0 from: clean samples (N, C, H, W) and labels.
 *
 * - `imageArrayData`: images in memory (pixel-space training, or latents
 *   already computed);
 * - `latentFileData`: a `dit extract-latents` file; every draw samples
 *   z = (μ + σ·ε)·scaling_factor from the stored distribution of the image
 *   or of its mirror image, as the official recipe does on the fly;
 * - `vaeEncodedData`: images encoded by a VAE at every draw (slow; what
 *   train.py does).
 */
import { Tensor } from "../runtime/tensor.js";
import type { Rng } from "../util/rng.js";
import type { AutoencoderKL } from "../vae/autoencoder.js";

export interface TrainData {
  /** Number of distinct samples (one epoch). */
  readonly size: number;
  readonly numClasses: number;
  readonly classNames?: string[];
  /** (C, H, W) of one x_0. */
  readonly shape: [number, number, number];
  /** What was found, for the log. */
  readonly description: string;
  /** x_0 (B, C, H, W) and labels for samples `indices`, mirrored where flips[i] = 1; `rng` draws any latent noise. */
  batch(indices: Int32Array, flips: Uint8Array, rng: Rng): Promise<{ x: Float32Array; y: Int32Array }>;
  close?(): Promise<void> | void;
}

/** Mirror rows of a (C, H, W) sample into `out` at `offset`. */
function copyMaybeFlipped(src: Float32Array, srcOffset: number, out: Float32Array, offset: number, [C, H, W]: [number, number, number], flip: boolean): void {
  if (!flip) {
    out.set(src.subarray(srcOffset, srcOffset + C * H * W), offset);
    return;
  }
  for (let r = 0; r < C * H; r++) {
    const s = srcOffset + r * W;
    const d = offset + r * W;
    for (let j = 0; j < W; j++) out[d + j] = src[s + W - 1 - j]!;
  }
}

/** Samples held in memory: (N, C, H, W) float32 and N labels. */
export function imageArrayData(images: Float32Array, shape: [number, number, number, number], labels: Int32Array, numClasses: number, description: string, classNames?: string[]): TrainData {
  const [N, C, H, W] = shape;
  if (images.length !== N * C * H * W) throw new RangeError(`imageArrayData: ${images.length} values for shape [${shape}]`);
  if (labels.length !== N) throw new RangeError(`imageArrayData: ${labels.length} labels for ${N} samples`);
  const per = C * H * W;
  return {
    size: N,
    numClasses,
    classNames,
    shape: [C, H, W],
    description,
    async batch(indices, flips) {
      const x = new Float32Array(indices.length * per);
      const y = new Int32Array(indices.length);
      indices.forEach((i, b) => {
        copyMaybeFlipped(images, i * per, x, b * per, [C, H, W], flips[b] === 1);
        y[b] = labels[i]!;
      });
      return { x, y };
    },
  };
}

/** A store of latent distributions (mean, log-variance) per sample and mirror (what `dit extract-latents` writes). */
export interface LatentSource {
  readonly length: number;
  readonly numClasses: number;
  readonly classNames?: string[];
  /** (C, h, w) of one latent. */
  readonly latentShape: [number, number, number];
  readonly scalingFactor: number;
  read(i: number, flip: boolean): { mean: Float32Array; logvar: Float32Array; label: number };
  close?(): void;
}

/** Draws z = (μ + exp(½·logvar)·ε)·scaling_factor from a latent store (logvar clamped to [−30, 20] as diffusers does). */
export function latentFileData(src: LatentSource, description: string): TrainData {
  const [C, H, W] = src.latentShape;
  const per = C * H * W;
  return {
    size: src.length,
    numClasses: src.numClasses,
    classNames: src.classNames,
    shape: [C, H, W],
    description,
    async batch(indices, flips, rng) {
      const x = new Float32Array(indices.length * per);
      const y = new Int32Array(indices.length);
      indices.forEach((i, b) => {
        const r = src.read(i, flips[b] === 1);
        const eps = rng.normals(per);
        for (let j = 0; j < per; j++) {
          const lv = Math.min(20, Math.max(-30, r.logvar[j]!));
          x[b * per + j] = (r.mean[j]! + Math.exp(0.5 * lv) * eps[j]!) * src.scalingFactor;
        }
        y[b] = r.label;
      });
      return { x, y };
    },
    close: () => src.close?.(),
  };
}

/** Images encoded by `vae` at every draw: z = sample(q(z | x)) · scaling_factor. */
export function vaeEncodedData(images: TrainData, vae: AutoencoderKL, scalingFactor: number, latentShape: [number, number, number]): TrainData {
  const [C, H, W] = images.shape;
  return {
    size: images.size,
    numClasses: images.numClasses,
    classNames: images.classNames,
    shape: latentShape,
    description: `${images.description}, encoded by the VAE at every step (latents ${latentShape.join("×")})`,
    async batch(indices, flips, rng) {
      const { x, y } = await images.batch(indices, flips, rng);
      const dist = await vae.encode(new Tensor(x, [indices.length, C, H, W]));
      const z = dist.sample(rng).data as Float32Array;
      return { x: z.map((v) => v * scalingFactor), y };
    },
    close: () => vae.dispose(),
  };
}
