/**
 * The Diffusion Transformer (official `models.py`), run stage by stage:
 *
 *   embed:  patches + pos_embed, timestep and label embeddings → tokens, c
 *   block:  one compiled graph reused for every layer, fed that layer's weights
 *   final:  final layer + unpatchify → (N, out_channels, H, W)
 *
 * Weights stay in typed arrays (a DiT-XL/2 is 2.7 GB, too big for jax-js's
 * 4 GiB Wasm heap when doubled) and go to ONNX Runtime as inputs, so one
 * block graph serves all layers and memory holds one block's activations.
 */
import { nn, numpy as np, type Array, type JsTree } from "@jax-js/jax";
import { compile, type CompiledFunction } from "../runtime/compile.js";
import { eager } from "../runtime/eager.js";
import { Session } from "../runtime/session.js";
import { Tensor } from "../runtime/tensor.js";
import { subtree, type StateDict } from "../io/state-dict.js";
import { adaLNBlock, adaLNZeroBlock, crossAttentionBlock, inContextBlock, type BlockParams } from "./blocks.js";
import { isConditional, outChannels, validateConfig, type DiTConfig } from "./config.js";
import {
  labelEmbedder,
  patchEmbed,
  timestepEmbedder,
  timestepFeatures,
  timestepFrequencies,
  unpatchify,
  type TimestepEmbedderParams,
} from "./embeddings.js";
import { chunk, layerNorm, linear, modulate, type LinearParams, type Tap } from "./layers.js";
import { paramShapes } from "./params.js";

export type { StateDict } from "../io/state-dict.js";
export { subtree } from "../io/state-dict.js";

/** Classifier-free guidance mode: the official code guides only channels 0..2. */
export type CfgMode = "official" | "standard";

export interface EmbedParams {
  x_embedder: { proj: LinearParams };
  pos_embed: Array;
  t_embedder: TimestepEmbedderParams;
  y_embedder?: { embedding_table: { weight: Array } };
}

export interface FinalParams {
  final_layer: { linear: LinearParams; adaLN_modulation?: { "1": LinearParams } };
}

/** Activations of one forward pass, named as in the parity fixtures (`inter.*`). */
export type Intermediates = Map<string, Tensor>;

