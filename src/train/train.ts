/**
 * `train(options)`: the official DiT recipe (train.py) as one loop —
 * AdamW (lr 1e-4, no weight decay), EMA 0.9999 starting as a copy of the
 * model, uniform timesteps, the hybrid loss with learned σ, label dropout
 * 0.1 through the null class — with exact, crash-safe resume.
 *
 * Every random draw of step s (sample order, flips, label dropout,
 * timesteps, noise, latent samples) comes from generators seeded by
 * (seed, s), so a run resumed from the checkpoint of step s continues
 * bit for bit as if it had never stopped.
 */
import { DitError } from "../errors.js";
import { appendFileSync, mkdirSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { ioErrorReason, writeFileAtomic } from "../io/atomic-file.js";
import { dirname, join, relative, resolve } from "node:path";
import { cloneStateDict, type StateDict } from "../io/state-dict.js";
import { createDiffusion } from "../diffusion/index.js";
import { ModelConfigError, validateConfig, type DiTConfig } from "../model/config.js";
import { initParams, paramShapes, resizeLabelTable } from "../model/params.js";
import { Tensor } from "../runtime/tensor.js";
import { Rng } from "../util/rng.js";
import { adamMeta, checkpointPath, CheckpointError, latestCheckpoint, loadCheckpoint, saveCheckpoint, type Checkpoint, type TrainMeta } from "./checkpoint.js";
import type { TrainData } from "./data.js";
import { acquireRunLock } from "./lock.js";
import { chooseExecution, createStepRunner, type Execution, type TrainStepRunner } from "./execution.js";
import { trainedNames, zeroMoments, type MicroBatch, type StepStats } from "./runner.js";
import type { AdamWOptions, TrainState } from "./state.js";

/** Settings of a run; the defaults are the official recipe. */
export interface TrainSettings {
  /** Optimizer steps to reach (a resumed run continues up to this step). */
  steps: number;
  /** Samples per optimizer step (train.py's global batch, 256 there). */
  batchSize: number;
  /** Micro-batches per step: gradients of batchSize / gradAccum samples, averaged. */
  gradAccum: number;
  lr: number;
  betas: [number, number];
  eps: number;
  weightDecay: number;
  emaDecay: number;
  /** EMA warm-up for short runs: decay min(emaDecay, (1 + s)/(10 + s)) at step s. */
  emaWarmup: boolean;
  /** Probability of a random horizontal flip (train.py: 0.5). */
  flipProb: number;
  /** Write a checkpoint every K steps (and at the end). */
  ckptEvery: number;
  /** Write a log line every K steps (means over those steps). */
  logEvery: number;
  /** Call `onSample` every K steps (0 = never). */
  sampleEvery: number;
  /** Call `evaluate` every K steps and log what it returns (0 = never). */
  evalEvery: number;
  seed: number;
}

export const OFFICIAL_RECIPE: TrainSettings = {
  steps: 400_000,
  batchSize: 256,
  gradAccum: 1,
  lr: 1e-4,
  betas: [0.9, 0.999],
  eps: 1e-8,
  weightDecay: 0,
  emaDecay: 0.9999,
  emaWarmup: false,
  flipProb: 0.5,
  ckptEvery: 50_000,
  logEvery: 100,
  sampleEvery: 0,
  evalEvery: 0,
  seed: 0,
};

/** One line of `DIR/log.jsonl`. */
export interface LogRecord {
  step: number;
  loss: number;
  mse: number;
  vb: number;
  grad_norm: number;
  lr: number;
  img_per_s: number;
  wall_s: number;
  /** At evaluation steps (`evalEvery`): what `evaluate` returned. */
  eval?: TrainEvalMetrics;
  /** Seconds the evaluation took (not counted in img_per_s). */
  eval_s?: number;
}

/** What an evaluation during training reports (`sampleFidEvaluator`'s result fits). */
export interface TrainEvalMetrics {
  /** FID of the EMA model's samples (FID-FMNIST when eval_net is "fmnist"). */
  fid: number;
  /** The feature network. */
  eval_net: string;
  eval_samples: number;
  fid_rank_deficient?: boolean;
  class_accuracy?: number;
}

export interface TrainOptions extends Partial<TrainSettings> {
  /** The model to train (ignored when resuming: the checkpoint's config is used and must match). */
  config: DiTConfig;
  data: TrainData;
  /** Run folder: checkpoints/, log.jsonl, samples/, train.lock. */
  out: string;
  /** Continue from the newest checkpoint in `out` (starts at step 0 when there is none). */
  resume?: boolean;
  /** Continue from this state (a checkpoint of another run, or an official train.py checkpoint read by the caller). */
  resumeFrom?: Checkpoint;
  /** Initial weights for fine-tuning (official names; the label table is resized when the class count differs). */
  init?: StateDict;
  /** The VAE of a latent-space model (folder or file), recorded in checkpoints so `dit sample --ckpt` finds it. */
  vae?: string;
  /** Extra run description stored with the checkpoints (e.g. the CLI's arguments). */
  args?: Record<string, unknown>;
  /** Called after every step. */
  onStep?: (step: number, stats: StepStats) => void;
  /** Called with each log record. */
  onLog?: (rec: LogRecord) => void;
  /** Called every `sampleEvery` steps with the EMA weights (e.g. to write a sample grid). */
  onSample?: (ema: StateDict, step: number) => Promise<void>;
  /**
   * Called every `evalEvery` steps with the EMA weights (e.g. FID of samples,
   * `sampleFidEvaluator` in src/eval); it goes into that step's log line as
   * `eval`, with `eval_s`, the seconds it took. It runs before the step's checkpoint,
   * so a run killed mid-evaluation redoes it on resume.
   */
  evaluate?: (ema: StateDict, step: number, config: DiTConfig) => Promise<TrainEvalMetrics>;
  /** Stop early (Ctrl-C): the loop writes a checkpoint and returns. */
  signal?: AbortSignal;
  backend?: "onnx" | "eager";
  /** The step as one graph ("fused"), or block by block recomputing activations ("staged", for models too big for one graph); "auto" (default) picks from an estimate of the fused step's memory (execution.ts). */
  execution?: Execution;
  /** Called with notes on how the run executes (which step execution was chosen and why). */
  onInfo?: (message: string) => void;
}

export interface TrainResult {
  step: number;
  /** Newest checkpoint written. */
  checkpoint?: string;
  state: TrainState;
  stopped: boolean;
  /** Last log record. */
  last?: LogRecord;
}

export class NonFiniteLossError extends DitError {
  override name = "NonFiniteLossError";
}

/** The run's log (`DIR/log.jsonl`) could not be written (a full disk, …). */
export class TrainLogError extends DitError {
  override name = "TrainLogError";
}

/** 32-bit hash of small integers (seeds of the per-step generators). */
function mix(...xs: number[]): number {
  let h = 0x811c9dc5;
  for (const x of xs) {
    h = Math.imul(h ^ (x >>> 0), 0x01000193);
    h ^= h >>> 15;
    h = Math.imul(h, 0x2c1b3c6d);
    h ^= h >>> 12;
  }
  return h >>> 0;
}

/** The sample order of one epoch: a permutation seeded by (seed, epoch). */
function epochOrder(seed: number, epoch: number, n: number): Int32Array {
  return new Rng(mix(seed, 0x0e0c, epoch)).permutation(n);
}

function checkSettings(s: TrainSettings): void {
  const posInt = (k: keyof TrainSettings) => {
    const v = s[k] as number;
    if (!Number.isInteger(v) || v <= 0) throw new RangeError(`train: ${k} must be a positive integer, got ${v}`);
  };
  for (const k of ["steps", "batchSize", "gradAccum", "ckptEvery", "logEvery"] as const) posInt(k);
  if (!Number.isInteger(s.sampleEvery) || s.sampleEvery < 0) throw new RangeError(`train: sampleEvery must be an integer ≥ 0, got ${s.sampleEvery}`);
  if (!Number.isInteger(s.evalEvery) || s.evalEvery < 0) throw new RangeError(`train: evalEvery must be an integer ≥ 0, got ${s.evalEvery}`);
  if (s.batchSize % s.gradAccum !== 0) throw new RangeError(`train: batchSize ${s.batchSize} is not divisible by gradAccum ${s.gradAccum}`);
  if (!(s.lr > 0)) throw new RangeError(`train: lr must be > 0, got ${s.lr}`);
  if (!(s.emaDecay >= 0 && s.emaDecay < 1)) throw new RangeError(`train: emaDecay must be in [0, 1), got ${s.emaDecay}`);
  if (!(s.flipProb >= 0 && s.flipProb <= 1)) throw new RangeError(`train: flipProb must be in [0, 1], got ${s.flipProb}`);
  if (!Number.isInteger(s.seed) || s.seed < 0) throw new RangeError(`train: seed must be an integer ≥ 0, got ${s.seed}`);
}

/** A fresh state from the official initialisation, or from `init` weights (label table resized if needed). */
function initialState(config: DiTConfig, seed: number, init?: StateDict): TrainState {
  const model = initParams(config, seed);
  if (init) {
    const shapes = paramShapes(config);
    for (const [k, shape] of shapes) {
      const t = init.get(k);
      if (!t) throw new CheckpointError(`fine-tuning: the initial weights lack '${k}' [${shape}]`);
      if (k === "y_embedder.embedding_table.weight" && t.shape[0] !== shape[0]) {
        // a different number of classes: keep the shared rows and the null class, new rows from N(0, 0.02)
        const hasNull = config.classDropoutProb > 0;
        const oldClasses = t.shape[0]! - (hasNull ? 1 : 0);
        model.set(k, resizeLabelTable(t, oldClasses, config.numClasses, hasNull, seed));
        continue;
      }
      if (t.shape.join() !== shape.join()) throw new CheckpointError(`fine-tuning: '${k}' is [${t.shape}], the model needs [${shape}]`);
      model.set(k, new Tensor(Float32Array.from(t.data as Float32Array), [...shape]));
    }
  }
  const names = trainedNames(config);
  return { step: 0, model, ema: cloneStateDict(model), adam: { step: 0, ...zeroMoments(model, names) } };
}

/**
 * Make `DIR/log.jsonl` the log of steps 1..`step` as a resumed run continues
 * it: keep the newline-terminated JSON lines of steps ≤ `step` in increasing
 * step order, and drop what came after the checkpoint, a torn last line (a
 * process killed mid-write) and any line that does not parse or repeats a
 * step. The log is rewritten atomically, and only when something changes, so
 * a kill during the rewrite leaves the old log whole.
 */
export function truncateLog(path: string, step: number): void {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch {
    return;
  }
  const lines = text.split("\n");
  lines.pop(); // after the last "\n": "" for a whole log, or a torn line
  const keep: string[] = [];
  let prev = -Infinity;
  for (const l of lines) {
    let s: unknown;
    try {
      s = (JSON.parse(l) as Partial<LogRecord> | null)?.step;
    } catch {
      continue;
    }
    if (typeof s !== "number" || !Number.isInteger(s) || s > step || s <= prev) continue;
    keep.push(l + "\n");
    prev = s;
  }
  const out = keep.join("");
  if (out !== text) writeFileAtomic(path, out);
}

/** Remove the temporary files of checkpoint writes that a killed process left in `DIR/checkpoints` (the caller holds the run lock). */
function removeStaleTemps(dir: string): void {
  for (const f of readdirSync(dir)) if (/^\.?\d{7,}\.safetensors\.\d+\.tmp$/.test(f)) rmSync(join(dir, f), { force: true });
}

/** Append one log line; a failed write (a full disk) is a one-line error naming the log. */
function appendLogLine(path: string, rec: LogRecord): void {
  try {
    appendFileSync(path, JSON.stringify(rec) + "\n");
  } catch (e) {
    throw new TrainLogError(`${path}: could not append the log line of step ${rec.step}: ${ioErrorReason(e)}`, { cause: e });
  }
}

/** Train a DiT; see the module comment. */
export async function train(opts: TrainOptions): Promise<TrainResult> {
  const s: TrainSettings = { ...OFFICIAL_RECIPE };
  for (const k of Object.keys(OFFICIAL_RECIPE) as (keyof TrainSettings)[]) if (opts[k] !== undefined) (s as unknown as Record<string, unknown>)[k] = opts[k];
  checkSettings(s);
  const data = opts.data;
  let config = validateConfig(opts.config);
  mkdirSync(join(opts.out, "checkpoints"), { recursive: true });
  const release = acquireRunLock(opts.out);
  removeStaleTemps(join(opts.out, "checkpoints"));
  const logPath = join(opts.out, "log.jsonl");
  let runner: TrainStepRunner | undefined;
  try {
    let state: TrainState;
    let resumedFrom: string | undefined;
    let wallBefore = 0; // training seconds of the run before this process (wall_s counts the whole run)
    const latest = opts.resume ? latestCheckpoint(opts.out) : undefined;
    if (latest) {
      const ck = loadCheckpoint(latest);
      config = ck.config;
      state = ck.state;
      resumedFrom = latest;
      wallBefore = typeof ck.info?.wall_s === "number" ? ck.info.wall_s : 0;
      if (ck.train.seed !== s.seed) throw new CheckpointError(`--resume: ${latest} was trained with seed ${ck.train.seed}, this run asks for ${s.seed}`);
    } else if (opts.resumeFrom) {
      config = opts.resumeFrom.config;
      state = opts.resumeFrom.state;
    } else {
      state = initialState(config, s.seed, opts.init);
    }
    const [C, H, W] = data.shape;
    if (C !== config.inChannels || H !== config.inputSize || W !== config.inputSize) {
      throw new ModelConfigError(`the data gives samples of ${C}×${H}×${W}, the model takes ${config.inChannels}×${config.inputSize}×${config.inputSize} (in_channels × input_size²)`);
    }
    if (config.numClasses > 1 && data.numClasses > config.numClasses) throw new ModelConfigError(`the data has ${data.numClasses} classes, the model ${config.numClasses}`);
    truncateLog(logPath, state.step); // a resumed run rewrites what came after its checkpoint

    const adamw: AdamWOptions = { lr: s.lr, betas: s.betas, eps: s.eps, weightDecay: s.weightDecay };
    const execution = !opts.execution || opts.execution === "auto" ? chooseExecution(config, s.batchSize / s.gradAccum, s.gradAccum > 1) : opts.execution;
    opts.onInfo?.(`train: ${execution === "staged" ? "staged step (block by block, recomputing activations)" : "fused step (one graph)"}${opts.execution === "fused" || opts.execution === "staged" ? "" : ", chosen from the estimated memory"}`);
    runner = createStepRunner(execution, config, createDiffusion(""), adamw, state, { backend: opts.backend });
    const nullClass = config.numClasses; // the label embedder's extra row (official LabelEmbedder.token_drop)
    const conditional = config.numClasses > 1;
    const dropProb = conditional ? config.classDropoutProb : 0;
    const micro = s.batchSize / s.gradAccum;
    const per = C * H * W;
    let order: { epoch: number; perm: Int32Array } | undefined;

    const meta = (): TrainMeta => ({ step: state.step, adam_step: state.adam.step, adam: adamMeta(adamw), seed: s.seed, data_position: state.step * s.batchSize, args: { ...s, ...(opts.args ?? {}) } });
    const t0 = performance.now();
    let written: string | undefined;
    let writtenStep = -1;
    const save = (): string => {
      const path = checkpointPath(opts.out, state.step);
      const vae = opts.vae && opts.vae !== "none" ? relative(dirname(path), resolve(opts.vae)) : undefined;
      try {
        saveCheckpoint(path, { config, state, train: meta(), classNames: data.classNames, vae, info: { wall_s: wallBefore + (performance.now() - t0) / 1000, resumed_from: resumedFrom } });
      } catch (e) {
        if (!(e instanceof CheckpointError)) throw e;
        const prev = written ?? resumedFrom;
        throw new CheckpointError(`${e.message}; ${prev ? `the previous checkpoint ${prev} is intact and a resumed run continues from it` : "no checkpoint of this run was written before"}`, { cause: e.cause });
      }
      written = path;
      writtenStep = state.step;
      return path;
    };

    /**
     * The batch of step `step`, split into gradAccum micro-batches: every draw
     * comes from one generator seeded by (seed, step), so the samples, flips,
     * labels, timesteps and noise do not depend on how the batch is split.
     */
    const drawBatch = async (step: number): Promise<MicroBatch[]> => {
      const B = s.batchSize;
      const rng = new Rng(mix(s.seed, step));
      const idx = new Int32Array(B);
      for (let j = 0; j < B; j++) {
        const pos = step * B + j;
        const epoch = Math.floor(pos / data.size);
        if (!order || order.epoch !== epoch) order = { epoch, perm: epochOrder(s.seed, epoch, data.size) };
        idx[j] = order.perm[pos % data.size]!;
      }
      const flips = Uint8Array.from({ length: B }, () => (rng.uniform() < s.flipProb ? 1 : 0));
      const drop = Uint8Array.from({ length: B }, () => (rng.uniform() < dropProb ? 1 : 0));
      const t = rng.ints(B, 1000);
      const noise = rng.normals(B * per);
      const { x, y } = await data.batch(idx, flips, rng);
      const labels = conditional ? y.map((v, j) => (drop[j] ? nullClass : v)) : new Int32Array(B); // token_drop: the null class
      return Array.from({ length: s.gradAccum }, (_, k) => {
        const [a, b] = [k * micro, (k + 1) * micro];
        return { x: new Tensor(x.slice(a * per, b * per), [micro, C, H, W]), t: t.slice(a, b), noise: new Tensor(noise.slice(a * per, b * per), [micro, C, H, W]), y: labels.slice(a, b) };
      });
    };

    let last: LogRecord | undefined;
    let acc = { n: 0, loss: 0, mse: 0, vb: 0, gn: 0, t: performance.now() };
    let stopped = false;
    while (state.step < s.steps) {
      const step = state.step;
      const batches = await drawBatch(step);
      const decay = s.emaWarmup ? Math.min(s.emaDecay, (1 + step) / (10 + step)) : s.emaDecay;
      const lastGood = written ?? resumedFrom;
      const stats = await runner.step(batches, s.lr, decay);
      if (!Number.isFinite(stats.loss)) {
        throw new NonFiniteLossError(`loss is ${stats.loss} at step ${step + 1}; training stopped${lastGood ? `, the last good checkpoint is ${lastGood}` : " before any checkpoint was written"} (try a lower --lr)`);
      }
      opts.onStep?.(state.step, stats);
      acc = { ...acc, n: acc.n + 1, loss: acc.loss + stats.loss, mse: acc.mse + stats.mse, vb: acc.vb + stats.vb, gn: acc.gn + stats.gradNorm };
      const evalNow = s.evalEvery > 0 && opts.evaluate !== undefined && state.step % s.evalEvery === 0;
      if (state.step % s.logEvery === 0 || state.step === s.steps || evalNow) {
        let now = performance.now();
        last = {
          step: state.step,
          loss: acc.loss / acc.n,
          mse: acc.mse / acc.n,
          vb: acc.vb / acc.n,
          grad_norm: acc.gn / acc.n,
          lr: s.lr,
          img_per_s: (acc.n * s.batchSize) / ((now - acc.t) / 1000),
          wall_s: wallBefore + (now - t0) / 1000,
        };
        if (evalNow) {
          const metrics = await opts.evaluate!(state.ema, state.step, config);
          const after = performance.now();
          last = { ...last, eval: metrics, eval_s: (after - now) / 1000 };
          now = after; // the next line's img/s counts training only
        }
        appendLogLine(logPath, last);
        opts.onLog?.(last);
        acc = { n: 0, loss: 0, mse: 0, vb: 0, gn: 0, t: now };
      }
      if (state.step % s.ckptEvery === 0) save();
      if (s.sampleEvery > 0 && state.step % s.sampleEvery === 0) await opts.onSample?.(state.ema, state.step);
      if (opts.signal?.aborted && state.step < s.steps) {
        stopped = true;
        break;
      }
    }
    if (writtenStep !== state.step) save();
    return { step: state.step, checkpoint: written, state, stopped, last };
  } finally {
    await runner?.dispose();
    await data.close?.();
    release();
  }
}
