/**
 * The training step block by block, with gradient checkpointing: the same
 * update as `StepRunner` (hybrid loss, backward, AdamW, EMA), but memory holds
 * the state (weights, Adam moments, EMA: host Float32Arrays), the block inputs
 * h₀ … h_L (N·T·D floats each) and ONE block's activations — what DiT-XL/2
 * needs to train in 24 GB. Every stage is a compiled graph; one graph serves
 * all layers (their weights are inputs):
 *
 *   forward   h₀, c = embed(x_t, t, y);  h_{i+1} = block(p_i, h_i, c)        keep every h_i
 *   head      loss, ∂/∂(p_final, h_L, c) of final + hybrid loss              (valueAndGrad)
 *   backward  for i = L−1 … 0: recompute block i from h_i and pull dh_{i+1}
 *             back to (dp_i, dh_i, dc_i) (vjp); dc is summed on the host
 *   embed     vjp of the embed stage → x/t/y embedder gradients (pos_embed frozen)
 *   update    AdamW + EMA per group (embed, each block, final) as soon as its
 *             gradient is complete; each group's Σg² comes out of the graph,
 *             so the gradient norm never needs all gradients at once.
 *
 * For cross-attention models c is the conditioning tokens (N, k, D); in-context
 * models carry them inside h (N, T + k, D) and have no separate c.
 */
import { numpy as np, tree, valueAndGrad, vjp, type Array, type JsTree } from "@jax-js/jax";
import type { GaussianDiffusion } from "../diffusion/gaussian-diffusion.js";
import { hybridLossTerms, trainingLossInputs, type TrainingLossInputs } from "../diffusion/training-loss-fn.js";
import { subtree, type StateDict } from "../io/state-dict.js";
import type { BlockParams } from "../model/blocks.js";
import { isConditional, type DiTConfig } from "../model/config.js";
import { blockInputs, blockStage, embedStage, finalStage, usesAdaLN, type EmbedParams, type FinalParams } from "../model/dit.js";
import { timestepFrequencies } from "../model/embeddings.js";
import { compile, type CompiledFunction, type TensorTree } from "../runtime/compile.js";
import { eager } from "../runtime/eager.js";
import { Tensor } from "../runtime/tensor.js";
import { treeLeaf } from "./adam.js";
import { adamwLeaf, emaLeaf, stepScalars, type StepScalars } from "./adamw.js";
import { trainedNames, type MicroBatch, type StepStats } from "./runner.js";
import type { AdamWOptions, TrainState } from "./state.js";

/** A parameter group updated together: official names, and the prefix stripped to form its tree. */
interface Group {
  names: string[];
  prefix: string;
}

type Inputs = TrainingLossInputs<Array>;
type HeadInputs = Omit<Inputs, "tModel" | "y">;
type Out = Record<string, Tensor>;

const scalar = (v: number) => new Tensor(Float32Array.of(v), []);
const mean = (t: Tensor) => (t.data as Float32Array).reduce((a, b) => a + b, 0) / t.data.length;
const flat = (t: unknown) => tree.flatten(t as JsTree<Array>)[0];

/** a += b, elementwise (host float32, as the fused path's gradient accumulation). */
function addInto(a: Float32Array, b: Float32Array): void {
  for (let i = 0; i < a.length; i++) a[i] = a[i]! + b[i]!;
}

// ---------------------------------------------------------------------------
// The stage functions (jax-js; compiled once each)
// ---------------------------------------------------------------------------

/** The embed stage as the blocks see it: { h (N, T, D) or (N, T + k, D), cond? }; in-context has no cond. */
function embedOut(c: DiTConfig, p: Omit<EmbedParams, "pos_embed">, pos: Array, x: Array, t: Array, y: Array | null, freqs: Array): { h: Array; cond?: Array } {
  const e = embedStage(c, { ...p, pos_embed: pos }, x, t, y, freqs);
  const { h, cond } = blockInputs(e);
  for (const v of Object.values(e)) if (v !== h && v !== cond) v.dispose();
  if (c.block === "in-context") {
    cond.dispose(); // the conditioning tokens are already inside h
    return { h };
  }
  return { h, cond };
}

/** One block; in-context blocks take no cond. */
function block(c: DiTConfig, p: BlockParams, h: Array, cond: Array | undefined): Array {
  return blockStage(c, p, h, cond as Array); // (N, T, D)
}

