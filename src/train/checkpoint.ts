/**
 * Training checkpoints: one safetensors file holds the whole state of a run
 * (`DIR/checkpoints/0050000.safetensors`, seven digits as the official
 * `0050000.pt`):
 *
 *   model.<name>, ema.<name>, adam.exp_avg.<name>, adam.exp_avg_sq.<name>   float32 tensors
 *   __metadata__: dit_ts_checkpoint = "1", config (official DiT kwargs + block),
 *                 train (step, Adam step and settings, seed, options, data position),
 *                 class_names, info (wall time, throughput: not part of the state)
 *
 * Every random draw of step s is a function of (seed, s), so the step and
 * the seed are the RNG state, and step × global batch is the data position.
 * Tensors are deterministic (same seed and data → same bytes); wall time
 * and throughput go only in `info`. Writes are atomic (temp file, fsync,
 * rename), so a crash never leaves a half-written checkpoint.
 */
import { DitError } from "../errors.js";
import { closeSync, openSync, readdirSync, readSync } from "node:fs";
import { dirname, join, relative as relativePath, resolve as resolvePath } from "node:path";
import { ioErrorReason } from "../io/atomic-file.js";
import { readSafetensors, toFloat32, writeSafetensors } from "../io/safetensors.js";
import type { StateDict } from "../io/state-dict.js";
import { configFromKwargs, type DiTConfig, type DiTKwargs } from "../model/config.js";
import { Tensor } from "../runtime/tensor.js";
import type { AdamWOptions, TrainState } from "./state.js";

export class CheckpointError extends DitError {
  override name = "CheckpointError";
}

/** The official `DiT(**kwargs)` arguments of a config (plus ours: `block`). */
export function configToKwargs(c: DiTConfig): Required<DiTKwargs> {
  return {
    input_size: c.inputSize,
    patch_size: c.patchSize,
    in_channels: c.inChannels,
    hidden_size: c.hiddenSize,
    depth: c.depth,
    num_heads: c.numHeads,
    mlp_ratio: c.mlpRatio,
    class_dropout_prob: c.classDropoutProb,
    num_classes: c.numClasses,
    learn_sigma: c.learnSigma,
    block: c.block,
  };
}

/** The `train` metadata record. */
export interface TrainMeta {
  step: number;
  adam_step: number;
  adam: { lr: number; betas: [number, number]; eps: number; weight_decay: number };
  seed: number;
  /** Samples consumed so far (step × global batch): where the data order resumes. */
  data_position: number;
  /** The run's options (what `--resume` checks and reuses). */
  args: Record<string, unknown>;
}

export interface Checkpoint {
  config: DiTConfig;
  state: TrainState;
  train: TrainMeta;
  classNames?: string[];
  /** The VAE the model's latents come from (a path relative to the checkpoint's folder), for sampling. */
  vae?: string;
  info?: Record<string, unknown>;
}

const PREFIXES = { model: "model.", ema: "ema.", expAvg: "adam.exp_avg.", expAvgSq: "adam.exp_avg_sq." } as const;

/** `DIR/checkpoints/0000100.safetensors` */
export function checkpointPath(dir: string, step: number): string {
  return join(dir, "checkpoints", `${String(step).padStart(7, "0")}.safetensors`);
}

/** The newest checkpoint of a run folder (highest step), or undefined. */
export function latestCheckpoint(dir: string): string | undefined {
  let names: string[];
  try {
    names = readdirSync(join(dir, "checkpoints"));
  } catch {
    return undefined;
  }
  const steps = names.filter((n) => /^\d{7,}\.safetensors$/.test(n)).sort((a, b) => Number(a.split(".")[0]) - Number(b.split(".")[0]));
  return steps.length ? join(dir, "checkpoints", steps[steps.length - 1]!) : undefined;
}

