/**
 * DiT's embedders: patches, the fixed 2-D sin-cos position table, timesteps
 * and labels (official `PatchEmbed`, `get_2d_sincos_pos_embed`,
 * `TimestepEmbedder`, `LabelEmbedder`).
 */
import { nn, numpy as np, type Array } from "@jax-js/jax";
import { linear, type LinearParams } from "./layers.js";

/** Frequency features of the timestep embedder (the official 256). */
export const FREQUENCY_EMBEDDING_SIZE = 256;

/**
 * 2-D sin-cos position embedding (T, D) in float64, as numpy computes it: the
 * first D/2 channels encode the column (w) coordinate, the last D/2 the row,
 * each half as [sin, cos] over D/4 frequencies 1/10000^(i/(D/4)).
 */
export function sincosPosEmbed(D: number, grid: number): Float64Array {
  if (D % 4 !== 0) throw new Error(`position embedding needs D divisible by 4, got ${D}`);
  const quarter = D / 4;
  const omega = Float64Array.from({ length: quarter }, (_, i) => 1 / 10000 ** (i / quarter));
  const out = new Float64Array(grid * grid * D);
  for (let h = 0; h < grid; h++) {
    for (let w = 0; w < grid; w++) {
      const row = (h * grid + w) * D;
      for (let i = 0; i < quarter; i++) {
        // numpy's meshgrid(w, h) puts the column coordinate first
        out[row + i] = Math.sin(w * omega[i]!);
        out[row + quarter + i] = Math.cos(w * omega[i]!);
        out[row + 2 * quarter + i] = Math.sin(h * omega[i]!);
        out[row + 3 * quarter + i] = Math.cos(h * omega[i]!);
      }
    }
  }
  return out;
}

/**
 * Timestep frequencies exp(−ln(10000)·i/128), computed in float32 the way
 * PyTorch does (`-math.log(10000) * arange(half, float32) / half`, then exp).
 */
export function timestepFrequencies(dim = FREQUENCY_EMBEDDING_SIZE): Float32Array {
  const half = dim / 2;
  const c = Math.fround(-Math.log(10000));
  return Float32Array.from({ length: half }, (_, i) => Math.fround(Math.exp(Math.fround(Math.fround(c * i) / half))));
}

// 2π split for Cody–Waite range reduction: TWO_PI_HI has 8 significant bits, so k·TWO_PI_HI is exact in
// float32 for every k we meet (|k| < 2^15), and TWO_PI_LO = 2π − TWO_PI_HI carries the rest.
const TWO_PI_HI = 6.28125;
const TWO_PI_LO = Math.fround(2 * Math.PI - 6.28125);
const INV_TWO_PI = Math.fround(1 / (2 * Math.PI));

/**
 * [cos(t·f), sin(t·f)] features, (N, 256), computed in float32.
 *
 * Why the range reduction: t·f reaches ~1000 rad, and GPU sin/cos are only specified on [−π, π]
 * (WGSL and Vulkan: absolute error ≤ 2^−11 there, nothing promised outside). Reducing to [−π, π]
 * first, with the exact-product split
 * above, changes nothing on a CPU (the reduced argument is within ~3e-7 of the true remainder
 * of the float32 t·f) and keeps every backend inside the domain its sin/cos is accurate on.
 */
export function timestepFeatures(t: Array, freqs: Array): Array {
  const args = np.expandDims(t, 1).mul(np.expandDims(freqs, 0)); // (N, 128), up to ~1000 rad
  const k = np.floor(args.ref.mul(INV_TWO_PI).add(0.5)); // nearest multiple of 2π
  const reduced = args.sub(k.ref.mul(TWO_PI_HI)).sub(k.mul(TWO_PI_LO)); // (N, 128), in [−π, π]
  return np.concatenate([np.cos(reduced.ref), np.sin(reduced)], -1);
}

export interface TimestepEmbedderParams {
  mlp: { "0": LinearParams; "2": LinearParams };
}

/** Linear(256, D) → SiLU → Linear(D, D) on the frequency features. */
export function timestepEmbedder(p: TimestepEmbedderParams, tFreq: Array): Array {
  return linear(p.mlp["2"], nn.silu(linear(p.mlp["0"], tFreq)));
}

/**
 * Patch embedding: a convolution with kernel = stride = p, written as a
 * reshape into patches and one matmul (the same arithmetic, and one Gemm).
 * x (N, C, H, W) → (N, T, D) with tokens row-major over the (h, w) grid.
 */
export function patchEmbed(p: { proj: LinearParams }, x: Array, patch: number): Array {
  const [n, c, H, W] = x.shape as [number, number, number, number];
  const h = H / patch;
  const w = W / patch;
  const patches = x
    .reshape([n, c, h, patch, w, patch])
    .transpose([0, 2, 4, 1, 3, 5]) // (N, h, w, C, p, p)
    .reshape([n, h * w, c * patch * patch]);
  const D = p.proj.weight.shape[0]!;
  const weight = p.proj.weight.reshape([D, c * patch * patch]); // conv (D, C, p, p) → (D, C·p·p)
  return linear({ weight, bias: p.proj.bias }, patches);
}

/** Label embedding: a table lookup (row `numClasses` is the null class for guidance). */
export function labelEmbedder(p: { embedding_table: { weight: Array } }, y: Array): Array {
  return np.take(p.embedding_table.weight, y, 0);
}

/**
 * Unpatchify: (N, T, p·p·C) with the last axis ordered (p_row, p_col, c) →
 * (N, C, H, W), i.e. einsum('nhwpqc->nchpwq').
 */
export function unpatchify(x: Array, patch: number, channels: number): Array {
  const [n, t] = x.shape as [number, number];
  const g = Math.round(Math.sqrt(t));
  if (g * g !== t) throw new Error(`unpatchify: ${t} tokens do not form a square grid`);
  return x
    .reshape([n, g, g, patch, patch, channels])
    .transpose([0, 5, 1, 3, 2, 4]) // (N, C, h, p, w, q)
    .reshape([n, channels, g * patch, g * patch]);
}