/** Final layer + hybrid loss → [mean loss, { mse, vb }] (per sample, (N)). */
function headLoss(c: DiTConfig, p: FinalParams, h: Array, cond: Array | null, inp: HeadInputs): [Array, { mse: Array; vb: Array }] {
  const f = finalStage(c, p, h, cond);
  f.adaLN?.dispose();
  f.final_out!.dispose();
  const { loss, mse, vb } = hybridLossTerms(c, f.out!, inp);
  return [np.mean(loss), { mse, vb }];
}

/** AdamW + EMA over one group's trees, and the group's Σ g². */
function groupUpdateFn(opts: AdamWOptions) {
  return (params: JsTree<Array>, grads: JsTree<Array>, m: JsTree<Array>, v: JsTree<Array>, ema: JsTree<Array>, s: StepScalars<Array>) => {
    const [pl, def] = tree.flatten(params);
    const [gl, ml, vl, el] = [flat(grads), flat(m), flat(v), flat(ema)];
    const P: Array[] = [];
    const M: Array[] = [];
    const V: Array[] = [];
    const E: Array[] = [];
    let sq: Array | undefined;
    pl.forEach((p, i) => {
      const g = gl[i]!;
      const s2 = np.sum(g.ref.mul(g.ref));
      sq = sq ? sq.add(s2) : s2;
      const [p2, m2, v2] = adamwLeaf(opts, s, p, g, ml[i]!, vl[i]!);
      E.push(emaLeaf(s.emaDecay.ref, el[i]!, p2.ref));
      P.push(p2);
      M.push(m2);
      V.push(v2);
    });
    for (const k of ["stepSize", "bc2Sqrt", "decayFactor", "emaDecay"] as const) s[k].dispose();
    const un = (l: Array[]) => tree.unflatten(def, l);
    return { sq: sq!, params: un(P), m: un(M), v: un(V), ema: un(E) };
  };
}

// ---------------------------------------------------------------------------
// The runner
// ---------------------------------------------------------------------------

/**
 * `StepRunner`'s interface and update, run stage by stage (see the module
 * comment). Use it when the fused graph would not fit in memory.
 */
export class StagedStepRunner {
  readonly names: string[];
  private readonly build: typeof compile;
  private readonly freqs = new Tensor(timestepFrequencies(), [128]);
  private readonly fns: CompiledFunction[] = [];
  private readonly groups: { embed: Group; blocks: Group[]; final: Group };
  private readonly conditional: boolean;
  private readonly adaLN: boolean;
  /** Whether blocks take a separate cond (adaLN, adaLN-Zero, cross-attention). */
  private readonly hasCond: boolean;
  private embedFwd?: CompiledFunction;
  private embedBwd?: CompiledFunction;
  private blockFwd?: CompiledFunction;
  private blockBwd?: CompiledFunction;
  private head?: CompiledFunction;
  private upd?: CompiledFunction;

  constructor(
    readonly config: DiTConfig,
    readonly diffusion: GaussianDiffusion,
    readonly adamw: AdamWOptions,
    /** Updated in place: its maps get the new tensors after every step. */
    readonly state: TrainState,
    opts: { backend?: "onnx" | "eager" } = {},
  ) {
    this.names = trainedNames(config);
    this.build = opts.backend === "eager" ? (eager as typeof compile) : compile;
    this.conditional = isConditional(config);
    this.adaLN = usesAdaLN(config);
    this.hasCond = config.block !== "in-context";
    const under = (p: string) => this.names.filter((k) => k.startsWith(p));
    const blocks: Group[] = [];
    for (let i = 0; i < config.depth; i++) blocks.push({ names: under(`blocks.${i}.`), prefix: `blocks.${i}.` });
    this.groups = { embed: { names: this.names.filter((k) => /^(x|t|y)_embedder\./.test(k)), prefix: "" }, blocks, final: { names: under("final_layer."), prefix: "" } };
    const grouped = this.groups.embed.names.length + this.groups.final.names.length + this.groups.blocks.reduce((s, g) => s + g.names.length, 0);
    if (grouped !== this.names.length) throw new Error(`StagedStepRunner: ${this.names.length - grouped} trained parameters belong to no stage`);
  }

  private fn(f: (...args: never[]) => unknown): CompiledFunction {
    const c = this.build(f);
    this.fns.push(c);
    return c;
  }

