/**
 * Load a VAE from disk:
 *
 * - a folder written by `dit vae-train` (`saveVae`): `vae.safetensors` + `config.json`;
 * - a diffusers AutoencoderKL folder (`diffusion_pytorch_model.safetensors` + `config.json`,
 *   e.g. `stabilityai/sd-vae-ft-ema`);
 * - a single weights file (`.safetensors`, `.pt`, `.ckpt`; diffusers or CompVis names),
 *   taken as the SD VAE architecture (`SD_VAE_CONFIG`), the one DiT uses.
 */
import { existsSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { AutoencoderKL, type VaeOptions } from "./autoencoder.js";
import { SD_VAE_CONFIG, vaeConfigFromDiffusers, type VaeConfig } from "./config.js";
import { loadVaeStateDict } from "./weights.js";

/** The weights file names looked for in a VAE folder, in order. */
export const VAE_WEIGHT_FILES = ["vae.safetensors", "diffusion_pytorch_model.safetensors", "diffusion_pytorch_model.bin"];

/** The config and weights file of a VAE path (see the module comment). */
export function resolveVaePath(path: string): { config: VaeConfig; weightsPath: string; configPath?: string } {
  const st = statSync(path, { throwIfNoEntry: false });
  if (!st) throw new Error(`${path}: no such VAE (expected a folder with vae.safetensors + config.json as written by 'dit vae-train', a diffusers AutoencoderKL folder, or an SD VAE weights file)`);
  if (!st.isDirectory()) return { config: SD_VAE_CONFIG, weightsPath: path };
  const configPath = join(path, "config.json");
  if (!existsSync(configPath)) throw new Error(`${path}: a VAE folder needs config.json (diffusers AutoencoderKL config) beside its weights`);
  let json: Record<string, unknown>;
  try {
    json = JSON.parse(readFileSync(configPath, "utf8")) as Record<string, unknown>;
  } catch (e) {
    throw new Error(`${configPath}: not a readable JSON config (${e instanceof Error ? e.message : String(e)})`, { cause: e });
  }
  if (json._class_name !== undefined && json._class_name !== "AutoencoderKL") throw new Error(`${configPath}: _class_name is '${String(json._class_name)}', expected AutoencoderKL`);
  const weightsPath = VAE_WEIGHT_FILES.map((f) => join(path, f)).find((p) => existsSync(p));
  if (!weightsPath) throw new Error(`${path}: no VAE weights (expected one of ${VAE_WEIGHT_FILES.join(", ")})`);
  return { config: vaeConfigFromDiffusers(json), weightsPath, configPath };
}

/** An AutoencoderKL from a `dit vae-train` folder, a diffusers folder or an SD VAE weights file. */
export function loadVae(path: string, opts: VaeOptions = {}): AutoencoderKL {
  const { config, weightsPath } = resolveVaePath(path);
  const weights = loadVaeStateDict(weightsPath);
  try {
    return new AutoencoderKL(config, weights, opts);
  } catch (e) {
    throw new Error(`${weightsPath}: ${e instanceof Error ? e.message : String(e)}`, { cause: e });
  }
}
