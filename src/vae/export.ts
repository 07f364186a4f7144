/**
 * A VAE decoder as one standalone ONNX graph, lowered the way `dit export`
 * lowers a DiT (`lowerWholeModel`): trace `decoderForward` with jax-js, lower
 * the jaxpr with the project's compiler, bind the weights as initializers.
 *
 * The graph: input `z` (N, latent_channels, h, w) float32 — unscaled latents,
 * i.e. DiT latents divided by the VAE's scaling factor, as `AutoencoderKL.decode`
 * takes them — and output `image` (N, out_channels, h·f, w·f), raw (no clamp).
 * Shapes are static: the batch and the latent side are fixed here.
 */
import { tree, type Array } from "@jax-js/jax";
import type { StateDict } from "../io/state-dict.js";
import { lowerFunction } from "../runtime/compile.js";
import type { Graph } from "../runtime/onnx-graph.js";
import { spec, type Tensor, type TensorSpec } from "../runtime/tensor.js";
import { AutoencoderKL, decoderForward, type DecoderParams } from "./autoencoder.js";
import type { VaeConfig } from "./config.js";
import type { ConvParams } from "./layers.js";
import { vaeParams } from "./weights.js";

/** The decoder's input and output names. */
export const VAE_DECODER_IO = { input: "z", output: "image" } as const;

/** Lower a VAE's decoder (post_quant_conv + decoder) for `batch` latents of side `latentSize`. */
export async function lowerVaeDecoder(config: VaeConfig, weights: StateDict, latentSize: number, batch: number): Promise<Graph> {
  if (!Number.isInteger(batch) || batch < 1) throw new RangeError(`lowerVaeDecoder: batch must be a positive integer, got ${batch}`);
  if (!Number.isInteger(latentSize) || latentSize < 1) throw new RangeError(`lowerVaeDecoder: latent size must be a positive integer, got ${latentSize}`);
  const vae = new AutoencoderKL(config, weights); // validates the config and the state dict, normalises key names
  const c = vae.config;
  const params = [vaeParams(vae.weights, "post_quant_conv."), vaeParams(vae.weights, "decoder.")];
  const [leaves, treedef] = tree.flatten(params);
  const tensors = leaves as Tensor[];
  const paramSpecs = tree.unflatten(treedef, tensors.map((t) => t.spec)) as TensorSpec[];
  const paramNames = tensors.map((_, i) => `param_${i}`);
  const fn = (ps: [ConvParams, DecoderParams], z: Array) => decoderForward(c, ps[0], ps[1], z);
  const { graph } = await lowerFunction(fn as never, [paramSpecs, spec([batch, c.latentChannels, latentSize, latentSize])] as never, {
    inputs: [...paramNames, VAE_DECODER_IO.input],
    outputs: [VAE_DECODER_IO.output],
  });
  const bound = new Map<string, { dtype: string; shape: number[]; data: Float32Array }>();
  tensors.forEach((t, i) => bound.set(paramNames[i]!, { dtype: "float32", shape: t.shape, data: t.data as Float32Array }));
  graph.bindInputs(bound);
  return graph;
}
