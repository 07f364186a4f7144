/**
 * Parameter and forward-Gflop counts of a DiT, as the paper reports them.
 *
 * The paper's "Gflops" are fvcore's counts: multiply-accumulates of linear
 * layers and convolutions, of the two attention matmuls (QKᵀ and AV), plus one
 * per element of every LayerNorm. Embedding lookups, activations, softmax and
 * elementwise modulation are not counted.
 */
import { BLOCK_TYPES, ModelConfigError, OFFICIAL_MODELS, isConditional, officialConfig, outChannels, tokens, type BlockType, type DiTConfig } from "./config.js";

/** Linear layer parameters: weight + bias. */
const linear = (fanIn: number, fanOut: number) => fanIn * fanOut + fanOut;

/** Parameter count, including the frozen position embedding (as `model.parameters()` does). */
export function countParams(c: DiTConfig): number {
  const D = c.hiddenSize;
  const T = tokens(c);
  const H = c.mlpRatio * D;
  const P = c.patchSize;
  const patchEmbed = c.inChannels * P * P * D + D;
  const posEmbed = T * D;
  const timestep = linear(256, D) + linear(D, D);
  const labels = isConditional(c) ? (c.numClasses + (c.classDropoutProb > 0 ? 1 : 0)) * D : 0;
  let block = linear(D, 3 * D) + linear(D, D) + linear(D, H) + linear(H, D);
  if (c.block === "adaLN-Zero") block += linear(D, 6 * D);
  if (c.block === "adaLN") block += linear(D, 4 * D);
  if (c.block === "cross-attention") block += 4 * linear(D, D);
  const finalAdaLN = c.block === "adaLN-Zero" || c.block === "adaLN" ? linear(D, 2 * D) : 0;
  const final = finalAdaLN + linear(D, P * P * outChannels(c));
  return patchEmbed + posEmbed + timestep + labels + c.depth * block + final;
}

/** Forward multiply-accumulates for one sample (fvcore's "flops"). */
export function countMacs(c: DiTConfig): number {
  const D = c.hiddenSize;
  const T = tokens(c);
  const H = c.mlpRatio * D;
  const P = c.patchSize;
  // In-context conditioning appends the timestep and class tokens to the sequence.
  const S = c.block === "in-context" ? T + 2 : T;
  const patchEmbed = T * c.inChannels * P * P * D;
  const timestep = 256 * D + D * D;
  let block =
    2 * S * D + // two LayerNorms
    S * D * 3 * D + // qkv
    2 * S * S * D + // QKᵀ and AV
    S * D * D + // attention output projection
    2 * S * D * H; // MLP
  if (c.block === "adaLN-Zero") block += D * 6 * D;
  if (c.block === "adaLN") block += D * 4 * D;
  if (c.block === "cross-attention") {
    // queries from the T image tokens, keys/values from the 2 conditioning tokens
    block += T * D * D + 2 * 2 * D * D + 2 * T * 2 * D + T * D * D;
  }
  const finalAdaLN = c.block === "adaLN-Zero" || c.block === "adaLN" ? D * 2 * D : 0;
  const final = T * D + finalAdaLN + T * D * P * P * outChannels(c);
  return patchEmbed + timestep + c.depth * block + final;
}

/** Forward Gflops as the paper reports them (fvcore MACs / 1e9). */
export function gflops(c: DiTConfig): number {
  return countMacs(c) / 1e9;
}

export interface FlopsRow {
  model: string;
  block: BlockType;
  resolution: number;
  params: number;
  gflops: number;
}

/** One row per official model and conditioning block at a resolution (pixels; latent = resolution / 8): `dit flops`. */
export function flopsTable(resolution: number, models = OFFICIAL_MODELS, blocks = BLOCK_TYPES): FlopsRow[] {
  if (resolution % 8 !== 0) throw new ModelConfigError(`resolution must be a multiple of 8 (the VAE downsamples by 8), got ${resolution}`);
  const rows: FlopsRow[] = [];
  for (const model of models) {
    for (const block of blocks) rows.push(flopsRow(model, officialConfig(model, { block, inputSize: resolution / 8 })));
  }
  return rows;
}

/** The row of one config (resolution = 8 × its latent size; Gflops rounded to 3 decimals). */
export function flopsRow(model: string, c: DiTConfig): FlopsRow {
  return { model, block: c.block, resolution: c.inputSize * 8, params: countParams(c), gflops: Math.round(gflops(c) * 1000) / 1000 };
}
