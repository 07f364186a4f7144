/**
 * Export a whole DiT as one standalone ONNX graph: inputs x (N, C, H, W)
 * float32, t (N) float32, y (N) int32 (conditional models only); output
 * `out` (N, out_channels, H, W). Weights are baked in as initializers (ONNX
 * external data when over the protobuf limit). Shapes are static: the batch
 * size is fixed at export time.
 */
import { tree, type Array, type JsTree } from "@jax-js/jax";
import { lowerFunction } from "../runtime/compile.js";
import type { Graph } from "../runtime/onnx-graph.js";
import { saveOnnx, type SaveOptions } from "../runtime/save.js";
import { Tensor, TensorSpec, spec } from "../runtime/tensor.js";
import { isConditional, type DiTConfig } from "./config.js";
import { ditForward, subtree, type DiTParams, type StateDict } from "./dit.js";
import { timestepFrequencies } from "./embeddings.js";

export async function lowerWholeModel(config: DiTConfig, weights: StateDict, batch: number): Promise<Graph> {
  const params = subtree(weights, "") as JsTree<Tensor>;
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

/** Lower and save; returns the files written. */
export async function exportModel(config: DiTConfig, weights: StateDict, path: string, opts: SaveOptions & { batch?: number } = {}): Promise<string[]> {
  const graph = await lowerWholeModel(config, weights, opts.batch ?? 1);
  return saveOnnx(graph, path, { name: "dit", ...opts });
}
