/**
 * Fuzz target: VAE config JSON files (`readVaeConfigFile` in src/vae/load.ts, which
 * `resolveVaePath`, `loadVae` and the sampler's VAE source use): the config `dit vae-train`
 * writes (diffusersVaeConfig) and the SD VAE's diffusers config. Lies in ../json-lies.ts.
 */
import { SD_VAE_CONFIG } from "../../../src/vae/config.js";
import { readVaeConfigFile } from "../../../src/vae/load.js";
import { diffusersVaeConfig } from "../../../src/vae/train.js";
import { jsonLie, jsonSeed } from "../json-lies.js";
import type { FuzzTarget } from "../target.js";

const target: FuzzTarget = {
  format: "vae-config",
  ext: ".json",
  seeds: () => [
    jsonSeed("vae-train-tiny", diffusersVaeConfig({ inChannels: 1, outChannels: 1, blockOutChannels: [8, 8], layersPerBlock: 1, latentChannels: 4, normNumGroups: 4, scalingFactor: 0.75 }, 8)),
    jsonSeed("sd-vae", diffusersVaeConfig(SD_VAE_CONFIG, 256)),
    jsonSeed("minimal", { _class_name: "AutoencoderKL", block_out_channels: [32, 64], latent_channels: 4, norm_num_groups: 8 }),
  ],
  lie: (seed, rand) => jsonLie(seed, rand, ["AutoencoderKL", "DownEncoderBlock2D", "UpDecoderBlock2D", "silu"]),
  load: (path) => readVaeConfigFile(path),
};

export default target;
