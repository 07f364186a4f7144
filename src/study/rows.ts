/**
 * The raw results: one JSON object per line, `docs/studies/<study>/runs/<run>.jsonl`.
 * This schema is the contract with the report (`dit study report`).
 */
import type { SamplerName } from "../sample/sample.js";
import type { StudyConfig } from "./settings.js";
import { StudyError } from "./errors.js";

/** A scaling or ablation row: one evaluation point of one run. */
export interface TrainRow {
  study: "scaling" | "ablation";
  run: string;
  config: StudyConfig;
  seed: number;
  /** Forward Gflops per image (flops.ts, the paper's count). */
  gflops: number;
  params: number;
  step: number;
  batch_size: number;
  /** gflops × batch_size × step × 3 (forward + backward ≈ 3 forwards, as the paper counts training compute). */
  train_compute_gflops: number;
  /** FID-FMNIST of the EMA model's samples. */
  fid: number;
  eval_samples: number;
  eval_sampler: SamplerName;
  eval_steps: number;
  /** Training wall time up to this step (seconds; evaluations excluded). */
  wall_s: number;
  /** The final EMA's sample grid, relative to docs/studies/<study>/ (on the run's last row only). */
  grid?: string;
}

/** A sampling-compute row: one scaling run's final EMA sampled with `sampling_steps` steps. */
export interface SamplingRow {
  study: "sampling-compute";
  run: string;
  config: StudyConfig;
  gflops: number;
  params: number;
  /** The checkpoint's training step. */
  train_step: number;
  sampler: SamplerName;
  sampling_steps: number;
  /** gflops × sampling_steps: forward Gflops to sample one image. */
  sampling_compute_gflops: number;
  fid: number;
  eval_samples: number;
  /** Seconds this evaluation took (sampling + features). */
  wall_s: number;
}

export type StudyRow = TrainRow | SamplingRow;

/** Training compute as the paper counts it: forward Gflops × batch × steps × 3. */
export function trainComputeGflops(gflops: number, batchSize: number, step: number): number {
  return gflops * batchSize * step * 3;
}

/** Rows as JSONL text. */
export function rowsToJsonl(rows: readonly StudyRow[]): string {
  return rows.map((r) => JSON.stringify(r) + "\n").join("");
}

/** Parse a JSONL file's text into rows (blank lines skipped). */
export function parseRows(text: string, where = "rows"): StudyRow[] {
  return text
    .split("\n")
    .filter((l) => l.trim() !== "")
    .map((l, i) => {
      try {
        return JSON.parse(l) as StudyRow;
      } catch (e) {
        throw new StudyError(`${where}:${i + 1}: not JSON (${(e as Error).message})`, { cause: e });
      }
    });
}
