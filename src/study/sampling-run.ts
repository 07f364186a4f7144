/**
 * One run of the sampling-compute study: a scaling run's final EMA checkpoint
 * sampled with each number of steps (the paper's Fig. 10), FID-FMNIST of a
 * fixed sample set each time (the same noise and labels, no guidance).
 * Finished evaluations are kept in the run folder, so an interrupted run only
 * redoes the evaluation in progress.
 */
import { appendFileSync, existsSync, mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { openSampleFidEvaluator } from "../eval/sample-fid.js";
import { checkpointPath, loadCheckpoint } from "../train/checkpoint.js";
import { StudyError } from "./errors.js";
import { packagePath } from "./latents.js";
import type { SamplingRow } from "./rows.js";
import { configCost, type RunSpec, type SamplingStudySettings } from "./settings.js";
import type { RunOutcome } from "./train-run.js";

export interface SamplingRunOptions {
  settings: SamplingStudySettings;
  run: RunSpec;
  /** The scaling run's folder (its final checkpoint is sampled). */
  scalingDir: string;
  /** This run's folder (evaluations done so far). */
  dir: string;
  datasetDir: string;
  signal?: AbortSignal;
  /** After each evaluation: how many of the sampling-step counts are done. */
  onEval?: (done: number, total: number, row: SamplingRow) => void;
}

/** Rows already measured (a torn last line from a crash is dropped). */
function readPartial(path: string): SamplingRow[] {
  if (!existsSync(path)) return [];
  const rows: SamplingRow[] = [];
  for (const l of readFileSync(path, "utf8").split("\n")) {
    try {
      if (l.trim()) rows.push(JSON.parse(l) as SamplingRow);
    } catch {
      /* a line cut short by a crash: that evaluation is redone */
    }
  }
  return rows;
}

/** Sample one scaling checkpoint with every step count; see the module comment. */
export async function samplingStudyRun(o: SamplingRunOptions): Promise<RunOutcome<SamplingRow>> {
  const s = o.settings;
  const trainStep = s.scaling.recipe.steps;
  const ckpt = checkpointPath(o.scalingDir, trainStep);
  if (!existsSync(ckpt)) {
    throw new StudyError(
      `sampling-compute needs the final checkpoint of scaling run ${o.run.id} (${ckpt}), which is not there: ` +
        `run 'dit study scaling --preset ${s.preset}' with the same --work folder first (checkpoints are not committed, only results)`,
    );
  }
  const ck = loadCheckpoint(ckpt);
  const { gflops, params } = configCost(o.run.config);
  mkdirSync(o.dir, { recursive: true });
  const partialPath = join(o.dir, "rows.partial.jsonl");
  const have = new Map(readPartial(partialPath).filter((r) => r.train_step === trainStep && r.run === o.run.id).map((r) => [r.sampling_steps, r]));
  const vae = packagePath(s.scaling.data.vae);
  const rows: SamplingRow[] = [];
  for (const n of s.sampling_steps) {
    const done = have.get(n);
    if (done) {
      rows.push(done);
      continue;
    }
    if (o.signal?.aborted) return { rows: [], stopped: true };
    const t0 = performance.now();
    const fid = await openSampleFidEvaluator({ net: s.net, ref: o.datasetDir, split: "test", numSamples: s.samples, vae, sampler: s.sampler, steps: n, seed: s.seed, cfgScale: s.cfg_scale });
    let r;
    try {
      r = await fid.evaluate(ck.state.ema, ck.config);
    } finally {
      await fid.net.dispose();
    }
    const row: SamplingRow = {
      study: "sampling-compute",
      run: o.run.id,
      config: o.run.config,
      gflops,
      params,
      train_step: trainStep,
      sampler: s.sampler,
      sampling_steps: n,
      sampling_compute_gflops: gflops * n,
      fid: r.fid,
      eval_samples: r.eval_samples,
      wall_s: (performance.now() - t0) / 1000,
    };
    appendFileSync(partialPath, JSON.stringify(row) + "\n");
    rows.push(row);
    o.onEval?.(rows.length, s.sampling_steps.length, row);
  }
  return { rows, stopped: false };
}
