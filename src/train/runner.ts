/**
 * Runs compiled training steps over a `TrainState` held in host memory:
 * the state dicts go in as graph inputs and the updated ones come back as
 * outputs (ONNX Runtime on CPU; jax-js eager as the test reference).
 */
import { treeLeaf } from "./adam.js";
import { stepScalars } from "./adamw.js";
import { fusedStepFn, gradStepFn, updateStepFn } from "./step.js";
import type { AdamWOptions, TrainState } from "./state.js";
import type { GaussianDiffusion } from "../diffusion/gaussian-diffusion.js";
import { trainingLossInputs } from "../diffusion/training-loss-fn.js";
import { subtree, type StateDict } from "../io/state-dict.js";
import type { DiTConfig } from "../model/config.js";
import { timestepFrequencies } from "../model/embeddings.js";
import { paramShapes } from "../model/params.js";
import { compile, type CompiledFunction, type TensorTree } from "../runtime/compile.js";
import { eager } from "../runtime/eager.js";
import { Tensor } from "../runtime/tensor.js";

/** One micro-batch: clean samples x_0 (N, C, H, W), timesteps, noise ε, labels after dropout (null class = num_classes). */
export interface MicroBatch {
  x: Tensor;
  t: Int32Array;
  noise: Tensor;
  y: Int32Array;
}

/** What a step reports: the batch-mean loss, mse and vb terms, and the global gradient norm. */
export interface StepStats {
  loss: number;
  mse: number;
  vb: number;
  gradNorm: number;
}

const scalar = (v: number) => new Tensor(Float32Array.of(v), []);
const mean = (t: Tensor) => (t.data as Float32Array).reduce((a, b) => a + b, 0) / t.data.length;

/** The names of the trained parameters (every parameter but the frozen pos_embed), in state-dict order. */
export function trainedNames(config: DiTConfig): string[] {
  return [...paramShapes(config).keys()].filter((k) => k !== "pos_embed");
}

/** A fresh optimizer state: zero moments, step 0. */
export function zeroMoments(model: StateDict, names: string[]): { expAvg: StateDict; expAvgSq: StateDict } {
  const z = () => new Map(names.map((k) => [k, new Tensor(new Float32Array(model.get(k)!.data.length), [...model.get(k)!.shape])]));
  return { expAvg: z(), expAvgSq: z() };
}

export class StepRunner {
  readonly names: string[];
  private fused?: CompiledFunction;
  private grad?: CompiledFunction;
  private upd?: CompiledFunction;
  private readonly build: typeof compile;
  private readonly freqs = new Tensor(timestepFrequencies(), [128]);

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
  }

  private tree(d: StateDict): TensorTree {
    return subtree(new Map(this.names.map((k) => [k, d.get(k)!])), "");
  }

  private inputs(b: MicroBatch) {
    const N = b.x.shape[0]!;
    return trainingLossInputs(this.diffusion, b.x, b.t, b.noise, new Tensor(Int32Array.from(b.y), [N]));
  }

  private store(target: StateDict, out: unknown): void {
    for (const k of this.names) target.set(k, treeLeaf(out, k));
  }

  /** One optimizer step over `micro` (gradients averaged over the micro-batches, as one batch of their union would give for equal sizes). */
  async step(micro: MicroBatch[], lr: number, emaDecay: number): Promise<StepStats> {
    if (micro.length === 0) throw new Error("StepRunner.step: no micro-batch");
    const s = this.state;
    const t = s.adam.step + 1;
    const sc = stepScalars(this.adamw, t, lr, emaDecay);
    const scalars = { stepSize: scalar(sc.stepSize), bc2Sqrt: scalar(sc.bc2Sqrt), decayFactor: scalar(sc.decayFactor), emaDecay: scalar(sc.emaDecay) };
    const pos = s.model.get("pos_embed")!;
    let out: Record<string, unknown>;
    let losses: { loss: number; mse: number; vb: number };
    if (micro.length === 1) {
      this.fused ??= this.build(fusedStepFn(this.config, this.adamw) as never);
      out = (await this.fused(this.tree(s.model), this.tree(s.adam.expAvg), this.tree(s.adam.expAvgSq), this.tree(s.ema), pos, this.inputs(micro[0]!) as never, this.freqs, scalars)) as Record<string, unknown>;
      losses = { loss: (out.loss as Tensor).data[0] as number, mse: mean(out.mse as Tensor), vb: mean(out.vb as Tensor) };
    } else {
      this.grad ??= this.build(gradStepFn(this.config) as never);
      this.upd ??= this.build(updateStepFn(this.adamw) as never);
      const sum = new Map<string, Float32Array>();
      losses = { loss: 0, mse: 0, vb: 0 };
      for (const b of micro) {
        const r = (await this.grad(this.tree(s.model), pos, this.inputs(b) as never, this.freqs)) as Record<string, unknown>;
        losses.loss += ((r.loss as Tensor).data[0] as number) / micro.length;
        losses.mse += mean(r.mse as Tensor) / micro.length;
        losses.vb += mean(r.vb as Tensor) / micro.length;
        for (const k of this.names) {
          const g = treeLeaf(r.grads, k).data as Float32Array;
          const acc = sum.get(k);
          if (!acc) sum.set(k, Float32Array.from(g));
          else for (let i = 0; i < g.length; i++) acc[i] = acc[i]! + g[i]!;
        }
      }
      const inv = 1 / micro.length;
      const grads = new Map<string, Tensor>();
      for (const k of this.names) {
        const a = sum.get(k)!;
        for (let i = 0; i < a.length; i++) a[i] = a[i]! * inv;
        grads.set(k, new Tensor(a, [...s.model.get(k)!.shape]));
      }
      out = (await this.upd(this.tree(s.model), this.tree(grads), this.tree(s.adam.expAvg), this.tree(s.adam.expAvgSq), this.tree(s.ema), scalars)) as Record<string, unknown>;
    }
    this.store(s.model, out.params);
    this.store(s.adam.expAvg, out.m);
    this.store(s.adam.expAvgSq, out.v);
    this.store(s.ema, out.ema);
    s.adam.step = t;
    s.step += 1;
    return { ...losses, gradNorm: (out.gradNorm as Tensor).data[0] as number };
  }

  async dispose(): Promise<void> {
    for (const f of [this.fused, this.grad, this.upd]) await f?.dispose();
  }
}
