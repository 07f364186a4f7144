/**
 * The layers of diffusers' AutoencoderKL, written with jax-js on NCHW arrays.
 * Parameters are plain objects named like the diffusers state dict
 * (`p.conv1.weight` is `conv1.weight`). Every op consumes its inputs: a value
 * used twice is passed once as `x.ref`.
 */
import { lax, nn, numpy as np, type Array } from "@jax-js/jax";
import { layerNorm, linear, type LinearParams } from "../model/layers.js";

/** GroupNorm eps in the SD VAE (not PyTorch's default 1e-5). */
export const VAE_NORM_EPS = 1e-6;

export interface ConvParams {
  weight: Array; // (out, in, kh, kw)
  bias: Array; // (out,)
}

export interface NormParams {
  weight: Array; // (C,)
  bias: Array; // (C,)
}

/** 2-D convolution with bias; padding per spatial axis as [lo, hi]. */
export function conv2d(p: ConvParams, x: Array, stride = 1, padding: [number, number][] = [[1, 1], [1, 1]]): Array {
  const o = p.weight.shape[0]!;
  return lax.convGeneralDilated(x, p.weight, [stride, stride], padding).add(p.bias.reshape([1, o, 1, 1]));
}

/** 1×1 convolution (quant_conv, post_quant_conv, conv_shortcut). */
export function conv1x1(p: ConvParams, x: Array): Array {
  return conv2d(p, x, 1, [
    [0, 0],
    [0, 0],
  ]);
}

/** GroupNorm over (C/G, H, W) per group, biased variance, affine per channel. */
export function groupNorm(p: NormParams, x: Array, groups: number, eps = VAE_NORM_EPS): Array {
  const [n, c, h, w] = x.shape as [number, number, number, number];
  const normed = layerNorm(x.reshape([n, groups, (c / groups) * h * w]), eps).reshape([n, c, h, w]);
  return normed.mul(p.weight.reshape([1, c, 1, 1])).add(p.bias.reshape([1, c, 1, 1]));
}

export interface ResnetParams {
  norm1: NormParams;
  conv1: ConvParams;
  norm2: NormParams;
  conv2: ConvParams;
  conv_shortcut?: ConvParams;
}

/** ResnetBlock2D: shortcut(x) + conv2(silu(norm2(conv1(silu(norm1(x)))))). */
export function resnet(p: ResnetParams, x: Array, groups: number): Array {
  let h = conv2d(p.conv1, nn.silu(groupNorm(p.norm1, x.ref, groups)));
  h = conv2d(p.conv2, nn.silu(groupNorm(p.norm2, h, groups)));
  const skip = p.conv_shortcut ? conv1x1(p.conv_shortcut, x) : x;
  return skip.add(h);
}

export interface AttentionParams {
  group_norm: NormParams;
  to_q: LinearParams;
  to_k: LinearParams;
  to_v: LinearParams;
  to_out: { "0": LinearParams };
}

/** The mid-block self-attention: one head over the H·W positions (row-major), plus the residual. */
export function attention(p: AttentionParams, x: Array, groups: number): Array {
  const [n, c, h, w] = x.shape as [number, number, number, number];
  const t = groupNorm(p.group_norm, x.ref, groups).reshape([n, c, h * w]).transpose([0, 2, 1]); // (N, HW, C)
  const q = linear(p.to_q, t.ref);
  const k = linear(p.to_k, t.ref);
  const v = linear(p.to_v, t);
  const probs = nn.softmax(np.matmul(q.mul(c ** -0.5), k.transpose([0, 2, 1])), -1); // (N, HW, HW)
  const o = linear(p.to_out["0"], np.matmul(probs, v)); // (N, HW, C)
  return o.transpose([0, 2, 1]).reshape([n, c, h, w]).add(x);
}

/** Downsample2D: zero-pad one column right and one row below, then a 3×3 stride-2 conv. */
export function downsample(p: { conv: ConvParams }, x: Array): Array {
  return conv2d(p.conv, x, 2, [
    [0, 1],
    [0, 1],
  ]);
}

/** Upsample2D: nearest ×2, then a 3×3 conv. */
export function upsample(p: { conv: ConvParams }, x: Array): Array {
  const [n, c, h, w] = x.shape as [number, number, number, number];
  const up = np.broadcastTo(x.reshape([n, c, h, 1, w, 1]), [n, c, h, 2, w, 2]).reshape([n, c, 2 * h, 2 * w]);
  return conv2d(p.conv, up);
}