/** Write a checkpoint atomically. */
export function saveCheckpoint(path: string, ck: Checkpoint): void {
  const tensors = new Map<string, { data: Float32Array; shape: number[] }>();
  const put = (prefix: string, d: StateDict) => {
    for (const [k, t] of d) tensors.set(prefix + k, { data: t.data as Float32Array, shape: t.shape });
  };
  put(PREFIXES.model, ck.state.model);
  put(PREFIXES.ema, ck.state.ema);
  put(PREFIXES.expAvg, ck.state.adam.expAvg);
  put(PREFIXES.expAvgSq, ck.state.adam.expAvgSq);
  const metadata: Record<string, string> = {
    dit_ts_checkpoint: "1",
    config: JSON.stringify(configToKwargs(ck.config)),
    train: JSON.stringify(ck.train),
  };
  if (ck.classNames) metadata.class_names = JSON.stringify(ck.classNames);
  if (ck.vae) metadata.vae = ck.vae;
  if (ck.info) metadata.info = JSON.stringify(ck.info);
  try {
    writeSafetensors(path, tensors, metadata); // atomic: on failure the temporary file is removed and `path` is untouched
  } catch (e) {
    throw new CheckpointError(`${path}: could not write the checkpoint: ${ioErrorReason(e)}`, { cause: e });
  }
}

/** Whether a safetensors file is one of our training checkpoints. */
export function isTrainCheckpoint(metadata: Record<string, string>): boolean {
  return metadata.dit_ts_checkpoint !== undefined && metadata.train !== undefined;
}

/** Whether a file is one of our training checkpoints (a .safetensors whose header holds dit_ts_checkpoint), without reading its tensors. */
export function isTrainCheckpointFile(path: string): boolean {
  if (!/\.safetensors$/i.test(path)) return false;
  let fd: number;
  try {
    fd = openSync(path, "r");
  } catch {
    return false;
  }
  try {
    const head = Buffer.alloc(1 << 16);
    const n = readSync(fd, head, 0, head.length, 0);
    return head.subarray(0, n).toString("latin1").includes('"dit_ts_checkpoint"');
  } finally {
    closeSync(fd);
  }
}

/** Read a checkpoint written by `saveCheckpoint`; errors name the file and what is missing. */
export function loadCheckpoint(path: string): Checkpoint {
  const { tensors, metadata } = readSafetensors(path);
  if (!isTrainCheckpoint(metadata)) throw new CheckpointError(`${path}: not a dit-ts training checkpoint (its __metadata__ has no 'dit_ts_checkpoint'/'train' entries)`);
  const { config, train, classNames, info } = parseCheckpointMeta(path, metadata);
  const groups: Record<keyof typeof PREFIXES, StateDict> = { model: new Map(), ema: new Map(), expAvg: new Map(), expAvgSq: new Map() };
  for (const [name, t] of tensors) {
    const g = (Object.keys(PREFIXES) as (keyof typeof PREFIXES)[]).filter((k) => name.startsWith(PREFIXES[k])).sort((a, b) => PREFIXES[b].length - PREFIXES[a].length)[0];
    if (!g) throw new CheckpointError(`${path}: unexpected tensor '${name}' (expected model.*, ema.*, adam.exp_avg.*, adam.exp_avg_sq.*)`);
    if (t.dtype !== "F32") throw new CheckpointError(`${path}: tensor '${name}' is ${t.dtype}, expected F32`);
    groups[g].set(name.slice(PREFIXES[g].length), new Tensor(toFloat32(t.data), t.shape));
  }
  if (groups.model.size === 0) throw new CheckpointError(`${path}: no model.* tensors`);
  for (const [k, t] of groups.model) {
    const e = groups.ema.get(k);
    if (!e) throw new CheckpointError(`${path}: model.${k} has no ema.${k}`);
    if (e.shape.join() !== t.shape.join()) throw new CheckpointError(`${path}: ema.${k} is [${e.shape}], but model.${k} is [${t.shape}]`);
  }
  return {
    config,
    train,
    classNames,
    vae: metadata.vae,
    info,
    state: { step: train.step, model: groups.model, ema: groups.ema, adam: { step: train.adam_step, expAvg: groups.expAvg, expAvgSq: groups.expAvgSq } },
  };
}

