/**
 * The contract between evaluation and the networks that embed images:
 * Inception-v3 (pytorch-fid's FID variant) for ImageNet-style sets, and the
 * project's Fashion-MNIST classifier for the small-scale experiments.
 *
 * A network takes uint8 images N×H×W×C (C = 1 or 3, as PNGs and ADM's `.npz`
 * `arr_0` hold them) and does its own preprocessing (resize, scaling, grey/RGB
 * conversion), so callers never need to know what it expects.
 */

/** Names of the feature networks `dit eval` / `dit fid-stats` know. */
export type FeatureNetworkName = "inception" | "fmnist";

/** What a network gives for a batch of images; all row-major float32. */
export interface FeatureBatch {
  /** (n, featureDim): pooled features for FID and precision/recall (Inception pool3, classifier penultimate layer). */
  features: Float32Array;
  /** (n, spatialDim): spatial features for sFID (Inception Mixed_6d branch1x1, first 7 channels, 7×17×17), when the network has them. */
  spatial?: Float32Array;
  /** (n, numClasses): logits, for the Inception Score and class accuracy. */
  logits: Float32Array;
}

export interface ExtractOptions {
  /** Images per network call. */
  batch?: number;
  /** Called after each batch with images done and total. */
  onProgress?: (done: number, total: number) => void;
}

export interface FeatureNetwork {
  readonly name: FeatureNetworkName;
  /**
   * Identifies the weights (a SHA-256 prefix of their bytes, say): cached
   * reference statistics are keyed on it, so it must change when the
   * weights change.
   */
  readonly weightsKey: string;
  /** Length of one row of `features`. */
  readonly featureDim: number;
  /** Length of one row of `spatial`, or null when the network has no spatial tap. */
  readonly spatialDim: number | null;
  /** Length of one row of `logits`. */
  readonly numClasses: number;
  /**
   * Embed `images` (uint8, shape [n, h, w, c], c ∈ {1, 3}). Throws the
   * project's typed error, naming what was expected, for a shape the network
   * cannot take.
   */
  extract(images: Uint8Array, shape: readonly [number, number, number, number], opts?: ExtractOptions): Promise<FeatureBatch>;
  /** Release compiled graphs / sessions. */
  dispose(): Promise<void>;
}
