/**
 * Running a feature network over an image set in chunks: features (pool /
 * penultimate), spatial features and logits for every image, with progress.
 */
import type { FeatureNetwork } from "./feature-network.js";
import { imageSetShape, type ImageSet } from "./sample-set.js";

/** Everything a network gives for a set, row-major float32. */
export interface ExtractedFeatures {
  n: number;
  /** (n, featureDim) */
  features: Float32Array;
  /** (n, spatialDim), or null when the network has no spatial tap. */
  spatial: Float32Array | null;
  /** (n, numClasses) */
  logits: Float32Array;
}

export interface ExtractSetOptions {
  /** Images per network call (passed to `extract`). */
  batch?: number;
  /** Images read and decoded at a time (default 1024). */
  chunk?: number;
  /** Called as images are done: (done, total). */
  onProgress?: (done: number, total: number) => void;
}

/** Embed every image of `set` with `net`, `chunk` images at a time. */
export async function extractImageSetFeatures(net: FeatureNetwork, set: ImageSet, opts: ExtractSetOptions = {}): Promise<ExtractedFeatures> {
  const n = set.count;
  const [, h, w, c] = imageSetShape(set);
  const chunk = Math.max(1, opts.chunk ?? 1024);
  const features = new Float32Array(n * net.featureDim);
  const spatial = net.spatialDim === null ? null : new Float32Array(n * net.spatialDim);
  const logits = new Float32Array(n * net.numClasses);
  for (let s = 0; s < n; s += chunk) {
    const k = Math.min(chunk, n - s);
    const out = await net.extract(set.read(s, k), [k, h, w, c], { batch: opts.batch, onProgress: (done) => opts.onProgress?.(s + done, n) });
    if (out.features.length !== k * net.featureDim || out.logits.length !== k * net.numClasses) {
      throw new Error(`${net.name} network: returned ${out.features.length} features and ${out.logits.length} logits for ${k} images, expected ${k}×${net.featureDim} and ${k}×${net.numClasses}`);
    }
    features.set(out.features, s * net.featureDim);
    logits.set(out.logits, s * net.numClasses);
    if (spatial) {
      if (out.spatial?.length !== k * net.spatialDim!) throw new Error(`${net.name} network: returned ${out.spatial?.length ?? "no"} spatial values for ${k} images, expected ${k}×${net.spatialDim}`);
      spatial.set(out.spatial, s * net.spatialDim!);
    }
    opts.onProgress?.(s + k, n);
  }
  return { n, features, spatial, logits };
}