/** Stage 1: tokens (N, T, D) and conditioning c (N, D) — or, without adaLN, the conditioning tokens (N, k, D). */
export function embedStage(c: DiTConfig, p: EmbedParams, x: Array, t: Array, y: Array | null, freqs: Array): Record<string, Array> {
  const xPatch = patchEmbed(p.x_embedder, x, c.patchSize); // (N, T, D)
  const xTokens = xPatch.ref.add(p.pos_embed.ref); // pos_embed (1, T, D)
  const tFreq = timestepFeatures(t, freqs); // (N, 256)
  const tEmb = timestepEmbedder(p.t_embedder, tFreq.ref); // (N, D)
  const out: Record<string, Array> = { x_patch: xPatch, pos_embed: p.pos_embed, x_tokens: xTokens, t_freq: tFreq, t_emb: tEmb.ref };
  if (p.y_embedder && y) {
    const yEmb = labelEmbedder(p.y_embedder, y); // (N, D)
    out.y_emb = yEmb.ref;
    out.c = tEmb.add(yEmb);
  } else {
    out.c = tEmb;
  }
  return out;
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

/** Stage 3: final layer and unpatchify; returns { final_out (N, T, p²·C), adaLN?, out (N, C, H, W) }. */
export function finalStage(c: DiTConfig, p: FinalParams, x: Array, cond: Array | null): Record<string, Array> {
  const fl = p.final_layer;
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
  out.out = unpatchify(finalOut, c.patchSize, outChannels(c));
  return out;
}

/** All parameters of a DiT as one tree (official names split on "."). */
export type DiTParams = EmbedParams & FinalParams & { blocks: Record<string, BlockParams> };

/**
 * The whole forward pass as one jax-js function (what `dit export` writes and
 * what training differentiates): x (N, C, H, W), t (N) float32, y (N) int32 or
 * null for unconditional models, freqs the 128 timestep frequencies.
 */
export function ditForward(c: DiTConfig, p: DiTParams, x: Array, t: Array, y: Array | null, freqs: Array): Array {
  const e = embedStage(c, p, x, t, y, freqs);
  const usesAdaLN = c.block === "adaLN-Zero" || c.block === "adaLN";
  for (const k of ["x_patch", "pos_embed", "t_freq"]) e[k]!.dispose();
  let h = e.x_tokens!; // (N, T, D)
  let cond: Array;
  if (usesAdaLN) {
    cond = e.c!;
    e.t_emb!.dispose();
    e.y_emb?.dispose();
  } else {
    e.c!.dispose();
    cond = e.y_emb ? np.stack([e.t_emb!, e.y_emb], 1) : np.expandDims(e.t_emb!, 1); // (N, k, D)
  }
  const T = h.shape[1]!;
  if (c.block === "in-context") h = np.concatenate([h, cond.ref], 1); // (N, T + k, D)
  for (let i = 0; i < c.depth; i++) h = blockStage(c, p.blocks[String(i)]!, h, cond.ref);
  if (c.block === "in-context") {
    const [img, extra] = np.split(h, [T], 1) as [Array, Array];
    extra.dispose();
    h = img;
  }
  const f = finalStage(c, p, h, usesAdaLN ? cond : null);
  if (!usesAdaLN) cond.dispose();
  f.adaLN?.dispose();
  f.final_out!.dispose();
  return f.out!;
}

/**
 * How forward runs on ONNX Runtime: "whole" = one graph per batch size with the
 * weights baked in as initializers (ONNX Runtime can prepack them; ~20 % faster
 * for small models, but it holds a second copy of the weights), "staged" = one
 * compiled block graph reused for every layer with that layer's weights as
 * inputs (memory of one block; what large models need). Default "auto": whole
 * up to WHOLE_GRAPH_MAX_BYTES of weights. The whole graph reads the weights
 * when first built for a batch size: create a new DiT after changing them.
 */
export type Execution = "auto" | "whole" | "staged";

/** Weights up to this size run as one graph by default (DiT-B/2 is 522 MB). */
export const WHOLE_GRAPH_MAX_BYTES = 600 * 2 ** 20;

/** Where stages run: compiled to ONNX Runtime (default), or jax-js eager (the test reference). */
export type Backend = "onnx" | "eager";

export interface ForwardOptions {
  /** Collect intermediates (named like the fixtures' `inter.*`). */
  intermediates?: Intermediates;
  /** Called after each block (progress reporting). */
  onBlock?: (index: number, depth: number) => void;
}

/** A DiT with weights in host memory, executed through compiled ONNX Runtime stages. */
export class DiT {
  readonly config: DiTConfig;
  private embedFn?: CompiledFunction;
  private blockFn?: CompiledFunction;
  private finalFn?: CompiledFunction;
  private tappedBlockFn?: CompiledFunction;
  private readonly freqs = timestepFrequencies();

  private readonly build: typeof compile;
  /** Run forward as one graph with the weights baked in (per batch size). */
  private readonly whole: boolean;
  private wholeSessions = new Map<number, Promise<Session>>();

  constructor(
    config: DiTConfig,
    readonly weights: StateDict,
    opts: { backend?: Backend; execution?: Execution } = {},
  ) {
    this.build = opts.backend === "eager" ? (eager as typeof compile) : compile;
    const bytes = [...weights.values()].reduce((s, t) => s + t.data.byteLength, 0);
    this.whole = opts.backend !== "eager" && (opts.execution === "whole" || (opts.execution !== "staged" && bytes <= WHOLE_GRAPH_MAX_BYTES));
    this.config = validateConfig(config);
    checkStateDict(this.config, weights);
  }

  private stages() {
    const c = this.config;
    const conditional = isConditional(c);
    const usesAdaLN = c.block === "adaLN-Zero" || c.block === "adaLN";
    this.embedFn ??= this.build(
      (conditional
        ? (p: EmbedParams, x: Array, t: Array, f: Array, y: Array) => embedStage(c, p, x, t, y, f)
        : (p: EmbedParams, x: Array, t: Array, f: Array) => embedStage(c, p, x, t, null, f)) as never,
    );
    this.blockFn ??= this.build(((p: BlockParams, x: Array, cond: Array) => blockStage(c, p, x, cond)) as never);
    this.tappedBlockFn ??= this.build(((p: BlockParams, x: Array, cond: Array) => {
      const rec: Record<string, Array> = {};
      const out = blockStage(c, p, x, cond, (name, v) => (rec[name] = v));
      return { ...rec, out };
    }) as never);
    this.finalFn ??= this.build(
      (usesAdaLN
        ? (p: FinalParams, x: Array, cond: Array) => finalStage(c, p, x, cond)
        : (p: FinalParams, x: Array) => finalStage(c, p, x, null)) as never,
    );
    return { embed: this.embedFn, block: this.blockFn, tappedBlock: this.tappedBlockFn, final: this.finalFn, conditional, usesAdaLN };
  }

  /**
   * forward(x, t, y): x (N, C, H, W) float32, t (N) timesteps (float32 or
   * int32), y (N) int32 labels (ignored by unconditional models).
   * Returns (N, out_channels, H, W).
   */
  async forward(x: Tensor, t: Tensor, y?: Tensor, opts: ForwardOptions = {}): Promise<Tensor> {
    const c = this.config;
    checkInputs(c, x, t, y);
    const tf = t.dtype === "float32" ? t : new Tensor(Float32Array.from(t.data as Int32Array), t.shape);
    if (this.whole && !opts.intermediates) {
      const N = x.shape[0]!;
      let session = this.wholeSessions.get(N);
      if (!session) {
        // One long run with no JavaScript work between ops: spin-waiting pool threads pay off here.
        session = import("./export.js").then(async ({ lowerWholeModel }) => Session.create((await lowerWholeModel(c, this.weights, N)).encode(), { spinning: true }));
        this.wholeSessions.set(N, session);
        session.catch(() => this.wholeSessions.delete(N));
      }
      const [out] = await (await session).run(isConditional(c) ? [x, tf, y!] : [x, tf]);
      for (let i = 0; i < c.depth; i++) opts.onBlock?.(i, c.depth); // one graph: every block is done at once
      return out!;
    }
    const { embed, block, tappedBlock, final, conditional, usesAdaLN } = this.stages();
    const freqs = new Tensor(this.freqs, [this.freqs.length]);
    const root = subtree(this.weights, "") as Record<string, JsTree<Tensor>>;
    const ep = { x_embedder: root.x_embedder!, pos_embed: root.pos_embed!, t_embedder: root.t_embedder!, ...(conditional ? { y_embedder: root.y_embedder! } : {}) };
    const e = (await (conditional ? embed(ep, x, tf, freqs, y!) : embed(ep, x, tf, freqs))) as unknown as Record<string, Tensor>;
    const inter = opts.intermediates;
    if (inter) for (const [k, v] of Object.entries(e)) inter.set(k, v);

    let h = e.x_tokens!;
    let cond: Tensor = e.c!;
    if (!usesAdaLN) cond = conditionTokens(e);
    if (c.block === "in-context") h = concatTokens(h, cond);
    for (let i = 0; i < c.depth; i++) {
      const bp = subtree(this.weights, `blocks.${i}.`);
      if (inter && i === 0) {
        // the first block also reports its inner activations
        const r = (await tappedBlock(bp, h, cond)) as unknown as Record<string, Tensor>;
        for (const [k, v] of Object.entries(r)) inter.set(`block0.${k}`, v);
        h = r.out!;
      } else {
        h = (await block(bp, h, cond)) as Tensor;
        if (inter) inter.set(`block${i}.out`, h);
      }
      opts.onBlock?.(i, c.depth);
    }
    if (c.block === "in-context") h = dropTokens(h, cond.shape[1]!);
    const fp = { final_layer: root.final_layer! };
    const f = (await (usesAdaLN ? final(fp, h, e.c!) : final(fp, h))) as unknown as Record<string, Tensor>;
    if (inter) {
      if (f.adaLN) inter.set("final.adaLN", f.adaLN);
      inter.set("final.out", f.final_out!);
    }
    return f.out!;
  }

  /**
   * forward_with_cfg: the batch is [conditional half; unconditional half]. As
   * the official code, only x's first half is used (for both halves), and
   * guidance eps = uncond + s·(cond − uncond) is applied to the first 3
   * channels ("official") or to all latent channels ("standard"). Returns the
   * same shape as forward.
   */
  async forwardWithCfg(x: Tensor, t: Tensor, y: Tensor, scale: number, mode: CfgMode = "official", opts: ForwardOptions = {}): Promise<Tensor> {
    const N2 = x.shape[0]!;
    if (N2 % 2 !== 0) throw new Error(`forwardWithCfg: batch must be even (conditional + unconditional halves), got ${N2}`);
    const out = await this.forward(duplicateFirstHalf(x), t, y, opts);
    return applyGuidance(out, scale, mode === "official" ? 3 : this.config.inChannels);
  }

  /** Release compiled sessions. */
  async dispose(): Promise<void> {
    for (const f of [this.embedFn, this.blockFn, this.tappedBlockFn, this.finalFn]) await f?.dispose();
    for (const s of this.wholeSessions.values()) await (await s).release();
    this.wholeSessions.clear();
  }
}

/** cat(x[:n], x[:n]) for a (2n, …) batch: the official forward_with_cfg ignores x's second half. */
export function duplicateFirstHalf(x: Tensor): Tensor {
  const half = x.shape[0]! / 2;
  const plane = x.data.length / x.shape[0]!;
  const src = x.data as Float32Array;
  const out = new Float32Array(src.length);
  out.set(src.subarray(0, half * plane), 0);
  out.set(src.subarray(0, half * plane), half * plane);
  return new Tensor(out, x.shape);
}

/**
 * Guidance on the first `guided` channels of a (2n, C_out, H, W) output:
 * both halves get uncond + s·(cond − uncond) (float32 arithmetic, as PyTorch).
 */
export function applyGuidance(out: Tensor, scale: number, guided: number): Tensor {
  const [N2, Co, H, W] = out.shape as [number, number, number, number];
  const half = N2 / 2;
  const plane = H * W;
  const src = out.data as Float32Array;
  const res = new Float32Array(src);
  const s = Math.fround(scale);
  for (let n = 0; n < half; n++) {
    for (let ch = 0; ch < Math.min(guided, Co); ch++) {
      const a = (n * Co + ch) * plane;
      const b = ((n + half) * Co + ch) * plane;
      for (let i = 0; i < plane; i++) {
        const cond = src[a + i]!;
        const uncond = src[b + i]!;
        const g = Math.fround(uncond + Math.fround(s * Math.fround(cond - uncond)));
        res[a + i] = g;
        res[b + i] = g;
      }
    }
  }
  return new Tensor(res, out.shape);
}

/** The conditioning tokens of cross-attention and in-context models: [t_emb, y_emb] as (N, k, D). */
function conditionTokens(e: Record<string, Tensor>): Tensor {
  const tEmb = e.t_emb!;
  const [N, D] = tEmb.shape as [number, number];
  const parts = e.y_emb ? [tEmb, e.y_emb] : [tEmb];
  const out = new Float32Array(N * parts.length * D);
  for (let n = 0; n < N; n++) parts.forEach((p, k) => out.set((p.data as Float32Array).subarray(n * D, (n + 1) * D), (n * parts.length + k) * D));
  return new Tensor(out, [N, parts.length, D]);
}

function concatTokens(x: Tensor, cond: Tensor): Tensor {
  const [N, T, D] = x.shape as [number, number, number];
  const k = cond.shape[1]!;
  const out = new Float32Array(N * (T + k) * D);
  for (let n = 0; n < N; n++) {
    out.set((x.data as Float32Array).subarray(n * T * D, (n + 1) * T * D), n * (T + k) * D);
    out.set((cond.data as Float32Array).subarray(n * k * D, (n + 1) * k * D), (n * (T + k) + T) * D);
  }
  return new Tensor(out, [N, T + k, D]);
}

function dropTokens(x: Tensor, k: number): Tensor {
  const [N, S, D] = x.shape as [number, number, number];
  const T = S - k;
  const out = new Float32Array(N * T * D);
  for (let n = 0; n < N; n++) out.set((x.data as Float32Array).subarray(n * S * D, (n * S + T) * D), n * T * D);
  return new Tensor(out, [N, T, D]);
}

function checkInputs(c: DiTConfig, x: Tensor, t: Tensor, y?: Tensor): number {
  const want = `(N, ${c.inChannels}, ${c.inputSize}, ${c.inputSize})`;
  if (x.shape.length !== 4 || x.shape[1] !== c.inChannels || x.shape[2] !== c.inputSize || x.shape[3] !== c.inputSize || x.dtype !== "float32") {
    throw new Error(`forward: x must be float32 ${want}, got ${x.dtype}[${x.shape}]`);
  }
  const N = x.shape[0]!;
  if (t.shape.length !== 1 || t.shape[0] !== N || (t.dtype !== "float32" && t.dtype !== "int32")) {
    throw new Error(`forward: t must be float32 or int32 (${N}), got ${t.dtype}[${t.shape}]`);
  }
  if (isConditional(c)) {
    if (!y || y.shape.length !== 1 || y.shape[0] !== N || y.dtype !== "int32") {
      throw new Error(`forward: y must be int32 (${N}) labels, got ${y ? `${y.dtype}[${y.shape}]` : "none"}`);
    }
    const rows = c.numClasses + (c.classDropoutProb > 0 ? 1 : 0);
    for (const v of y.data as Int32Array) {
      if (v < 0 || v >= rows) throw new RangeError(`forward: label ${v} out of range: the label table has ${rows} rows (0..${rows - 1}${rows > c.numClasses ? `, ${c.numClasses} = null class` : ""})`);
    }
  }
  return N;
}

/** One error listing every missing, unexpected or mis-shaped key. */
export function checkStateDict(c: DiTConfig, weights: StateDict): void {
  const want = paramShapes(c);
  const missing: string[] = [];
  const shape: string[] = [];
  for (const [k, s] of want) {
    const w = weights.get(k);
    if (!w) missing.push(k);
    else if (w.shape.length !== s.length || w.shape.some((d, i) => d !== s[i])) shape.push(`${k}: expected [${s}], got [${w.shape}]`);
    else if (w.dtype !== "float32") shape.push(`${k}: expected float32, got ${w.dtype}`);
  }
  const unexpected = [...weights.keys()].filter((k) => !want.has(k));
  if (missing.length || unexpected.length || shape.length) {
    const parts = [];
    if (missing.length) parts.push(`missing keys (${missing.length}): ${missing.join(", ")}`);
    if (unexpected.length) parts.push(`unexpected keys (${unexpected.length}): ${unexpected.join(", ")}`);
    if (shape.length) parts.push(`mis-shaped keys (${shape.length}): ${shape.join("; ")}`);
    throw new Error(`state dict does not match the DiT config:\n  ${parts.join("\n  ")}`);
  }
}