  /** The compiled stages, built on first use. */
  private stages() {
    const c = this.config;
    const y = (a: Array[]) => (this.conditional ? a[0]! : null);
    this.embedFwd ??= this.fn(((p: Omit<EmbedParams, "pos_embed">, pos: Array, x: Array, t: Array, freqs: Array, ...rest: Array[]) => embedOut(c, p, pos, x, t, y(rest), freqs)) as never);
    // (p, pos, x, t, freqs, [y], dh, [dcond]) → dp: the embed stage's vjp w.r.t. its parameters
    this.embedBwd ??= this.fn(((p: Omit<EmbedParams, "pos_embed">, pos: Array, x: Array, t: Array, freqs: Array, ...rest: Array[]) => {
      const yy = y(rest);
      const [dh, dcond] = this.conditional ? rest.slice(1) : rest;
      const [out, back] = vjp((q: Omit<EmbedParams, "pos_embed">) => embedOut(c, q, pos, x, t, yy, freqs), [p]);
      for (const v of Object.values(out)) v.dispose();
      const [dp] = back(this.hasCond ? { h: dh!, cond: dcond! } : { h: dh! });
      back.dispose();
      return dp;
    }) as never);
    if (this.hasCond) {
      this.blockFwd ??= this.fn(((p: BlockParams, h: Array, cond: Array) => block(c, p, h, cond)) as never);
      this.blockBwd ??= this.fn(((p: BlockParams, h: Array, cond: Array, dOut: Array) => {
        const [out, back] = vjp((q: BlockParams, x: Array, k: Array) => block(c, q, x, k), [p, h, cond]);
        out.dispose();
        const [dp, dh, dcond] = back(dOut);
        back.dispose();
        return { dp, dh, dcond };
      }) as never);
    } else {
      this.blockFwd ??= this.fn(((p: BlockParams, h: Array) => block(c, p, h, undefined)) as never);
      this.blockBwd ??= this.fn(((p: BlockParams, h: Array, dOut: Array) => {
        const [out, back] = vjp((q: BlockParams, x: Array) => block(c, q, x, undefined), [p, h]);
        out.dispose();
        const [dp, dh] = back(dOut);
        back.dispose();
        return { dp, dh };
      }) as never);
    }
    if (this.adaLN) {
      const vg = valueAndGrad((p: FinalParams, h: Array, cond: Array, inp: HeadInputs) => headLoss(c, p, h, cond, inp), { argnums: [0, 1, 2], hasAux: true });
      this.head ??= this.fn(((p: FinalParams, h: Array, cond: Array, inp: HeadInputs) => {
        const [[loss, aux], [dp, dh, dcond]] = vg(p, h, cond, inp) as unknown as [[Array, { mse: Array; vb: Array }], [FinalParams, Array, Array]];
        return { loss, mse: aux.mse, vb: aux.vb, dp, dh, dcond };
      }) as never);
    } else {
      const vg = valueAndGrad((p: FinalParams, h: Array, inp: HeadInputs) => headLoss(c, p, h, null, inp), { argnums: [0, 1], hasAux: true });
      this.head ??= this.fn(((p: FinalParams, h: Array, inp: HeadInputs) => {
        const [[loss, aux], [dp, dh]] = vg(p, h, inp) as unknown as [[Array, { mse: Array; vb: Array }], [FinalParams, Array]];
        return { loss, mse: aux.mse, vb: aux.vb, dp, dh };
      }) as never);
    }
    this.upd ??= this.fn(groupUpdateFn(this.adamw) as never);
    return { embedFwd: this.embedFwd, embedBwd: this.embedBwd, blockFwd: this.blockFwd, blockBwd: this.blockBwd, head: this.head, upd: this.upd };
  }

  /** A group's tensors of a state dict as a tree (prefix stripped). */
  private tree(d: StateDict, g: Group): TensorTree {
    return subtree(new Map(g.names.map((k) => [k.slice(g.prefix.length), d.get(k)!])), "");
  }

