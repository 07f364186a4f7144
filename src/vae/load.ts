/**
 * Load a VAE from disk:
 *
 * - a folder written by `dit vae-train` (`saveVae`): `vae.safetensors` + `config.json`;
 * - a diffusers AutoencoderKL folder (`diffusion_pytorch_model.safetensors` + `config.json`,
 *   e.g. `stabilityai/sd-vae-ft-ema`);
 * - a single weights file (`.safetensors`, `.pt`, `.ckpt`; diffusers or CompVis names),
 *   taken as the SD VAE architecture (`SD_VAE_CONFIG`), the one DiT uses.
 */
import { existsSync, statSync } from "node:fs";
import { join } from "node:path";
import { DitError } from "../errors.js";
import { readJsonObjectFile } from "../io/json-file.js";
import { AutoencoderKL, type VaeOptions } from "./autoencoder.js";
import { SD_VAE_CONFIG, vaeConfigFromDiffusers, type VaeConfig } from "./config.js";
import { VaeLoadError } from "./errors.js";
import { loadVaeStateDict } from "./weights.js";

export { VaeLoadError } from "./errors.js";

/** The weights file names looked for in a VAE folder, in order. */
export const VAE_WEIGHT_FILES = ["vae.safetensors", "diffusion_pytorch_model.safetensors", "diffusion_pytorch_model.bin"];

/** Largest sizes accepted in a VAE config (the SD VAE: 4 levels of ≤ 512 channels). */
export const VAE_CONFIG_LIMITS = { levels: 8, channels: 4096, layersPerBlock: 16, ioChannels: 64, latentChannels: 256 } as const;

/** A value from an untrusted config, short and without deep recursion, for an error message. */
function show(v: unknown): string {
  if (typeof v === "string") return JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}…` : v);
  if (v === null || typeof v !== "object") return String(v);
  return Array.isArray(v) ? `an array of ${v.length}` : "an object";
}

/** Check the types and sizes of a parsed diffusers AutoencoderKL config before `vaeConfigFromDiffusers` reads it. */
function checkVaeJson(json: Record<string, unknown>, path: string): void {
  const bad = (msg: string): never => {
    throw new VaeLoadError(`${path}: invalid VAE config: ${msg}`);
  };
  const int = (k: string, max: number) => {
    const v = json[k];
    if (v === undefined || v === null) return;
    if (typeof v !== "number" || !Number.isInteger(v) || v < 1 || v > max) bad(`${k} must be an integer in 1..${max}, got ${show(v)}`);
  };
  if (json._class_name !== undefined && json._class_name !== "AutoencoderKL") bad(`_class_name is ${show(json._class_name)}, expected "AutoencoderKL"`);
  const boc = json.block_out_channels;
  if (boc !== undefined && boc !== null) {
    if (!Array.isArray(boc) || boc.length < 1 || boc.length > VAE_CONFIG_LIMITS.levels) bad(`block_out_channels must be a list of 1..${VAE_CONFIG_LIMITS.levels} channel counts, got ${show(boc)}`);
    for (const c of boc as unknown[]) {
      if (typeof c !== "number" || !Number.isInteger(c) || c < 1 || c > VAE_CONFIG_LIMITS.channels) bad(`block_out_channels entries must be integers in 1..${VAE_CONFIG_LIMITS.channels}, got ${show(c)}`);
    }
  }
  for (const k of ["down_block_types", "up_block_types"]) {
    const v = json[k];
    if (v !== undefined && v !== null && !(Array.isArray(v) && v.length <= VAE_CONFIG_LIMITS.levels && v.every((b) => typeof b === "string"))) bad(`${k} must be a list of block type names, got ${show(v)}`);
  }
  int("in_channels", VAE_CONFIG_LIMITS.ioChannels);
  int("out_channels", VAE_CONFIG_LIMITS.ioChannels);
  int("latent_channels", VAE_CONFIG_LIMITS.latentChannels);
  int("layers_per_block", VAE_CONFIG_LIMITS.layersPerBlock);
  int("norm_num_groups", VAE_CONFIG_LIMITS.channels);
  const sf = json.scaling_factor;
  if (sf !== undefined && sf !== null && !(typeof sf === "number" && Number.isFinite(sf) && sf > 0)) bad(`scaling_factor must be a positive number, got ${show(sf)}`);
  if (json.act_fn !== undefined && json.act_fn !== null && typeof json.act_fn !== "string") bad(`act_fn must be a string, got ${show(json.act_fn)}`);
  for (const k of ["use_quant_conv", "use_post_quant_conv", "mid_block_add_attention"]) {
    const v = json[k];
    if (v !== undefined && v !== null && typeof v !== "boolean") bad(`${k} must be true or false, got ${show(v)}`);
  }
}

/** A VaeConfig from a parsed diffusers AutoencoderKL config (typed errors naming `path`). */
export function vaeConfigFromJson(json: Record<string, unknown>, path: string): VaeConfig {
  checkVaeJson(json, path);
  try {
    return vaeConfigFromDiffusers(json);
  } catch (e) {
    throw new VaeLoadError(`${path}: ${e instanceof Error ? e.message : String(e)}`, { cause: e });
  }
}

/**
 * Read a diffusers AutoencoderKL `config.json` (as `dit vae-train` writes it). Throws
 * `VaeLoadError` naming the file for an unreadable, oversized, non-UTF-8 or non-object file
 * and for wrong types, unsupported blocks or sizes out of range (checked before any allocation).
 */
export function readVaeConfigFile(path: string): VaeConfig {
  return vaeConfigFromJson(readJsonObjectFile(path, "VAE config", (m, cause) => new VaeLoadError(m, { cause })), path);
}

/** The config and weights file of a VAE path (see the module comment). */
export function resolveVaePath(path: string): { config: VaeConfig; weightsPath: string; configPath?: string } {
  const st = statSync(path, { throwIfNoEntry: false });
  if (!st) throw new VaeLoadError(`${path}: no such VAE (expected a folder with vae.safetensors + config.json as written by 'dit vae-train', a diffusers AutoencoderKL folder, or an SD VAE weights file)`);
  if (!st.isDirectory()) return { config: SD_VAE_CONFIG, weightsPath: path };
  const configPath = join(path, "config.json");
  if (!existsSync(configPath)) throw new VaeLoadError(`${path}: a VAE folder needs config.json (diffusers AutoencoderKL config) beside its weights`);
  const config = readVaeConfigFile(configPath);
  const weightsPath = VAE_WEIGHT_FILES.map((f) => join(path, f)).find((p) => existsSync(p));
  if (!weightsPath) throw new VaeLoadError(`${path}: no VAE weights (expected one of ${VAE_WEIGHT_FILES.join(", ")})`);
  return { config, weightsPath, configPath };
}

/** An AutoencoderKL from a `dit vae-train` folder, a diffusers folder or an SD VAE weights file. */
export function loadVae(path: string, opts: VaeOptions = {}): AutoencoderKL {
  const { config, weightsPath } = resolveVaePath(path);
  const weights = loadVaeStateDict(weightsPath);
  try {
    return new AutoencoderKL(config, weights, opts);
  } catch (e) {
    if (e instanceof DitError) throw e;
    throw new VaeLoadError(`${weightsPath}: ${e instanceof Error ? e.message : String(e)}`, { cause: e });
  }
}
