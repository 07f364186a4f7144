/**
 * `DiT`: a DiT with weights in host memory, run on ONNX Runtime either as one
 * graph with the weights baked in, or stage by stage (dit.ts): embed, one
 * compiled block graph reused for every layer (fed that layer's weights), final.
 *
 * Weights stay in typed arrays (a DiT-XL/2 is 2.7 GB, too big for jax-js's
 * 4 GiB Wasm heap when doubled) and go to ONNX Runtime as inputs, so one
 * block graph serves all layers and memory holds one block's activations.
 */
import { tree, type Array, type JsTree } from "@jax-js/jax";
import { DitError } from "../errors.js";
import { subtree, type StateDict } from "../io/state-dict-tree.js";
import { compile, lowerFunction, type CompiledFunction } from "../runtime/compile.js";
import { eager } from "../runtime/eager.js";
import type { Graph } from "../runtime/onnx-graph.js";
import { Session } from "../runtime/session.js";
import { Tensor, TensorSpec, spec } from "../runtime/tensor.js";
import type { BlockParams } from "./blocks.js";
import { isConditional, validateConfig, type DiTConfig } from "./config.js";
import { blockInputs, blockStage, ditForward, embedStage, finalStage, usesAdaLN, type DiTParams, type EmbedParams, type FinalParams } from "./dit.js";
import { timestepFrequencies } from "./embeddings.js";
import { forwardWithCfg, type CfgMode } from "./guidance.js";
import { checkStateDict } from "./params.js";

/** Activations of one forward pass, named as in the parity fixtures (`inter.*`). */
export type Intermediates = Map<string, Tensor>;

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
    const adaLN = usesAdaLN(c);
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
      (adaLN
        ? (p: FinalParams, x: Array, cond: Array) => finalStage(c, p, x, cond)
        : (p: FinalParams, x: Array) => finalStage(c, p, x, null)) as never,
    );
    return { embed: this.embedFn, block: this.blockFn, tappedBlock: this.tappedBlockFn, final: this.finalFn, conditional, adaLN };
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
        session = lowerWholeModel(c, this.weights, N).then((g) => Session.create(g.encode(), { spinning: true }));
        this.wholeSessions.set(N, session);
        session.catch(() => this.wholeSessions.delete(N));
      }
      const [out] = await (await session).run(isConditional(c) ? [x, tf, y!] : [x, tf]);
      for (let i = 0; i < c.depth; i++) opts.onBlock?.(i, c.depth); // one graph: every block is done at once
      return out!;
    }
    const { embed, block, tappedBlock, final, conditional, adaLN } = this.stages();
    const freqs = new Tensor(this.freqs, [this.freqs.length]);
    const root = subtree(this.weights, "") as Record<string, JsTree<Tensor>>;
    const ep = { x_embedder: root.x_embedder!, pos_embed: root.pos_embed!, t_embedder: root.t_embedder!, ...(conditional ? { y_embedder: root.y_embedder! } : {}) };
    const e = (await (conditional ? embed(ep, x, tf, freqs, y!) : embed(ep, x, tf, freqs))) as unknown as Record<string, Tensor>;
    const inter = opts.intermediates;
    if (inter) for (const [k, v] of Object.entries(e)) if (k !== "h" && k !== "cond") inter.set(k, v);

    const inputs = blockInputs(e);
    let h = inputs.h; // (N, T, D), in-context (N, T + k, D)
    const cond = inputs.cond; // (N, D), or tokens (N, k, D)
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
    const fp = { final_layer: root.final_layer! };
    const f = (await (adaLN ? final(fp, h, cond) : final(fp, h))) as unknown as Record<string, Tensor>;
    if (inter) {
      if (f.adaLN) inter.set("final.adaLN", f.adaLN);
      inter.set("final.out", f.final_out!);
    }
    return f.out!;
  }

  /**
   * forward_with_cfg: the batch is [conditional half; unconditional half]; see
   * `forwardWithCfg` in guidance.ts. Returns the same shape as forward.
   */
  forwardWithCfg(x: Tensor, t: Tensor, y: Tensor, scale: number, mode: CfgMode = "official", opts: ForwardOptions = {}): Promise<Tensor> {
    return forwardWithCfg(this, x, t, y, scale, mode, opts);
  }

  /** Release compiled sessions. */
  async dispose(): Promise<void> {
    for (const f of [this.embedFn, this.blockFn, this.tappedBlockFn, this.finalFn]) await f?.dispose();
    for (const s of this.wholeSessions.values()) await (await s).release();
    this.wholeSessions.clear();
  }
}

