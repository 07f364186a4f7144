/**
 * `--resume-from FILE`: a dit-ts training checkpoint (.safetensors), or an
 * official train.py checkpoint (.pt: model, EMA, AdamW moments and step;
 * the config from its `args` — our `dit_kwargs`, or train.py's `model`,
 * `image_size` and `num_classes` — unless one is given).
 */
import { readOfficialCheckpoint } from "../io/official-checkpoint.js";
import { configFromKwargs, officialConfig, type DiTConfig, type DiTKwargs } from "../model/config.js";
import { adamMeta, CheckpointError, loadCheckpoint, type Checkpoint } from "./checkpoint.js";

export function loadResumeSource(path: string, config?: DiTConfig): Checkpoint {
  if (!/\.(pt|pth|ckpt)$/i.test(path)) {
    const ck = loadCheckpoint(path);
    return config ? { ...ck, config } : ck;
  }
  const { state, args, adam } = readOfficialCheckpoint(path);
  let c = config;
  if (!c && args.dit_kwargs && typeof args.dit_kwargs === "object") c = configFromKwargs(args.dit_kwargs as DiTKwargs);
  if (!c && typeof args.model === "string") {
    const imageSize = typeof args.image_size === "number" ? args.image_size : 256;
    c = officialConfig(args.model, { inputSize: imageSize / 8, numClasses: typeof args.num_classes === "number" ? args.num_classes : 1000 }); // the SD VAE downsamples by 8
  }
  if (!c) throw new CheckpointError(`${path}: its args name no model; pass --model or --config`);
  const seed = typeof args.global_seed === "number" ? args.global_seed : 0;
  return { config: c, state, train: { step: state.step, adam_step: state.adam.step, adam: adamMeta(adam), seed, data_position: 0, args } };
}
