/**
 * Per-image random streams: image `index` of a run with seed `seed` draws all
 * of its noise (x_T, then each DDPM/DDIM step's noise) from its own
 * generator, so the image is the same whatever the batch size or the batch it
 * falls in. (The official sample_ddp.py seeds per rank, so its images depend
 * on the world size; ours do not.)
 */
import { Rng } from "../util/rng.js";

/** murmur3's 32-bit finaliser: a bijection on 32-bit integers. */
function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/**
 * The generator seed of image `index`: fmix32(fmix32(seed) + index). For one
 * seed, distinct indices (< 2³²) give distinct generator seeds.
 */
export function imageSeed(seed: number, index: number): number {
  if (!Number.isInteger(seed) || !Number.isInteger(index) || index < 0) throw new RangeError(`imageSeed: seed and index must be integers (index ≥ 0), got ${seed}, ${index}`);
  return fmix32((fmix32(seed >>> 0) + index) >>> 0);
}

/** A fresh generator for image `index` of seed `seed`. */
export function imageRng(seed: number, index: number): Rng {
  return new Rng(imageSeed(seed, index));
}

/** x_T of images first..first+count−1, each `per` values from its own stream, concatenated: (count, …). */
export function initialNoise(seed: number, first: number, count: number, per: number): Float32Array {
  const out = new Float32Array(count * per);
  for (let i = 0; i < count; i++) out.set(imageRng(seed, first + i).normals(per), i * per);
  return out;
}
