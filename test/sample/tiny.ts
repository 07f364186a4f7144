/** A tiny random DiT + VAE saved in the bundled model's layout (dit.safetensors + vae/), for sampling tests. */
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { initParams, type DiTConfig, type DiTKwargs } from "../../src/index.js";
import { saveStateDict, type StateDict } from "../../src/io/state-dict.js";
import { Tensor } from "../../src/runtime/tensor.js";
import { Rng } from "../../src/util/rng.js";
import type { VaeConfig } from "../../src/vae/config.js";
import { initVaeParams } from "../../src/vae/init.js";
import { saveVae } from "../../src/vae/train.js";
import { configFromKwargs } from "../../src/model/config.js";

export const TINY_KWARGS: DiTKwargs = {
  input_size: 4, patch_size: 2, in_channels: 4, hidden_size: 32, depth: 1, num_heads: 2, num_classes: 3, class_dropout_prob: 0.1, learn_sigma: true, block: "adaLN-Zero",
};
export const TINY_CONFIG: DiTConfig = configFromKwargs(TINY_KWARGS);
export const TINY_CLASS_NAMES = ["T-shirt/top", "Trouser", "Sneaker"];
/** 2 levels: downsampling ×2, so 4×4 latents → 8×8 grayscale images. */
export const TINY_VAE: VaeConfig = { inChannels: 1, outChannels: 1, blockOutChannels: [8, 8], layersPerBlock: 1, latentChannels: 4, normNumGroups: 4, scalingFactor: 0.5 };

/** initParams with every non-fixed tensor replaced by small random values (so the output depends on x, t and y). */
export function tinyWeights(c: DiTConfig = TINY_CONFIG, seed = 1): StateDict {
  const rng = new Rng(seed);
  const w = initParams(c, seed);
  for (const [k, t] of w) if (k !== "pos_embed") w.set(k, new Tensor(rng.normals(t.data.length, 0.2), t.shape));
  return w;
}

/** Write `<dir>/dit.safetensors` (metadata config + class_names) and `<dir>/vae/`; returns dir. */
export function writeTinyModel(dir: string, opts: { vae?: VaeConfig; kwargs?: DiTKwargs; classNames?: string[] } = {}): string {
  mkdirSync(dir, { recursive: true });
  const kwargs = opts.kwargs ?? TINY_KWARGS;
  saveStateDict(join(dir, "dit.safetensors"), tinyWeights(configFromKwargs(kwargs)), { config: JSON.stringify(kwargs), class_names: JSON.stringify(opts.classNames ?? TINY_CLASS_NAMES) });
  const vc = opts.vae ?? TINY_VAE;
  saveVae(join(dir, "vae"), vc, initVaeParams(vc, 2), 8);
  return dir;
}
