/**
 * The layers a DiT is made of, written with jax-js. Parameters are plain
 * objects named like the official PyTorch state dict (`attn.qkv.weight` is
 * `p.attn.qkv.weight`), so loading a checkpoint is a matter of splitting keys.
 *
 * jax-js arrays are reference counted and every op consumes its inputs: a value
 * used twice is passed once as `x.ref`.
 */
import { nn, numpy as np, type Array } from "@jax-js/jax";

export interface LinearParams {
  weight: Array; // (out, in), PyTorch layout
  bias: Array; // (out,)
}

/** y = x Wᵀ + b over the last axis. */
export function linear(p: LinearParams, x: Array): Array {
  return np.matmul(x, p.weight.transpose()).add(p.bias);
}

/**
 * LayerNorm over the last axis without affine parameters (eps 1e-6 in DiT).
 * Written as mean / centred second moment so the compiler maps it to one
 * native LayerNormalization.
 */
export function layerNorm(x: Array, eps = 1e-6): Array {
  const mean = np.mean(x.ref, -1, { keepdims: true });
  const xc = x.sub(mean);
  const variance = np.mean(xc.ref.mul(xc.ref), -1, { keepdims: true });
  return xc.mul(np.reciprocal(np.sqrt(variance.add(eps))));
}

/** adaLN modulation: x·(1 + scale) + shift, with (N, D) shift/scale broadcast over tokens. */
export function modulate(x: Array, shift: Array, scale: Array): Array {
  // x (N, T, D); shift, scale (N, D)
  return x.mul(np.expandDims(scale, 1).add(1)).add(np.expandDims(shift, 1));
}

/** Split the last axis of (N, k·D) into k arrays of (N, D) — PyTorch's `chunk(k, dim=1)`. */
export function chunk(x: Array, k: number): Array[] {
  return np.split(x, k, -1);
}

export interface MlpParams {
  fc1: LinearParams;
  fc2: LinearParams;
}

/** timm's Mlp with the tanh-approximated GELU (as DiT uses it). */
export function mlp(p: MlpParams, x: Array): Array {
  return linear(p.fc2, nn.gelu(linear(p.fc1, x), { approximate: true }));
}

export interface AttentionParams {
  qkv: LinearParams;
  proj: LinearParams;
}

/** Split (N, T, D) into heads: (N, H, T, D/H). */
function toHeads(x: Array, numHeads: number): Array {
  const [n, t, d] = x.shape as [number, number, number];
  return x.reshape([n, t, numHeads, d / numHeads]).transpose([0, 2, 1, 3]);
}

/** Merge heads back: (N, H, T, Dh) → (N, T, H·Dh). */
function fromHeads(x: Array): Array {
  const [n, h, t, dh] = x.shape as [number, number, number, number];
  return x.transpose([0, 2, 1, 3]).reshape([n, t, h * dh]);
}

/** Records a named intermediate activation (receives its own reference). */
export type Tap = (name: string, value: Array) => void;

/** Scaled dot-product attention of (N, H, Tq, Dh) queries over (N, H, Tk, Dh) keys/values. */
export function attend(q: Array, k: Array, v: Array, tap?: Tap): Array {
  const dh = q.shape[q.shape.length - 1]!;
  // timm scales q before the product: q · dh^-½ @ kᵀ
  const logits = np.matmul(q.mul(dh ** -0.5), k.transpose([0, 1, 3, 2])); // (N, H, Tq, Tk)
  const probs = nn.softmax(logits, -1);
  tap?.("attn_probs", probs.ref);
  return np.matmul(probs, v); // (N, H, Tq, Dh)
}

/** timm's multi-head self-attention with a fused qkv projection. */
export function attention(p: AttentionParams, x: Array, numHeads: number, tap?: Tap): Array {
  const [q, k, v] = chunk(linear(p.qkv, x), 3) as [Array, Array, Array]; // (N, T, D) each
  const out = attend(toHeads(q, numHeads), toHeads(k, numHeads), toHeads(v, numHeads), tap);
  return linear(p.proj, fromHeads(out));
}

export interface CrossAttentionParams {
  q: LinearParams;
  k: LinearParams;
  v: LinearParams;
  proj: LinearParams;
}

/** Multi-head cross-attention: queries from x (N, T, D), keys/values from ctx (N, S, D). */
export function crossAttention(p: CrossAttentionParams, x: Array, ctx: Array, numHeads: number): Array {
  const q = toHeads(linear(p.q, x), numHeads);
  const k = toHeads(linear(p.k, ctx.ref), numHeads);
  const v = toHeads(linear(p.v, ctx), numHeads);
  return linear(p.proj, fromHeads(attend(q, k, v)));
}
