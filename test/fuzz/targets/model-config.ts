/**
 * Fuzz target: DiT model config JSON files (`readModelConfigFile` in src/sample/model-source.ts:
 * the forms of `configFromJson` in src/model/config.ts and a diffusers DiT config.json). A load
 * returns the validated config; sizes out of range (hidden 1e12, depth 1e9) must be refused
 * before anything is built. Lies in ../json-lies.ts.
 */
import { readModelConfigFile } from "../../../src/sample/model-source.js";
import { OFFICIAL_MODELS } from "../../../src/model/config.js";
import { jsonLie, jsonSeed } from "../json-lies.js";
import type { FuzzTarget } from "../target.js";

const target: FuzzTarget = {
  format: "model-config",
  ext: ".json",
  seeds: () => [
    jsonSeed("model-name", { model: "DiT-S/2", inputSize: 8, inChannels: 1, numClasses: 10, learnSigma: false }),
    jsonSeed("dit-kwargs", { name: "tiny", dit_kwargs: { input_size: 8, patch_size: 2, in_channels: 4, hidden_size: 64, depth: 2, num_heads: 4, mlp_ratio: 4.0, class_dropout_prob: 0.1, num_classes: 10, learn_sigma: true } }),
    jsonSeed("official-kwargs", { input_size: 32, patch_size: 4, hidden_size: 384, depth: 12, num_heads: 6, num_classes: 1000, block: "adaLN" }),
    jsonSeed("full", { inputSize: 16, patchSize: 2, inChannels: 4, hiddenSize: 128, depth: 3, numHeads: 4, mlpRatio: 4, classDropoutProb: 0.1, numClasses: 10, learnSigma: true, block: "cross-attention" }),
    jsonSeed("diffusers", { _class_name: "DiTTransformer2DModel", _diffusers_version: "0.30.0", sample_size: 32, patch_size: 2, in_channels: 4, out_channels: 8, num_attention_heads: 16, attention_head_dim: 72, num_layers: 28, num_embeds_ada_norm: 1000, norm_type: "ada_norm_zero" }),
  ],
  lie: (seed, rand) => jsonLie(seed, rand, [...OFFICIAL_MODELS, "adaLN-Zero", "in-context"]),
  load: (path) => readModelConfigFile(path),
};

export default target;
