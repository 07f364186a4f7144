/**
 * One run of the scaling or ablation study: train a config × seed with the
 * study's recipe via `train()` (resuming from the run folder's newest
 * checkpoint), evaluating FID-FMNIST of the EMA every `eval.every` steps, then
 * turn the log's evaluation lines into rows and write the final EMA's grid.
 */
import { readdirSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { openSampleFidEvaluator } from "../eval/sample-fid.js";
import type { StateDict } from "../io/state-dict.js";
import { checkpointPath } from "../train/checkpoint.js";
import { openTrainData } from "../train/open-data.js";
import { writeSampleGrid } from "../train/sample-grid.js";
import { train, type LogRecord } from "../train/train.js";
import { StudyError } from "./errors.js";
import { packagePath } from "./latents.js";
import { trainComputeGflops, type TrainRow } from "./rows.js";
import { configCost, toDiTConfig, type RunSpec, type TrainStudySettings } from "./settings.js";

export interface TrainRunOptions {
  settings: TrainStudySettings;
  run: RunSpec;
  /** The run folder (checkpoints/, log.jsonl). */
  dir: string;
  /** The latent file (latents.ts). */
  latents: string;
  /** The Fashion-MNIST folder (its test split is the FID reference). */
  datasetDir: string;
  /** Where to write the final EMA's sample grid, and how the rows refer to it. */
  grid: { path: string; ref: string };
  signal?: AbortSignal;
  /** After every step (the step just finished, of `recipe.steps`). */
  onStep?: (step: number, steps: number) => void;
  /** After every evaluation. */
  onEval?: (step: number, fid: number) => void;
}

export interface RunOutcome<R> {
  rows: R[];
  /** Stopped by the signal before finishing (no rows then). */
  stopped: boolean;
}

/** The evaluation lines of a training log, as rows (wall_s: training time, the evaluations' time subtracted). */
export function rowsFromLog(log: readonly LogRecord[], s: TrainStudySettings, run: RunSpec): TrainRow[] {
  const { gflops, params } = configCost(run.config);
  const rows: TrainRow[] = [];
  let evalSeconds = 0; // evaluations before this line (the line's own ran after its wall_s was taken)
  for (const rec of log) {
    if (rec.eval) {
      rows.push({
        study: s.study,
        run: run.id,
        config: run.config,
        seed: run.seed,
        gflops,
        params,
        step: rec.step,
        batch_size: s.recipe.batch_size,
        train_compute_gflops: trainComputeGflops(gflops, s.recipe.batch_size, rec.step),
        fid: rec.eval.fid,
        eval_samples: rec.eval.eval_samples,
        eval_sampler: s.eval.sampler,
        eval_steps: s.eval.steps,
        wall_s: rec.wall_s - evalSeconds,
      });
    }
    evalSeconds += rec.eval_s ?? 0;
  }
  return rows;
}

function readLog(path: string): LogRecord[] {
  return readFileSync(path, "utf8")
    .split("\n")
    .filter((l) => l.trim() !== "")
    .map((l) => JSON.parse(l) as LogRecord);
}

/** Delete every checkpoint but the final one (each holds model, EMA and Adam moments). */
function pruneCheckpoints(dir: string, keep: string): void {
  const ck = join(dir, "checkpoints");
  for (const f of readdirSync(ck)) if (join(ck, f) !== keep && f.endsWith(".safetensors")) rmSync(join(ck, f), { force: true });
}

/** The study's FID evaluator (its sampler, steps, sample count, network and reference); `seed` defaults to the study's. */
export function openStudyEvaluator(s: TrainStudySettings, datasetDir: string, seed: number = s.eval.seed): ReturnType<typeof openSampleFidEvaluator> {
  return openSampleFidEvaluator({ net: s.eval.net, ref: datasetDir, split: "test", numSamples: s.eval.samples, vae: packagePath(s.data.vae), sampler: s.eval.sampler, steps: s.eval.steps, seed, cfgScale: s.eval.cfg_scale });
}

export interface StudyTrainingOptions extends Omit<TrainRunOptions, "grid"> {
  /** Train up to this step (default the recipe's; more continues a finished run, as scripts/study-extend.ts does). */
  steps?: number;
  /** Evaluate every this many steps (default the study's eval.every). */
  evalEvery?: number;
}

/**
 * Train a run (resuming from its folder's newest checkpoint) with the study's recipe up to
 * `steps`, evaluating FID of the EMA every `evalEvery` steps with the study's evaluation.
 */
export async function trainWithStudyEval(o: StudyTrainingOptions): Promise<{ result: Awaited<ReturnType<typeof train>>; classNames?: string[] }> {
  const s = o.settings;
  const steps = o.steps ?? s.recipe.steps;
  const evalEvery = o.evalEvery ?? s.eval.every;
  const data = openTrainData(o.latents);
  const fid = await openStudyEvaluator(s, o.datasetDir);
  try {
    const result = await train({
      config: toDiTConfig(o.run.config),
      data,
      out: o.dir,
      vae: packagePath(s.data.vae),
      steps,
      batchSize: s.recipe.batch_size,
      lr: s.recipe.lr,
      emaDecay: s.recipe.ema_decay,
      emaWarmup: s.recipe.ema_warmup,
      ckptEvery: s.recipe.ckpt_every,
      logEvery: Math.min(50, evalEvery),
      evalEvery,
      evaluate: async (ema, step, c) => {
        const r = await fid.evaluate(ema, c);
        o.onEval?.(step, r.fid);
        return r;
      },
      seed: o.run.seed,
      resume: true,
      execution: "fused",
      signal: o.signal,
      args: { study: s.study, run: o.run.id },
      onStep: (step) => o.onStep?.(step, steps),
    });
    return { result, classNames: data.classNames };
  } finally {
    await fid.net.dispose();
  }
}

/** The evaluation rows of a run folder's training log (rowsFromLog of `<dir>/log.jsonl`). */
export function studyRowsFromRunDir(dir: string, s: TrainStudySettings, run: RunSpec): TrainRow[] {
  return rowsFromLog(readLog(join(dir, "log.jsonl")), s, run);
}

/** The study's sample grid of an EMA (its per-class count, sampler steps, guidance and seed). */
export async function writeStudyGrid(s: TrainStudySettings, run: RunSpec, ema: StateDict, classNames: string[] | undefined, path: string): Promise<void> {
  await writeSampleGrid(ema, path, { config: toDiTConfig(run.config), classNames, vae: packagePath(s.data.vae), perClass: s.grid.per_class, steps: s.grid.steps, cfgScale: s.grid.cfg_scale, seed: s.grid.seed });
}

/** Train one run to the end (or until `signal`); see the module comment. */
export async function trainStudyRun(o: TrainRunOptions): Promise<RunOutcome<TrainRow>> {
  const s = o.settings;
  const { result, classNames } = await trainWithStudyEval(o);
  if (result.stopped) return { rows: [], stopped: true };
  if (result.step !== s.recipe.steps) throw new StudyError(`${o.dir}: training ended at step ${result.step}, the study asks for ${s.recipe.steps}`);
  const rows = studyRowsFromRunDir(o.dir, s, o.run);
  const want = s.recipe.steps / s.eval.every;
  if (rows.length !== want) throw new StudyError(`${join(o.dir, "log.jsonl")}: ${rows.length} evaluation lines, the study asks for ${want} (every ${s.eval.every} of ${s.recipe.steps} steps)`);
  await writeStudyGrid(s, o.run, result.state.ema, classNames, o.grid.path);
  rows[rows.length - 1]!.grid = o.grid.ref;
  pruneCheckpoints(o.dir, checkpointPath(o.dir, s.recipe.steps));
  return { rows, stopped: false };
}
