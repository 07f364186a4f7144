/**
 * The Diffusion Transformer's forward pass (official `models.py`, `DiT.forward`),
 * written as three stages so that large models can run one layer at a time:
 *
 *   embed:  patches + pos_embed, timestep and label embeddings → tokens h, conditioning
 *   block:  one block of the configured type (the same function for every layer)
 *   final:  final layer + unpatchify → (N, out_channels, H, W)
 *
 * `ditForward` chains them into one jax-js function (what `dit export` writes
 * and what training differentiates); `DiT` (runner.ts) runs the same stages on
 * ONNX Runtime.
 */
import { nn, numpy as np, type Array } from "@jax-js/jax";
import { adaLNBlock, adaLNZeroBlock, crossAttentionBlock, inContextBlock, type BlockParams } from "./blocks.js";
import { outChannels, tokens, type DiTConfig } from "./config.js";
import { labelEmbedder, patchEmbed, timestepEmbedder, timestepFeatures, unpatchify, type TimestepEmbedderParams } from "./embeddings.js";
import { chunk, layerNorm, linear, modulate, type LinearParams, type Tap } from "./layers.js";

export interface EmbedParams {
  x_embedder: { proj: LinearParams };
  pos_embed: Array;
  t_embedder: TimestepEmbedderParams;
  y_embedder?: { embedding_table: { weight: Array } };
}

export interface FinalParams {
  final_layer: { linear: LinearParams; adaLN_modulation?: { "1": LinearParams } };
}

/** All parameters of a DiT as one tree (official names split on "."). */
export type DiTParams = EmbedParams & FinalParams & { blocks: Record<string, BlockParams> };

/** adaLN-Zero and adaLN blocks are conditioned on c (N, D); the others on tokens. */
export function usesAdaLN(c: DiTConfig): boolean {
  return c.block === "adaLN-Zero" || c.block === "adaLN";
}

// ---------------------------------------------------------------------------
// Stages
// ---------------------------------------------------------------------------

/**
 * Stage 1: the embeddings, named as the fixtures' intermediates (x_patch,
 * pos_embed, x_tokens, t_freq, t_emb, y_emb, c), plus what the blocks take
 * when it differs from x_tokens and c (see `blockInputs`): `cond`, the
 * conditioning tokens [t_emb, y_emb] (N, k, D) of cross-attention and
 * in-context models, and `h`, the in-context sequence [x_tokens; cond] (N, T + k, D).
 */
export function embedStage(c: DiTConfig, p: EmbedParams, x: Array, t: Array, y: Array | null, freqs: Array): Record<string, Array> {
  const xPatch = patchEmbed(p.x_embedder, x, c.patchSize); // (N, T, D)
  const xTokens = xPatch.ref.add(p.pos_embed.ref); // pos_embed (1, T, D)
  const tFreq = timestepFeatures(t, freqs); // (N, 256)
  const tEmb = timestepEmbedder(p.t_embedder, tFreq.ref); // (N, D)
  const yEmb = p.y_embedder && y ? labelEmbedder(p.y_embedder, y) : null; // (N, D)
  const out: Record<string, Array> = { x_patch: xPatch, pos_embed: p.pos_embed, t_freq: tFreq, t_emb: tEmb.ref };
  if (yEmb) out.y_emb = yEmb.ref;
  if (!usesAdaLN(c)) {
    const cond = yEmb ? np.stack([tEmb.ref, yEmb.ref], 1) : np.expandDims(tEmb.ref, 1); // (N, k, D)
    if (c.block === "in-context") out.h = np.concatenate([xTokens.ref, cond.ref], 1); // (N, T + k, D)
    out.cond = cond;
  }
  out.x_tokens = xTokens;
  out.c = yEmb ? tEmb.add(yEmb) : tEmb; // (N, D)
  return out;
}

/** What the blocks take from the embed stage: tokens h and conditioning cond. */
export function blockInputs<T>(e: Record<string, T>): { h: T; cond: T } {
  return { h: e.h ?? e.x_tokens!, cond: e.cond ?? e.c! };
}

/** Stage 2: one block of the configured type. */
export function blockStage(c: DiTConfig, p: BlockParams, x: Array, cond: Array, tap?: Tap): Array {
  switch (c.block) {
    case "adaLN-Zero":
      return adaLNZeroBlock(p, x, cond, c.numHeads, tap);
    case "adaLN":
      return adaLNBlock(p, x, cond, c.numHeads);
    case "cross-attention":
      return crossAttentionBlock(p, x, cond, c.numHeads);
    case "in-context":
      return inContextBlock(p, x, c.numHeads);
  }
}

/**
 * Stage 3: final layer and unpatchify; returns { final_out (N, T, p²·C),
 * adaLN?, out (N, C, H, W) }. cond is c (N, D) for adaLN models, else null.
 */
export function finalStage(c: DiTConfig, p: FinalParams, x: Array, cond: Array | null): Record<string, Array> {
  const fl = p.final_layer;
  if (c.block === "in-context") {
    const [img, extra] = np.split(x, [tokens(c)], 1) as [Array, Array]; // drop the conditioning tokens
    extra.dispose();
    x = img; // (N, T, D)
  }
  let h: Array;
  const out: Record<string, Array> = {};
  if (fl.adaLN_modulation && cond) {
    const mod = linear(fl.adaLN_modulation["1"], nn.silu(cond)); // (N, 2D)
    out.adaLN = mod.ref;
    const [shift, scale] = chunk(mod, 2) as [Array, Array];
    h = modulate(layerNorm(x), shift, scale);
  } else {
    h = layerNorm(x);
  }
  const finalOut = linear(fl.linear, h); // (N, T, p²·C)
  out.final_out = finalOut.ref;
  out.out = unpatchify(finalOut, c.patchSize, outChannels(c)); // (N, C, H, W)
  return out;
}

// ---------------------------------------------------------------------------
// The whole forward pass
// ---------------------------------------------------------------------------

/**
 * The whole forward pass as one jax-js function: x (N, C, H, W), t (N)
 * float32, y (N) int32 or null for unconditional models, freqs the 128
 * timestep frequencies. Returns (N, out_channels, H, W).
 */
export function ditForward(c: DiTConfig, p: DiTParams, x: Array, t: Array, y: Array | null, freqs: Array): Array {
  const e = embedStage(c, p, x, t, y, freqs);
  const inputs = blockInputs(e);
  let h = inputs.h; // (N, T, D), in-context (N, T + k, D)
  const cond = inputs.cond; // (N, D), or tokens (N, k, D)
  for (const v of Object.values(e)) if (v !== h && v !== cond) v.dispose();
  for (let i = 0; i < c.depth; i++) h = blockStage(c, p.blocks[String(i)]!, h, cond.ref); // (N, T, D)
  const adaLN = usesAdaLN(c);
  const f = finalStage(c, p, h, adaLN ? cond : null);
  if (!adaLN) cond.dispose();
  f.adaLN?.dispose();
  f.final_out!.dispose();
  return f.out!; // (N, out_channels, H, W)
}
