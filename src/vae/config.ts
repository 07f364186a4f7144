/**
 * AutoencoderKL configurations (diffusers layout, SD VAE structure): widths,
 * depth, latent channels and GroupNorm groups; everything else is fixed as in
 * the SD VAE (DownEncoderBlock2D / UpDecoderBlock2D, SiLU, mid-block attention,
 * quant / post-quant convs, GroupNorm eps 1e-6).
 */
import { VaeLoadError } from "./errors.js";

/** DiT's latent scaling: latents = sample · 0.18215, images = decode(latents / 0.18215). */
export const SCALING_FACTOR = 0.18215;

export interface VaeConfig {
  inChannels: number;
  outChannels: number;
  blockOutChannels: number[];
  layersPerBlock: number;
  latentChannels: number;
  normNumGroups: number;
  scalingFactor: number;
}

/** The SD VAE (`stabilityai/sd-vae-ft-ema` / `sd-vae-ft-mse`). */
export const SD_VAE_CONFIG: VaeConfig = {
  inChannels: 3,
  outChannels: 3,
  blockOutChannels: [128, 256, 512, 512],
  layersPerBlock: 2,
  latentChannels: 4,
  normNumGroups: 32,
  scalingFactor: SCALING_FACTOR,
};

/** Spatial downsampling factor of the encoder: 2^(levels − 1). */
export function downsampleFactor(c: VaeConfig): number {
  return 2 ** (c.blockOutChannels.length - 1);
}

/** A VaeConfig from a diffusers `config.json` (AutoencoderKL); rejects what this implementation does not cover. */
export function vaeConfigFromDiffusers(d: Record<string, unknown>): VaeConfig {
  const get = <T>(k: string, dflt: T): T => (d[k] === undefined || d[k] === null ? dflt : (d[k] as T));
  const blockOutChannels = get<number[]>("block_out_channels", [64]);
  const down = get<string[]>("down_block_types", blockOutChannels.map(() => "DownEncoderBlock2D"));
  const up = get<string[]>("up_block_types", blockOutChannels.map(() => "UpDecoderBlock2D"));
  if (down.some((b) => b !== "DownEncoderBlock2D") || up.some((b) => b !== "UpDecoderBlock2D")) {
    throw new VaeLoadError(`VAE config: only DownEncoderBlock2D / UpDecoderBlock2D blocks are supported, got [${down}] / [${up}]`);
  }
  if (down.length !== blockOutChannels.length || up.length !== blockOutChannels.length) throw new VaeLoadError("VAE config: block types and block_out_channels differ in length");
  if (get("act_fn", "silu") !== "silu") throw new VaeLoadError(`VAE config: act_fn '${String(d.act_fn)}' is not supported (silu only)`);
  for (const k of ["use_quant_conv", "use_post_quant_conv", "mid_block_add_attention"]) {
    if (get(k, true) !== true) throw new VaeLoadError(`VAE config: ${k}=false is not supported`);
  }
  const c: VaeConfig = {
    inChannels: get("in_channels", 3),
    outChannels: get("out_channels", 3),
    blockOutChannels,
    layersPerBlock: get("layers_per_block", 1),
    latentChannels: get("latent_channels", 4),
    normNumGroups: get("norm_num_groups", 32),
    scalingFactor: get("scaling_factor", SCALING_FACTOR),
  };
  return validateVaeConfig(c);
}

export function validateVaeConfig(c: VaeConfig): VaeConfig {
  if (c.blockOutChannels.length === 0) throw new VaeLoadError("VAE config: block_out_channels is empty");
  for (const ch of c.blockOutChannels) {
    if (ch % c.normNumGroups !== 0) throw new VaeLoadError(`VAE config: ${ch} channels are not divisible by ${c.normNumGroups} groups`);
  }
  if (c.layersPerBlock < 1) throw new VaeLoadError("VAE config: layers_per_block must be ≥ 1");
  return c;
}
