/**
 * Parameter names, shapes and the official initialisation, in typed arrays
 * (never in jax-js arrays: a DiT-XL/2 would not fit its Wasm heap twice).
 */
import type { StateDict } from "../io/state-dict-tree.js";
import { DitError } from "../errors.js";
import { Tensor } from "../runtime/tensor.js";
import { Rng } from "../util/rng.js";
import { blockParamShapes, type ParamTree } from "./blocks.js";
import { isConditional, outChannels, tokens, type DiTConfig } from "./config.js";
import { FREQUENCY_EMBEDDING_SIZE, sincosPosEmbed } from "./embeddings.js";

function flattenTree(t: ParamTree<number[]>, prefix: string, out: Map<string, number[]>): void {
  for (const [k, v] of Object.entries(t)) {
    if (Array.isArray(v)) out.set(prefix + k, v);
    else flattenTree(v, `${prefix}${k}.`, out);
  }
}

/** Official state-dict names and shapes, in the order of `model.state_dict()`. */
export function paramShapes(c: DiTConfig): Map<string, number[]> {
  const D = c.hiddenSize;
  const P = c.patchSize;
  const m = new Map<string, number[]>();
  m.set("pos_embed", [1, tokens(c), D]);
  m.set("x_embedder.proj.weight", [D, c.inChannels, P, P]);
  m.set("x_embedder.proj.bias", [D]);
  m.set("t_embedder.mlp.0.weight", [D, FREQUENCY_EMBEDDING_SIZE]);
  m.set("t_embedder.mlp.0.bias", [D]);
  m.set("t_embedder.mlp.2.weight", [D, D]);
  m.set("t_embedder.mlp.2.bias", [D]);
  if (isConditional(c)) m.set("y_embedder.embedding_table.weight", [c.numClasses + (c.classDropoutProb > 0 ? 1 : 0), D]);
  for (let i = 0; i < c.depth; i++) flattenTree(blockParamShapes(c.block, D, c.mlpRatio), `blocks.${i}.`, m);
  const Co = P * P * outChannels(c);
  m.set("final_layer.linear.weight", [Co, D]);
  m.set("final_layer.linear.bias", [Co]);
  if (c.block === "adaLN-Zero" || c.block === "adaLN") {
    m.set("final_layer.adaLN_modulation.1.weight", [2 * D, D]);
    m.set("final_layer.adaLN_modulation.1.bias", [2 * D]);
  }
  return m;
}

function xavierUniform(rng: Rng, fanOut: number, fanIn: number): Float32Array {
  const a = Math.sqrt(6 / (fanIn + fanOut));
  return rng.uniforms(fanOut * fanIn, -a, a);
}

/**
 * The official initialisation (`DiT.initialize_weights`), seeded:
 * xavier-uniform linears (patch conv as a linear) with zero biases, normal(0.02)
 * label table and timestep MLP, fixed sin-cos pos_embed, zero adaLN
 * modulation (so adaLN-Zero blocks start as the identity) and a zero output layer.
 * Variants without adaLN-Zero keep their output layer zero too, as the paper's
 * ablation initialises every design the same way.
 */
export function initParams(c: DiTConfig, seed = 0): Map<string, Tensor> {
  const rng = new Rng(seed);
  const out = new Map<string, Tensor>();
  const grid = c.inputSize / c.patchSize;
  for (const [name, shape] of paramShapes(c)) {
    const n = shape.reduce((a, b) => a * b, 1);
    let data: Float32Array;
    if (name === "pos_embed") {
      data = Float32Array.from(sincosPosEmbed(c.hiddenSize, grid));
    } else if (name === "x_embedder.proj.weight") {
      data = xavierUniform(rng, shape[0]!, n / shape[0]!);
    } else if (name === "y_embedder.embedding_table.weight" || /^t_embedder\.mlp\.[02]\.weight$/.test(name)) {
      data = rng.normals(n, 0.02);
    } else if (name.includes("adaLN_modulation") || name.startsWith("final_layer.linear")) {
      data = new Float32Array(n);
    } else if (name.endsWith(".weight") && shape.length === 2) {
      data = xavierUniform(rng, shape[0]!, shape[1]!);
    } else {
      data = new Float32Array(n); // biases
    }
    out.set(name, new Tensor(data, shape));
  }
  return out;
}

/**
 * Resize the label table for fine-tuning on a new number of classes: rows
 * that exist are kept, new rows are drawn from normal(0.02) as the official
 * init does; the null-class row (if any) stays last.
 */
export function resizeLabelTable(table: Tensor, oldClasses: number, newClasses: number, hasNull: boolean, seed = 0): Tensor {
  const [rows, D] = table.shape as [number, number];
  if (rows !== oldClasses + (hasNull ? 1 : 0)) {
    throw new Error(`label table has ${rows} rows; expected ${oldClasses + (hasNull ? 1 : 0)} for ${oldClasses} classes${hasNull ? " + null" : ""}`);
  }
  const rng = new Rng(seed);
  const src = table.data as Float32Array;
  const out = new Float32Array((newClasses + (hasNull ? 1 : 0)) * D);
  const keep = Math.min(oldClasses, newClasses);
  out.set(src.subarray(0, keep * D));
  if (newClasses > keep) out.set(rng.normals((newClasses - keep) * D, 0.02), keep * D);
  if (hasNull) out.set(src.subarray(oldClasses * D, (oldClasses + 1) * D), newClasses * D);
  return new Tensor(out, [newClasses + (hasNull ? 1 : 0), D]);
}

/** Weights that do not fit the DiT config: missing, unexpected, mis-shaped or non-float32 keys. */
export class ModelWeightsError extends DitError {
  override name = "ModelWeightsError";
}

/** One ModelWeightsError listing every missing, unexpected or mis-shaped key. */
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
    throw new ModelWeightsError(`state dict does not match the DiT config:\n  ${parts.join("\n  ")}`);
  }
}
