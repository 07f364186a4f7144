/**
 * `--data` for training: a latent file from `dit extract-latents`, or a
 * dataset (IDX folder or file, ImageNet-layout folder) trained in pixel
 * space (`vae: "none"`) or encoded by a VAE at every step.
 */
import { closeSync, openSync, readSync, statSync } from "node:fs";
import { openDataset, type OpenDatasetOptions } from "../data/dataset.js";
import { DatasetError } from "../data/errors.js";
import { LATENT_MAGIC, LatentDataset } from "../data/latents.js";
import { ModelConfigError, officialConfig, validateConfig, type DiTConfig } from "../model/config.js";
import { downsampleFactor } from "../vae/config.js";
import { VaeLoadError } from "../vae/errors.js";
import { loadVae } from "../vae/load.js";
import { imageArrayData, latentFileData, vaeEncodedData, type TrainData } from "./data.js";

/** Whether `path` is a latent file (starts with the DITLAT01 magic). */
export function isLatentFile(path: string): boolean {
  try {
    if (!statSync(path).isFile()) return false;
    const fd = openSync(path, "r");
    try {
      const b = Buffer.alloc(LATENT_MAGIC.length);
      readSync(fd, b, 0, b.length, 0);
      return b.toString("latin1") === LATENT_MAGIC;
    } finally {
      closeSync(fd);
    }
  } catch {
    return false;
  }
}

export interface OpenTrainDataOptions extends OpenDatasetOptions {
  /** For image datasets: a VAE (folder or file) to encode at every step, or "none" for pixel space. */
  vae?: string;
}

/** Open what `--data` names (see the module comment). */
export function openTrainData(path: string, opts: OpenTrainDataOptions = {}): TrainData {
  if (isLatentFile(path)) {
    const ds = LatentDataset.open(path);
    const h = ds.header;
    return latentFileData(ds, `${path}: ${ds.length} latent distributions ${ds.latentShape.join("×")} (and mirrors), ${ds.numClasses} classes, scaling_factor ${ds.scalingFactor}${h.description ? ` — ${h.description}` : ""}`);
  }
  const { vae, ...dsOpts } = opts;
  if (vae === undefined) {
    throw new DatasetError(path, `${path} holds images: pass --vae PATH to train in a VAE's latent space (faster: encode once with 'dit extract-latents' and pass that file as --data), or --vae none to train in pixel space`);
  }
  const ds = openDataset(path, dsOpts);
  const images = imageArrayData(ds.images, ds.shape, ds.labels, ds.numClasses, ds.description, ds.classNames);
  if (vae === "none") return images;
  const model = loadVae(vae);
  const f = downsampleFactor(model.config);
  const [, C, S] = ds.shape;
  if (C !== model.config.inChannels) throw new VaeLoadError(`${vae}: the VAE takes ${model.config.inChannels}-channel images, the data has ${C} channels`);
  if (S % f !== 0) throw new VaeLoadError(`${vae}: the VAE downsamples by ${f}, which does not divide the image size ${S}`);
  return vaeEncodedData(images, model, model.config.scalingFactor ?? 0.18215, [model.config.latentChannels, S / f, S / f]);
}

/** An official config (`DiT-S/2`) sized for the data: input_size, in_channels and num_classes from it. */
export function configForData(name: string, data: TrainData, overrides: Partial<DiTConfig> = {}): DiTConfig {
  const [C, H] = data.shape;
  return officialConfig(name, { inputSize: H, inChannels: C, numClasses: data.numClasses, ...overrides });
}

/** Check that a given config fits the data. */
export function checkConfigForData(c: DiTConfig, data: TrainData): DiTConfig {
  const [C, H, W] = data.shape;
  if (C !== c.inChannels || H !== c.inputSize || W !== c.inputSize) {
    throw new ModelConfigError(`the data gives samples of ${C}×${H}×${W}, the config takes ${c.inChannels}×${c.inputSize}×${c.inputSize} (in_channels × input_size²)`);
  }
  return validateConfig(c);
}
