/**
 * Where `sample()` gets its DiT: a path (one of four formats, detected from
 * the file) or weights already in memory.
 *
 * - a training checkpoint of `dit train` (safetensors holding `ema.*`,
 *   `model.*` and `adam.*` tensors; `__metadata__.config` = the official DiT
 *   kwargs + `block`, optional `class_names` and `vae`): the EMA weights, as
 *   the official sample.py;
 * - a plain model safetensors (official names, optional `__metadata__.config`
 *   and `class_names`), or a folder holding `dit.safetensors` (+ `vae/`), the
 *   layout of the bundled model;
 * - an official checkpoint (`DiT-XL-2-256x256.pt`, a train.py `.pt`: its `ema`)
 *   with `model` naming the architecture;
 * - diffusers DiT weights (`DiTTransformer2DModel`): a pipeline folder
 *   (`model_index.json`, `transformer/`, `vae/`), a transformer folder, or the
 *   weights file with its `config.json` beside it.
 */
import { existsSync, statSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { configFromKwargs, officialConfig, type DiTConfig, type DiTKwargs, type StateDict } from "../index.js";
import { diffusersDepth, diffusersToOfficial, DiffusersDiTError, ditKwargsFromDiffusers, isDiffusersDiT } from "../io/diffusers-dit.js";
import { readJsonObjectFile } from "../io/json-file.js";
import { configFromJson, ModelConfigError } from "../model/config.js";
import { floatTensorToF32, SafetensorsFile } from "../io/safetensors.js";
import { loadStateDict } from "../io/state-dict.js";
import { sincosPosEmbed } from "../model/embeddings.js";
import { Tensor } from "../runtime/tensor.js";
import { SampleError } from "./errors.js";

/** A model already in memory. */
export interface InMemoryModel {
  config: DiTConfig;
  /** Official state-dict names. */
  weights: StateDict;
  /** Display names of the classes (index = label). */
  classNames?: readonly string[];
}

/** A checkpoint path (file or folder) or an in-memory model. */
export type ModelSource = string | InMemoryModel;

export type ModelFormat = "training-checkpoint" | "model" | "official" | "diffusers" | "memory";

export interface LoadedModel {
  config: DiTConfig;
  weights: StateDict;
  classNames?: readonly string[];
  /** The VAE the checkpoint names or ships beside it (absolute path), if any. */
  vae?: string;
  format: ModelFormat;
  /** The file the weights came from. */
  path?: string;
}

export interface ModelSourceOptions {
  /** An official model name ("DiT-XL/2"): the architecture; input size, classes, channels and sigma follow the weights. */
  model?: string;
  /** A full config (overrides the checkpoint's own). */
  config?: DiTConfig;
  /** Check the CRC-32 of every `.pt` zip record read (default true). */
  verifyCrc?: boolean;
}

/** The package root: the nearest folder above this file holding package.json (works from src/ and dist/). */
function packageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (existsSync(join(dir, "package.json"))) return dir;
    const up = dirname(dir);
    if (up === dir) throw new Error("dit-ts: cannot find the package root (no package.json above src/sample)");
    dir = up;
  }
}

/** The model shipped with the package: `models/fashion-mnist/` (dit.safetensors + vae/). */
export const BUNDLED_MODEL_DIR: string = join(packageRoot(), "models", "fashion-mnist");

/** The official kwargs of a metadata `config` JSON (top level or under `dit_kwargs`). */
function kwargsFromJson(text: string, where: string): DiTKwargs {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new SampleError(`${where}: __metadata__.config is not valid JSON`);
  }
  if (json === null || typeof json !== "object" || Array.isArray(json)) throw new SampleError(`${where}: __metadata__.config must be a JSON object`);
  const o = json as Record<string, unknown>;
  return (o.dit_kwargs && typeof o.dit_kwargs === "object" ? o.dit_kwargs : o) as DiTKwargs;
}

/**
 * A model config from a JSON file: the forms `configFromJson` accepts, or a diffusers
 * `DiTTransformer2DModel` config.json. Throws `ModelConfigError` naming the file for an
 * unreadable, oversized, non-UTF-8, non-object or too deeply nested file and for any
 * invalid or out-of-range config (checked before anything is allocated).
 */
