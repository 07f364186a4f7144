/**
 * One run of the scaling or ablation study: train a config × seed with the
 * study's recipe via `train()` (resuming from the run folder's newest
 * checkpoint), evaluating FID-FMNIST of the EMA every `eval.every` steps, then
 * turn the log's evaluation lines into rows and write the final EMA's grid.
 */
import { readdirSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { openSampleFidEvaluator } from "../eval/sample-fid.js";
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

/** Train one run to the end (or until `signal`); see the module comment. */
export async function trainStudyRun(o: TrainRunOptions): Promise<RunOutcome<TrainRow>> {
  const s = o.settings;
  const config = toDiTConfig(o.run.config);
  const vae = packagePath(s.data.vae);
  const data = openTrainData(o.latents);
  const fid = await openSampleFidEvaluator({ net: s.eval.net, ref: o.datasetDir, split: "test", numSamples: s.eval.samples, vae, sampler: s.eval.sampler, steps: s.eval.steps, seed: s.eval.seed, cfgScale: s.eval.cfg_scale });
  let result;
  try {
    result = await train({
      config,
      data,
      out: o.dir,
      vae,
      steps: s.recipe.steps,
      batchSize: s.recipe.batch_size,
      lr: s.recipe.lr,
      emaDecay: s.recipe.ema_decay,
      emaWarmup: s.recipe.ema_warmup,
      ckptEvery: s.recipe.ckpt_every,
      logEvery: Math.min(50, s.eval.every),
      evalEvery: s.eval.every,
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
      onStep: (step) => o.onStep?.(step, s.recipe.steps),
    });
  } finally {
    await fid.net.dispose();
  }
  if (result.stopped) return { rows: [], stopped: true };
  if (result.step !== s.recipe.steps) throw new StudyError(`${o.dir}: training ended at step ${result.step}, the study asks for ${s.recipe.steps}`);
  const rows = rowsFromLog(readLog(join(o.dir, "log.jsonl")), s, o.run);
  const want = s.recipe.steps / s.eval.every;
  if (rows.length !== want) throw new StudyError(`${join(o.dir, "log.jsonl")}: ${rows.length} evaluation lines, the study asks for ${want} (every ${s.eval.every} of ${s.recipe.steps} steps)`);
  await writeSampleGrid(result.state.ema, o.grid.path, { config, classNames: data.classNames, vae, perClass: s.grid.per_class, steps: s.grid.steps, cfgScale: s.grid.cfg_scale, seed: s.grid.seed });
  rows[rows.length - 1]!.grid = o.grid.ref;
  pruneCheckpoints(o.dir, checkpointPath(o.dir, s.recipe.steps));
  return { rows, stopped: false };
}
