/**
 * The project's Fashion-MNIST classifier as a `FeatureNetwork` ("fmnist"):
 * FID-FMNIST from its penultimate features (128), class accuracy and an
 * Inception-Score analogue from its logits (10). No spatial tap (no sFID).
 *
 * Input: uint8 images (N, H, W, C), C ∈ {1, 3}, H = W ∈ {28, 32}.
 *   - grey: C = 1 as is; C = 3 with R = G = B everywhere (what `dit sample
 *     --npz` writes for a grey model) takes one plane, exactly; any other RGB
 *     set becomes grey by ITU-R 601-2 luma, L = (19595 R + 38470 G + 7471 B +
 *     2¹⁵) >> 16, as PIL's `convert("L")` and `toChannels`. The choice is made
 *     per batch passed to `extract`.
 *   - 28×28 is centred on a black 32×32 canvas (2 px each side), exactly as
 *     `openDataset` pads Fashion-MNIST for training; 32×32 is taken as is.
 *   - then v / 255 · 2 − 1, the classifier's [-1, 1] range.
 * Anything else is an `EvalInputError` saying what was expected.
 */
import { weightsKey } from "../io/weights-key.js";
import { subtree } from "../io/state-dict.js";
import { compile } from "../runtime/compile.js";
import { Tensor } from "../runtime/tensor.js";
import { EvalInputError } from "./errors.js";
import type { ExtractOptions, FeatureBatch, FeatureNetwork } from "./feature-network.js";
import {
  FMNIST_CLASSIFIER_PATH,
  FMNIST_FEATURE_DIM,
  FMNIST_IMAGE_SIZE,
  FMNIST_NUM_CLASSES,
  fmnistClassifierForward,
  loadFmnistClassifier,
  type FmnistClassifier,
} from "./fmnist-classifier.js";

/** Image sides the fmnist network takes: Fashion-MNIST's own 28 and the padded 32 the DiT is trained on. */
export const FMNIST_INPUT_SIZES: readonly number[] = [28, FMNIST_IMAGE_SIZE];

export interface FmnistNetworkOptions {
  /** Classifier weights (.safetensors); default the shipped `models/fmnist-classifier/classifier.safetensors`. */
  weights?: string;
}

/** The key cached statistics depend on: the weights' identity (io/weights-key.ts; tensors only, not metadata). */
export const fileWeightsKey: (path: string) => string = weightsKey;

/** True when every pixel of an (N, H, W, 3) set has R = G = B. */
export function isGreyRgb(images: Uint8Array): boolean {
  for (let i = 0; i + 2 < images.length; i += 3) if (images[i] !== images[i + 1] || images[i] !== images[i + 2]) return false;
  return true;
}

/**
 * uint8 (N, H, W, C) → float32 (N, 1, 32, 32) in [-1, 1], as the module
 * comment says (grey or luma, 28 → 32 padding, v / 255 · 2 − 1).
 */
export function fmnistInput(images: Uint8Array, shape: readonly [number, number, number, number]): Float32Array {
  const [n, h, w, c] = shape;
  if (!shape.every((v) => Number.isInteger(v) && v >= 0)) throw new EvalInputError(`fmnist network: bad shape [${shape.join(", ")}], expected [N, H, W, C]`);
  if (c !== 1 && c !== 3) throw new EvalInputError(`fmnist network: expected 1 (grey) or 3 (RGB) channels, got ${c} (shape [${shape.join(", ")}])`);
  if (h !== w || !FMNIST_INPUT_SIZES.includes(h)) {
    throw new EvalInputError(`fmnist network: expected 28×28 or 32×32 images (Fashion-MNIST, or the padded 32×32 the DiT samples), got ${h}×${w}; use --net inception for other sizes`);
  }
  if (images.length !== n * h * w * c) throw new EvalInputError(`fmnist network: shape [${shape.join(", ")}] needs ${n * h * w * c} bytes, got ${images.length}`);
  const S = FMNIST_IMAGE_SIZE;
  const out = new Float32Array(n * S * S).fill(-1); // black canvas
  const off = (S - h) / 2; // 2 for 28, 0 for 32 (openDataset: floor((32 − 28) / 2))
  const equal = c === 3 && isGreyRgb(images);
  for (let i = 0; i < n; i++) {
    for (let y = 0; y < h; y++) {
      const o = i * S * S + (y + off) * S + off;
      const r = (i * h + y) * w * c;
      for (let x = 0; x < w; x++) {
        const p = r + x * c;
        const v = c === 1 || equal ? images[p]! : (19595 * images[p]! + 38470 * images[p + 1]! + 7471 * images[p + 2]! + 0x8000) >>> 16;
        out[o + x] = (v / 255) * 2 - 1;
      }
    }
  }
  return out;
}

class FmnistNetwork implements FeatureNetwork {
  readonly name = "fmnist" as const;
  readonly featureDim = FMNIST_FEATURE_DIM;
  readonly spatialDim = null;
  readonly numClasses = FMNIST_NUM_CLASSES;
  private fwd: ReturnType<typeof compile> | undefined;

  constructor(
    private readonly model: FmnistClassifier,
    readonly weightsKey: string,
  ) {}

  async extract(images: Uint8Array, shape: readonly [number, number, number, number], opts: ExtractOptions = {}): Promise<FeatureBatch> {
    const x = fmnistInput(images, shape); // (N, 1, 32, 32)
    const n = shape[0];
    const per = FMNIST_IMAGE_SIZE * FMNIST_IMAGE_SIZE;
    const batch = Math.max(1, Math.min(opts.batch ?? 250, Math.max(n, 1)));
    const logits = new Float32Array(n * FMNIST_NUM_CLASSES);
    const features = new Float32Array(n * FMNIST_FEATURE_DIM);
    this.fwd ??= compile(fmnistClassifierForward as never);
    const params = subtree(this.model.weights, "");
    for (let s = 0; s < n; s += batch) {
      const b = Math.min(batch, n - s);
      const xb = new Float32Array(batch * per); // the last batch zero-padded: one compiled signature per batch size
      xb.set(x.subarray(s * per, (s + b) * per));
      const [l, f] = (await this.fwd(params, new Tensor(xb, [batch, 1, FMNIST_IMAGE_SIZE, FMNIST_IMAGE_SIZE]))) as unknown as [Tensor, Tensor];
      logits.set((l.data as Float32Array).subarray(0, b * FMNIST_NUM_CLASSES), s * FMNIST_NUM_CLASSES);
      features.set((f.data as Float32Array).subarray(0, b * FMNIST_FEATURE_DIM), s * FMNIST_FEATURE_DIM);
      opts.onProgress?.(s + b, n);
    }
    return { features, logits };
  }

  async dispose(): Promise<void> {
    const f = this.fwd;
    this.fwd = undefined;
    await f?.dispose();
  }
}

/** The fmnist `FeatureNetwork` (the shipped classifier by default); weightsKey = SHA-256 prefix of the weights file. */
export function loadFmnistNetwork(opts: FmnistNetworkOptions = {}): FeatureNetwork {
  const path = opts.weights ?? FMNIST_CLASSIFIER_PATH;
  const model = loadFmnistClassifier(path);
  return new FmnistNetwork(model, fileWeightsKey(path));
}