/**
 * A whole DiT as one standalone ONNX graph: inputs x (N, C, H, W) float32,
 * t (N) float32, y (N) int32 (conditional models only); output `out`
 * (N, out_channels, H, W). Weights are baked in as initializers. Shapes are
 * static: the batch size is fixed here.
 */
export async function lowerWholeModel(config: DiTConfig, weights: StateDict, batch: number): Promise<Graph> {
  const params = subtree(weights, "");
  const [leaves, treedef] = tree.flatten(params);
  const paramSpecs = tree.unflatten(treedef, leaves.map((t) => t.spec)) as JsTree<TensorSpec>;
  const conditional = isConditional(config);
  const S = config.inputSize;
  const specs = [
    paramSpecs,
    spec([batch, config.inChannels, S, S]),
    spec([batch]),
    ...(conditional ? [spec([batch], "int32")] : []),
    spec([128]),
  ];
  const paramNames = leaves.map((_, i) => `param_${i}`);
  const ioNames = ["x", "t", ...(conditional ? ["y"] : []), "timestep_freqs"];
  const fn = conditional
    ? (p: DiTParams, x: Array, t: Array, y: Array, f: Array) => ditForward(config, p, x, t, y, f)
    : (p: DiTParams, x: Array, t: Array, f: Array) => ditForward(config, p, x, t, null, f);
  const { graph } = await lowerFunction(fn as never, specs as never, { inputs: [...paramNames, ...ioNames], outputs: ["out"] });
  const bound = new Map<string, { dtype: string; shape: number[]; data: Float32Array }>();
  leaves.forEach((t, i) => bound.set(paramNames[i]!, { dtype: "float32", shape: t.shape, data: t.data as Float32Array }));
  const freqs = timestepFrequencies();
  bound.set("timestep_freqs", { dtype: "float32", shape: [freqs.length], data: freqs });
  graph.bindInputs(bound);
  return graph;
}

/** Inputs to `DiT.forward` of the wrong dtype or shape for the model's config. */
export class ModelInputError extends DitError {
  override name = "ModelInputError";
}

function checkInputs(c: DiTConfig, x: Tensor, t: Tensor, y?: Tensor): number {
  const want = `(N, ${c.inChannels}, ${c.inputSize}, ${c.inputSize})`;
  if (x.shape.length !== 4 || x.shape[1] !== c.inChannels || x.shape[2] !== c.inputSize || x.shape[3] !== c.inputSize || x.dtype !== "float32") {
    throw new ModelInputError(`forward: x must be float32 ${want}, got ${x.dtype}[${x.shape}]`);
  }
  const N = x.shape[0]!;
  if (t.shape.length !== 1 || t.shape[0] !== N || (t.dtype !== "float32" && t.dtype !== "int32")) {
    throw new ModelInputError(`forward: t must be float32 or int32 (${N}), got ${t.dtype}[${t.shape}]`);
  }
  if (isConditional(c)) {
    if (!y || y.shape.length !== 1 || y.shape[0] !== N || y.dtype !== "int32") {
      throw new ModelInputError(`forward: y must be int32 (${N}) labels, got ${y ? `${y.dtype}[${y.shape}]` : "none"}`);
    }
    const rows = c.numClasses + (c.classDropoutProb > 0 ? 1 : 0);
    for (const v of y.data as Int32Array) {
      if (v < 0 || v >= rows) throw new RangeError(`forward: label ${v} out of range: the label table has ${rows} rows (0..${rows - 1}${rows > c.numClasses ? `, ${c.numClasses} = null class` : ""})`);
    }
  }
  return N;
}
