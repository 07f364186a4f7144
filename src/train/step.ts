/**
 * One training step of the official recipe as compiled jax-js functions:
 *
 *   loss = training_losses(model, x_0, t, y, ε)["loss"].mean()     (hybrid loss, learned σ)
 *   g    = ∇ loss                                                   (valueAndGrad)
 *   p, m, v ← AdamW(p, g, m, v)                                     (adamw.ts)
 *   ema  ← d·ema + (1 − d)·p
 *
 * `fusedStepFn` is all of it in one ONNX graph (what `train` runs when
 * there is one micro-batch per step); `gradStepFn` and `updateStepFn` split
 * it for gradient accumulation. pos_embed is a frozen sin-cos table: it is
 * an input of the loss, not a trained parameter, and its EMA is itself.
 */
import { numpy as np, tree, valueAndGrad, type Array, type JsTree } from "@jax-js/jax";
import { trainingLossTerms, type TrainingLossInputs } from "../diffusion/training-loss-fn.js";
import type { DiTConfig } from "../model/config.js";
import type { DiTParams } from "../model/dit.js";
import { adamwLeaf, emaLeaf, type StepScalars } from "./adamw.js";
import type { AdamWOptions } from "./state.js";

/** Trained parameters: every DiT parameter but pos_embed, nested at the dots of the official names. */
export type TrainParams = Omit<DiTParams, "pos_embed">;

/** What one step reports (per-sample mse and vb, (N)). */
export interface StepLosses<T> {
  loss: T;
  mse: T;
  vb: T;
}

/** (params, posEmbed, inputs, freqs) → [loss, {mse, vb}] for valueAndGrad with aux. */
function lossWithAux(config: DiTConfig) {
  return (p: TrainParams, posEmbed: Array, inp: TrainingLossInputs<Array>, freqs: Array): [Array, { mse: Array; vb: Array }] => {
    const { loss, mse, vb } = trainingLossTerms(config, p, posEmbed, inp, freqs);
    return [np.mean(loss), { mse, vb }];
  };
}

/** √(Σ g²) over every gradient leaf. */
function globalNorm(leaves: Array[]): Array {
  let sq: Array | undefined;
  for (const g of leaves) {
    const s = np.sum(g.ref.mul(g));
    sq = sq ? sq.add(s) : s;
  }
  return np.sqrt(sq!);
}

const refs = <T>(t: T): T => tree.map((a: Array) => a.ref, t as JsTree<Array>) as T;

/** AdamW + EMA over whole trees (params, grads, m, v, ema share one structure). */
function update(opts: AdamWOptions, params: TrainParams, grads: TrainParams, m: TrainParams, v: TrainParams, ema: TrainParams, s: StepScalars<Array>) {
  const [pl, def] = tree.flatten(params as unknown as JsTree<Array>);
  const [gl] = tree.flatten(grads as unknown as JsTree<Array>);
  const [ml] = tree.flatten(m as unknown as JsTree<Array>);
  const [vl] = tree.flatten(v as unknown as JsTree<Array>);
  const [el] = tree.flatten(ema as unknown as JsTree<Array>);
  const P: Array[] = [];
  const M: Array[] = [];
  const V: Array[] = [];
  const E: Array[] = [];
  pl.forEach((p, i) => {
    const [p2, m2, v2] = adamwLeaf(opts, s, p, gl[i]!, ml[i]!, vl[i]!);
    E.push(emaLeaf(s.emaDecay.ref, el[i]!, p2.ref));
    P.push(p2);
    M.push(m2);
    V.push(v2);
  });
  for (const k of ["stepSize", "bc2Sqrt", "decayFactor", "emaDecay"] as const) s[k].dispose();
  const un = (l: Array[]) => tree.unflatten(def, l) as unknown as TrainParams;
  return { params: un(P), m: un(M), v: un(V), ema: un(E) };
}

/**
 * The whole step in one graph:
 * (params, m, v, ema, posEmbed, inputs, freqs, scalars) →
 * { loss, mse, vb, gradNorm, params, m, v, ema }.
 */
export function fusedStepFn(config: DiTConfig, opts: AdamWOptions) {
  const vg = valueAndGrad(lossWithAux(config), { hasAux: true });
  return (params: TrainParams, m: TrainParams, v: TrainParams, ema: TrainParams, posEmbed: Array, inp: TrainingLossInputs<Array>, freqs: Array, s: StepScalars<Array>) => {
    const [[loss, aux], grads] = vg(refs(params), posEmbed, inp, freqs) as unknown as [[Array, { mse: Array; vb: Array }], TrainParams];
    const gradNorm = globalNorm(tree.flatten(refs(grads) as unknown as JsTree<Array>)[0]);
    return { loss, mse: aux.mse, vb: aux.vb, gradNorm, ...update(opts, params, grads, m, v, ema, s) };
  };
}

/** Loss and gradients of one micro-batch: (params, posEmbed, inputs, freqs) → { loss, mse, vb, grads }. */
export function gradStepFn(config: DiTConfig) {
  const vg = valueAndGrad(lossWithAux(config), { hasAux: true });
  return (params: TrainParams, posEmbed: Array, inp: TrainingLossInputs<Array>, freqs: Array) => {
    const [[loss, aux], grads] = vg(params, posEmbed, inp, freqs) as unknown as [[Array, { mse: Array; vb: Array }], TrainParams];
    return { loss, mse: aux.mse, vb: aux.vb, grads };
  };
}

/** The optimizer half: (params, grads, m, v, ema, scalars) → { gradNorm, params, m, v, ema }. */
export function updateStepFn(opts: AdamWOptions) {
  return (params: TrainParams, grads: TrainParams, m: TrainParams, v: TrainParams, ema: TrainParams, s: StepScalars<Array>) => {
    const gradNorm = globalNorm(tree.flatten(refs(grads) as unknown as JsTree<Array>)[0]);
    return { gradNorm, ...update(opts, params, grads, m, v, ema, s) };
  };
}