export function readModelConfigFile(path: string): DiTConfig {
  const json = readJsonObjectFile(path, "model config", (m, cause) => new ModelConfigError(m, { cause }));
  if (json._class_name === "DiTTransformer2DModel") return diffusersConfig(json, path);
  return configFromJson(json, path);
}

/** A DiTConfig from a parsed diffusers DiT config.json (`labelRows`: the class table's rows, when known). */
function diffusersConfig(json: Record<string, unknown>, path: string, labelRows?: number): DiTConfig {
  let kwargs: DiTKwargs;
  try {
    kwargs = ditKwargsFromDiffusers(json, labelRows);
  } catch (e) {
    if (e instanceof DiffusersDiTError) throw new ModelConfigError(`${path}: ${e.message}`, { cause: e });
    throw e;
  }
  return configFromKwargs(kwargs, path);
}

function classNamesFromJson(text: string | undefined, where: string): string[] | undefined {
  if (text === undefined) return undefined;
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    throw new SampleError(`${where}: __metadata__.class_names is not valid JSON`);
  }
  if (!Array.isArray(v) || !v.every((x) => typeof x === "string")) throw new SampleError(`${where}: __metadata__.class_names must be a JSON array of strings`);
  return v as string[];
}

/** The config of an official-named architecture, with the sizes the weights fix (input size, channels, classes, sigma). */
export function fitOfficialConfig(name: string, weights: StateDict): DiTConfig {
  const base = officialConfig(name);
  const over: Partial<DiTConfig> = {};
  const proj = weights.get("x_embedder.proj.weight");
  if (proj) over.inChannels = proj.shape[1]!;
  const pos = weights.get("pos_embed");
  if (pos) over.inputSize = Math.round(Math.sqrt(pos.shape[1]!)) * base.patchSize;
  const table = weights.get("y_embedder.embedding_table.weight");
  if (!table) over.numClasses = 0;
  const inC = over.inChannels ?? base.inChannels;
  const fin = weights.get("final_layer.linear.bias");
  if (fin) over.learnSigma = fin.shape[0] === base.patchSize * base.patchSize * 2 * inC;
  let cfg = officialConfig(name, over);
  if (table) {
    // as the official recipe (class_dropout_prob 0.1), the table's last row is the null class
    cfg = officialConfig(name, { ...over, numClasses: table.shape[0]! - 1 });
  }
  return cfg;
}

function readTensors(f: SafetensorsFile, prefix: string): StateDict {
  const out: StateDict = new Map();
  for (const k of f.keys()) {
    if (!k.startsWith(prefix)) continue;
    const t = f.get(k);
    if (!["F32", "F64", "F16", "BF16"].includes(t.dtype)) continue;
    out.set(k.slice(prefix.length), new Tensor(floatTensorToF32(t), t.shape));
  }
  return out;
}

function pickConfig(opts: ModelSourceOptions, weights: StateDict, fromFile: DiTConfig | undefined, where: string): DiTConfig {
  if (opts.config) return opts.config;
  if (opts.model) return fitOfficialConfig(opts.model, weights);
  if (fromFile) return fromFile;
  throw new SampleError(`${where}: the file has no model config; give --model (e.g. DiT-XL/2) or --config`);
}

function loadDiffusers(weightsPath: string, configPath: string | undefined, opts: ModelSourceOptions, raw?: StateDict): LoadedModel {
  const w = raw ?? loadStateDict(weightsPath, undefined, { skipNonFloat: true, verifyCrc: opts.verifyCrc });
  const table = w.get("transformer_blocks.0.norm1.emb.class_embedder.embedding_table.weight");
  let fileConfig: DiTConfig | undefined;
  if (configPath && existsSync(configPath)) {
    const json = readJsonObjectFile(configPath, "diffusers DiT config", (m, cause) => new ModelConfigError(m, { cause }));
    fileConfig = diffusersConfig(json, configPath, table?.shape[0]);
  }
  const proj = w.get("pos_embed.proj.weight");
  let config: DiTConfig;
  if (opts.config || fileConfig) config = opts.config ?? fileConfig!;
  else if (opts.model) {
    const base = officialConfig(opts.model);
    if (diffusersDepth(w) !== base.depth) throw new SampleError(`${weightsPath}: ${diffusersDepth(w)} transformer blocks, ${opts.model} has ${base.depth}`);
    config = base;
  } else throw new SampleError(`${weightsPath}: diffusers DiT weights need their config.json beside them, or --model / --config`);
  const grid = config.inputSize / config.patchSize;
  const posEmbed = new Tensor(Float32Array.from(sincosPosEmbed(config.hiddenSize, grid)), [1, grid * grid, config.hiddenSize]);
  if (proj && proj.shape[0] !== config.hiddenSize) throw new SampleError(`${weightsPath}: hidden size ${proj.shape[0]} does not match the config's ${config.hiddenSize}`);
  return { config, weights: diffusersToOfficial(w, { posEmbed }), format: "diffusers", path: weightsPath };
}