/** The JSON entries of a checkpoint's metadata, parsed and checked; errors name the file and the entry. */
function parseCheckpointMeta(path: string, metadata: Record<string, string>): { config: DiTConfig; train: TrainMeta; classNames?: string[]; info?: Record<string, unknown> } {
  const bad = (what: string, cause?: unknown): never => {
    throw new CheckpointError(`${path}: unreadable checkpoint metadata: ${what}`, { cause });
  };
  const json = (key: string): unknown => {
    if (metadata[key] === undefined) return undefined;
    try {
      return JSON.parse(metadata[key]);
    } catch (e) {
      return bad(`'${key}' is not valid JSON (${e instanceof Error ? e.message : String(e)})`, e);
    }
  };
  const isObject = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);
  const count = (v: unknown) => typeof v === "number" && Number.isSafeInteger(v) && v >= 0;
  const finite = (v: unknown) => typeof v === "number" && Number.isFinite(v);
  const rawConfig = json("config");
  if (!isObject(rawConfig)) return bad(`'config' is ${metadata.config === undefined ? "missing" : metadata.config.slice(0, 40)}, expected the DiT kwargs object`);
  let config: DiTConfig;
  try {
    config = configFromKwargs(rawConfig as DiTKwargs);
  } catch (e) {
    return bad(`'config': ${e instanceof Error ? e.message : String(e)}`, e);
  }
  const t = json("train");
  if (!isObject(t)) return bad(`'train' is ${String(metadata.train).slice(0, 40)}, expected an object`);
  for (const k of ["step", "adam_step", "data_position", "seed"]) if (!count(t[k])) bad(`train.${k} is ${JSON.stringify(t[k])}, expected a non-negative integer`);
  const a = t.adam;
  if (!isObject(a) || !finite(a.lr) || !finite(a.eps) || !finite(a.weight_decay) || !Array.isArray(a.betas) || a.betas.length !== 2 || !a.betas.every(finite)) {
    bad(`train.adam is ${JSON.stringify(a)?.slice(0, 80)}, expected {lr, betas: [b1, b2], eps, weight_decay} numbers`);
  }
  if (!isObject(t.args)) bad(`train.args is ${JSON.stringify(t.args)}, expected an object`);
  const classNames = json("class_names");
  if (classNames !== undefined && !(Array.isArray(classNames) && classNames.every((c) => typeof c === "string"))) bad(`'class_names' is ${metadata.class_names!.slice(0, 40)}, expected an array of strings`);
  const info = json("info");
  if (info !== undefined && !isObject(info)) bad(`'info' is ${metadata.info!.slice(0, 40)}, expected an object`);
  return { config, train: t as unknown as TrainMeta, classNames: classNames as string[] | undefined, info: info as Record<string, unknown> | undefined };
}

/** AdamW settings as stored in `train.adam`. */
export function adamMeta(o: AdamWOptions): TrainMeta["adam"] {
  return { lr: o.lr, betas: o.betas, eps: o.eps, weight_decay: o.weightDecay };
}

/**
 * A sampling model file from a training checkpoint: the EMA weights (or the
 * raw model with `entry: "model"`) under their official names, with the
 * config, class names and VAE path (re-based to the new file's folder) in
 * `__metadata__` — the form of the bundled model. Written atomically.
 */
export function exportModelWeights(ckptPath: string, outPath: string, opts: { entry?: "ema" | "model"; vae?: string } = {}): { tensors: number; entry: "ema" | "model" } {
  const ck = loadCheckpoint(ckptPath);
  const entry = opts.entry ?? "ema";
  const weights = entry === "ema" ? ck.state.ema : ck.state.model;
  const metadata: Record<string, string> = { config: JSON.stringify(configToKwargs(ck.config)), source: `${ckptPath} (${entry}, step ${ck.train.step})` };
  if (ck.classNames) metadata.class_names = JSON.stringify(ck.classNames);
  const vae = opts.vae ?? (ck.vae ? resolvePath(dirname(ckptPath), ck.vae) : undefined);
  if (vae) metadata.vae = relativePath(dirname(resolvePath(outPath)), resolvePath(vae));
  const tensors = new Map<string, { data: Float32Array; shape: number[] }>();
  for (const [k, t] of weights) tensors.set(k, { data: t.data as Float32Array, shape: t.shape });
  writeSafetensors(outPath, tensors, metadata);
  return { tensors: tensors.size, entry };
}