  /** One optimizer step over `micro` (gradients averaged over the micro-batches, as `StepRunner.step`). */
  async step(micro: MicroBatch[], lr: number, emaDecay: number): Promise<StepStats> {
    if (micro.length === 0) throw new Error("StagedStepRunner.step: no micro-batch");
    const s = this.state;
    const t = s.adam.step + 1;
    const sc = stepScalars(this.adamw, t, lr, emaDecay);
    const scalars = () => ({ stepSize: scalar(sc.stepSize), bc2Sqrt: scalar(sc.bc2Sqrt), decayFactor: scalar(sc.decayFactor), emaDecay: scalar(sc.emaDecay) });
    const f = this.stages();
    const losses = { loss: 0, mse: 0, vb: 0 };
    let sqNorm = 0;
    /** Gradient sums of the micro-batches before the last (gradient accumulation only). */
    const sums = new Map<string, Float32Array>();
    const inv = 1 / micro.length;

    /** Take a group's gradient (a tree, prefix stripped) from micro-batch `j`: sum it, or on the last micro-batch update the group. */
    const gradOf = async (g: Group, dp: unknown, j: number): Promise<void> => {
      if (j < micro.length - 1) {
        for (const k of g.names) {
          const d = treeLeaf(dp, k.slice(g.prefix.length)).data as Float32Array;
          const acc = sums.get(k);
          if (acc) addInto(acc, d);
          else sums.set(k, Float32Array.from(d));
        }
        return;
      }
      let grads = dp as TensorTree;
      if (micro.length > 1) {
        const total = new Map<string, Tensor>();
        for (const k of g.names) {
          const acc = sums.get(k)!;
          addInto(acc, treeLeaf(dp, k.slice(g.prefix.length)).data as Float32Array);
          for (let i = 0; i < acc.length; i++) acc[i] = acc[i]! * inv;
          total.set(k, new Tensor(acc, [...s.model.get(k)!.shape]));
          sums.delete(k);
        }
        grads = this.tree(total, g);
      }
      const out = (await f.upd(this.tree(s.model, g), grads, this.tree(s.adam.expAvg, g), this.tree(s.adam.expAvgSq, g), this.tree(s.ema, g), scalars())) as Out & Record<string, unknown>;
      sqNorm += out.sq!.data[0] as number;
      for (const k of g.names) {
        const r = k.slice(g.prefix.length);
        s.model.set(k, treeLeaf(out.params, r));
        s.adam.expAvg.set(k, treeLeaf(out.m, r));
        s.adam.expAvgSq.set(k, treeLeaf(out.v, r));
        s.ema.set(k, treeLeaf(out.ema, r));
      }
    };

    const pos = s.model.get("pos_embed")!;
    for (let j = 0; j < micro.length; j++) {
      const b = micro[j]!;
      const N = b.x.shape[0]!;
      const inp = trainingLossInputs(this.diffusion, b.x, b.t, b.noise, new Tensor(Int32Array.from(b.y), [N]));
      const { tModel, y, ...headInp } = inp;
      const embedArgs: TensorTree[] = [this.tree(s.model, this.groups.embed), pos, inp.xT, tModel, this.freqs, ...(this.conditional ? [y] : [])];

      // forward, keeping every block input h_i
      const e = (await f.embedFwd(...embedArgs)) as Out;
      const cond = e.cond; // (N, D) or (N, k, D); none for in-context
      const hs: Tensor[] = [e.h!]; // (N, T, D)
      for (const g of this.groups.blocks) {
        const bp = this.tree(s.model, g);
        hs.push((await (cond ? f.blockFwd(bp, hs[hs.length - 1]!, cond) : f.blockFwd(bp, hs[hs.length - 1]!))) as Tensor);
      }

      // head: loss and its gradients w.r.t. the final layer, h_L and c
      const fp = this.tree(s.model, this.groups.final);
      const hL = hs.pop()!;
      const r = (await (this.adaLN ? f.head(fp, hL, cond!, headInp as never) : f.head(fp, hL, headInp as never))) as Out & { dp: unknown };
      losses.loss += (r.loss!.data[0] as number) / micro.length;
      losses.mse += mean(r.mse!) / micro.length;
      losses.vb += mean(r.vb!) / micro.length;
      const dcond = cond && (r.dcond ? Float32Array.from(r.dcond.data as Float32Array) : new Float32Array(cond.data.length));
      let dh = r.dh!;
      await gradOf(this.groups.final, r.dp, j);

      // backward, recomputing each block from its input
      for (let i = this.config.depth - 1; i >= 0; i--) {
        const g = this.groups.blocks[i]!;
        const h = hs.pop()!;
        const bp = this.tree(s.model, g);
        const o = (await (cond ? f.blockBwd(bp, h, cond, dh) : f.blockBwd(bp, h, dh))) as Out & { dp: unknown };
        dh = o.dh!;
        if (dcond) addInto(dcond, o.dcond!.data as Float32Array);
        await gradOf(g, o.dp, j);
      }

      // the embed stage's parameters (pos_embed is frozen)
      const dEmbed = await f.embedBwd(...embedArgs, dh, ...(cond ? [new Tensor(dcond!, [...cond.shape])] : []));
      await gradOf(this.groups.embed, dEmbed, j);
    }
    s.adam.step = t;
    s.step += 1;
    return { ...losses, gradNorm: Math.sqrt(sqNorm) };
  }

  async dispose(): Promise<void> {
    for (const f of this.fns) await f.dispose();
    this.fns.length = 0;
  }
}