/**
 * Load a model source (see the file comment for the formats). Throws
 * SampleError for an unrecognised path or a missing config.
 */
export function loadModelSource(src: ModelSource, opts: ModelSourceOptions = {}): LoadedModel {
  if (typeof src !== "string") return { config: opts.config ?? src.config, weights: src.weights, classNames: src.classNames, format: "memory" };
  const path = resolve(src);
  if (!existsSync(path)) throw new SampleError(`checkpoint ${src} does not exist`);
  if (statSync(path).isDirectory()) {
    if (existsSync(join(path, "model_index.json"))) {
      const t = join(path, "transformer");
      const m = loadDiffusers(diffusersWeights(t), join(t, "config.json"), opts);
      return { ...m, vae: existsSync(join(path, "vae")) ? join(path, "vae") : undefined };
    }
    if (existsSync(join(path, "diffusion_pytorch_model.safetensors")) || existsSync(join(path, "diffusion_pytorch_model.bin"))) {
      const m = loadDiffusers(diffusersWeights(path), join(path, "config.json"), opts);
      const vae = join(dirname(path), "vae");
      return { ...m, vae: existsSync(vae) ? vae : undefined };
    }
    const file = join(path, "dit.safetensors");
    if (!existsSync(file)) throw new SampleError(`${src}: a model folder must hold dit.safetensors (with vae/), a diffusers pipeline (model_index.json) or a diffusers transformer (diffusion_pytorch_model.safetensors)`);
    const m = loadModelSource(file, opts);
    return { ...m, vae: m.vae ?? (existsSync(join(path, "vae")) ? join(path, "vae") : undefined) };
  }
  if (!/\.safetensors$/i.test(path)) {
    if (!/\.(pt|pth|ckpt|bin)$/i.test(path)) throw new SampleError(`${src}: expected a .safetensors, .pt/.pth/.ckpt/.bin file or a model folder`);
    const w = loadStateDict(path, undefined, { skipNonFloat: true, verifyCrc: opts.verifyCrc });
    if (isDiffusersDiT(w)) return loadDiffusers(path, join(dirname(path), "config.json"), opts, w);
    return { config: pickConfig(opts, w, undefined, src), weights: w, format: "official", path };
  }
  const f = SafetensorsFile.open(path);
  try {
    const keys = f.keys();
    const meta = f.metadata;
    const fileConfig = meta.config ? configFromKwargs(kwargsFromJson(meta.config, src), `${src} (__metadata__.config)`) : undefined;
    const classNames = classNamesFromJson(meta.class_names, src);
    const vae = meta.vae ? resolve(dirname(path), meta.vae) : undefined;
    if (keys.some((k) => k.startsWith("ema."))) {
      const weights = readTensors(f, "ema.");
      return { config: pickConfig(opts, weights, fileConfig, src), weights, classNames, vae, format: "training-checkpoint", path };
    }
    if (isDiffusersDiT(new Set(keys))) {
      f.close();
      return loadDiffusers(path, join(dirname(path), "config.json"), opts);
    }
    const weights = readTensors(f, "");
    return { config: pickConfig(opts, weights, fileConfig, src), weights, classNames, vae, format: "model", path };
  } finally {
    try {
      f.close();
    } catch {
      // already closed (the diffusers branch)
    }
  }
}

function diffusersWeights(dir: string): string {
  for (const name of ["diffusion_pytorch_model.safetensors", "diffusion_pytorch_model.bin"]) if (existsSync(join(dir, name))) return join(dir, name);
  throw new SampleError(`${dir}: no diffusion_pytorch_model.safetensors`);
}
