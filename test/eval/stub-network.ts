/** A tiny deterministic FeatureNetwork for evaluation tests: features are simple functions of the pixels. */
import type { FeatureBatch, FeatureNetwork, FeatureNetworkName } from "../../src/eval/feature-network.js";

/** Features of one image (its bytes, H×W×C): mean, first byte, last byte, byte in the middle (as floats). */
export function stubFeatures(img: Uint8Array): number[] {
  let s = 0;
  for (const v of img) s += v;
  return [s / img.length, img[0]!, img[img.length - 1]!, img[img.length >> 1]!];
}
/** Spatial features: bytes 1 and 2. */
export function stubSpatial(img: Uint8Array): number[] {
  return [img[1]!, img[2]!];
}
/** Logits: 3 classes from the first byte. */
export function stubLogits(img: Uint8Array): number[] {
  return [img[0]! / 64, 1, -img[0]! / 64];
}

export interface StubNetwork extends FeatureNetwork {
  /** Images passed to extract so far. */
  extracted: number;
}

export function stubNetwork(opts: { name?: FeatureNetworkName; weightsKey?: string; spatial?: boolean } = {}): StubNetwork {
  const net: StubNetwork = {
    name: opts.name ?? "inception",
    weightsKey: opts.weightsKey ?? "stub-weights-1",
    featureDim: 4,
    spatialDim: opts.spatial === false ? null : 2,
    numClasses: 3,
    extracted: 0,
    extract(images, shape, o) {
      const [n, h, w, c] = shape;
      const per = h * w * c;
      const out: FeatureBatch = { features: new Float32Array(n * 4), logits: new Float32Array(n * 3) };
      if (net.spatialDim !== null) out.spatial = new Float32Array(n * 2);
      for (let i = 0; i < n; i++) {
        const img = images.subarray(i * per, (i + 1) * per);
        out.features.set(stubFeatures(img), i * 4);
        out.logits.set(stubLogits(img), i * 3);
        out.spatial?.set(stubSpatial(img), i * 2);
      }
      net.extracted += n;
      o?.onProgress?.(n, n);
      return Promise.resolve(out);
    },
    dispose: () => Promise.resolve(),
  };
  return net;
}

/** n random-ish images h×w×c from a seed (a linear congruential generator). */
export function randomImages(n: number, h: number, w: number, c: number, seed = 1): Uint8Array {
  const out = new Uint8Array(n * h * w * c);
  let s = seed >>> 0;
  for (let i = 0; i < out.length; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = s >>> 24;
  }
  return out;
}

/** Mean and unbiased covariance of rows, written out plainly (the test's own reference). */
export function meanCov(rows: number[][]): { mu: number[]; sigma: number[][] } {
  const n = rows.length;
  const d = rows[0]!.length;
  const mu = Array.from({ length: d }, (_, j) => rows.reduce((a, r) => a + r[j]!, 0) / n);
  const sigma = Array.from({ length: d }, (_, j) => Array.from({ length: d }, (_, k) => rows.reduce((a, r) => a + (r[j]! - mu[j]!) * (r[k]! - mu[k]!), 0) / (n - 1)));
  return { mu, sigma };
}
