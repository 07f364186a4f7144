/**
 * The four DiT block designs of the paper's conditioning ablation (Fig. 3):
 * adaLN-Zero (the default), adaLN, cross-attention and in-context.
 */
import { nn, numpy as np, type Array } from "@jax-js/jax";
import {
  attention,
  chunk,
  crossAttention,
  layerNorm,
  linear,
  mlp,
  modulate,
  type Tap,
  type AttentionParams,
  type CrossAttentionParams,
  type LinearParams,
  type MlpParams,
} from "./layers.js";

/** Parameters of one block; which fields exist depends on the block type. */
export interface BlockParams {
  attn: AttentionParams;
  mlp: MlpParams;
  /** adaLN and adaLN-Zero: SiLU → Linear(D, 6D) (Zero) or Linear(D, 4D); index 1 as in `nn.Sequential`. */
  adaLN_modulation?: { "1": LinearParams };
  /** cross-attention only. */
  cross_attn?: CrossAttentionParams;
}

/** Expand (N, D) gates to (N, 1, D) so they broadcast over tokens. */
const perToken = (g: Array) => np.expandDims(g, 1);

/**
 * adaLN-Zero: shift, scale and gate of both sub-layers regressed from c; the
 * gates start at zero so every block starts as the identity.
 */
export function adaLNZeroBlock(p: BlockParams, x: Array, c: Array, numHeads: number, tap?: Tap): Array {
  // x (N, T, D), c (N, D)
  const mod = linear(p.adaLN_modulation!["1"], nn.silu(c)); // (N, 6D)
  tap?.("adaLN", mod.ref);
  const [shiftMsa, scaleMsa, gateMsa, shiftMlp, scaleMlp, gateMlp] = chunk(mod, 6) as [Array, Array, Array, Array, Array, Array];
  const attnIn = modulate(layerNorm(x.ref), shiftMsa, scaleMsa);
  tap?.("attn_in", attnIn.ref);
  const attnOut = attention(p.attn, attnIn, numHeads, tap);
  tap?.("attn_out", attnOut.ref);
  x = x.add(perToken(gateMsa).mul(attnOut));
  tap?.("x_after_attn", x.ref);
  const mlpIn = modulate(layerNorm(x.ref), shiftMlp, scaleMlp);
  tap?.("mlp_in", mlpIn.ref);
  const mlpOut = mlp(p.mlp, mlpIn);
  tap?.("mlp_out", mlpOut.ref);
  return x.add(perToken(gateMlp).mul(mlpOut));
}

/** adaLN: shift and scale only (Linear(D, 4D)), no gates. */
export function adaLNBlock(p: BlockParams, x: Array, c: Array, numHeads: number): Array {
  const [shiftMsa, scaleMsa, shiftMlp, scaleMlp] = chunk(linear(p.adaLN_modulation!["1"], nn.silu(c)), 4) as [
    Array,
    Array,
    Array,
    Array,
  ];
  x = x.ref.add(attention(p.attn, modulate(layerNorm(x), shiftMsa, scaleMsa), numHeads));
  x = x.ref.add(mlp(p.mlp, modulate(layerNorm(x), shiftMlp, scaleMlp)));
  return x;
}

/**
 * Cross-attention: a plain ViT block plus, after self-attention, multi-head
 * cross-attention from the image tokens to the length-2 sequence [t, y].
 */
export function crossAttentionBlock(p: BlockParams, x: Array, cond: Array, numHeads: number): Array {
  // x (N, T, D), cond (N, 2, D)
  x = x.ref.add(attention(p.attn, layerNorm(x), numHeads));
  x = x.ref.add(crossAttention(p.cross_attn!, x, cond, numHeads));
  x = x.ref.add(mlp(p.mlp, layerNorm(x)));
  return x;
}

/** In-context: a plain ViT block; the conditioning tokens are part of x. */
export function inContextBlock(p: BlockParams, x: Array, numHeads: number): Array {
  x = x.ref.add(attention(p.attn, layerNorm(x), numHeads));
  x = x.ref.add(mlp(p.mlp, layerNorm(x)));
  return x;
}

/** A tree shaped like BlockParams with leaves of type L. */
export type ParamTree<L> = { [key: string]: L | ParamTree<L> };

/** Shapes of one block's parameters (official names, PyTorch layouts). */
export function blockParamShapes(block: string, D: number, mlpRatio = 4): ParamTree<number[]> {
  const lin = (i: number, o: number) => ({ weight: [o, i], bias: [o] });
  const H = mlpRatio * D;
  const p: ParamTree<number[]> = {
    attn: { qkv: lin(D, 3 * D), proj: lin(D, D) },
    mlp: { fc1: lin(D, H), fc2: lin(H, D) },
  };
  if (block === "adaLN-Zero") p.adaLN_modulation = { "1": lin(D, 6 * D) };
  if (block === "adaLN") p.adaLN_modulation = { "1": lin(D, 4 * D) };
  if (block === "cross-attention") p.cross_attn = { q: lin(D, D), k: lin(D, D), v: lin(D, D), proj: lin(D, D) };
  return p;
}
