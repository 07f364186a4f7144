/**
 * Where `sample()` gets its VAE: "none" (a pixel-space model), a folder
 * (`config.json` + `vae.safetensors` as `dit vae-train` writes, or a diffusers
 * `diffusion_pytorch_model.safetensors`), a weights file (diffusers or
 * CompVis names; its config from a `config.json` beside it, else the SD VAE's),
 * or a VAE in memory.
 */
import { existsSync, statSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { readJsonObjectFile } from "../io/json-file.js";
import type { StateDict } from "../io/state-dict.js";
import { SD_VAE_CONFIG, type VaeConfig } from "../vae/config.js";
import { readVaeConfigFile, VaeLoadError, vaeConfigFromJson } from "../vae/load.js";
import { loadVaeStateDict } from "../vae/weights.js";
import { SampleError } from "./errors.js";

export interface InMemoryVae {
  config: VaeConfig;
  /** diffusers names. */
  weights: StateDict;
}

/** "none", a path, or a VAE in memory. */
export type VaeSource = "none" | string | InMemoryVae;

export interface LoadedVae extends InMemoryVae {
  path?: string;
}

/** Load a VAE source; null for "none" (pixel space). */
export function loadVaeSource(src: VaeSource): LoadedVae | null {
  if (src === "none") return null;
  if (typeof src !== "string") return src;
  const path = resolve(src);
  if (!existsSync(path)) throw new SampleError(`VAE ${src} does not exist`);
  if (statSync(path).isDirectory()) {
    const file = ["vae.safetensors", "diffusion_pytorch_model.safetensors", "diffusion_pytorch_model.bin"].map((n) => join(path, n)).find((p) => existsSync(p));
    if (!file) throw new SampleError(`VAE folder ${src} holds no vae.safetensors or diffusion_pytorch_model.safetensors`);
    const cfg = join(path, "config.json");
    if (!existsSync(cfg)) throw new SampleError(`VAE folder ${src} has no config.json`);
    return { config: readVaeConfigFile(cfg), weights: loadVaeStateDict(file), path: file };
  }
  // a config.json beside the file counts when it describes an AutoencoderKL
  const cfgPath = join(dirname(path), "config.json");
  let config = SD_VAE_CONFIG;
  if (existsSync(cfgPath)) {
    const json = readJsonObjectFile(cfgPath, "config", (m, cause) => new VaeLoadError(m, { cause }));
    if (json._class_name === "AutoencoderKL" || "latent_channels" in json) config = vaeConfigFromJson(json, cfgPath);
  }
  return { config, weights: loadVaeStateDict(path), path };
}
