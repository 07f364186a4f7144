/** Timing helpers for benchmarks: warm-up, then the median of repeated runs. */
import { performance } from "node:perf_hooks";

export interface Timing {
  medianMs: number;
  runs: number[];
}

export async function timeIt(fn: () => unknown, opts: { warmup?: number; runs?: number } = {}): Promise<Timing> {
  const warmup = opts.warmup ?? 1;
  const n = Math.max(5, opts.runs ?? 5);
  for (let i = 0; i < warmup; i++) await fn();
  const runs: number[] = [];
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    await fn();
    runs.push(performance.now() - t0);
  }
  const sorted = [...runs].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  const medianMs = sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
  return { medianMs, runs };
}

/**
 * Time several functions interleaved (A, B, A, B, …) after a warm-up of each,
 * so that a ratio between them is measured under the same machine load.
 */
export async function timeInterleaved(fns: (() => unknown)[], opts: { warmup?: number; runs?: number } = {}): Promise<Timing[]> {
  const warmup = opts.warmup ?? 1;
  const n = Math.max(5, opts.runs ?? 5);
  for (const fn of fns) for (let i = 0; i < warmup; i++) await fn();
  const runs: number[][] = fns.map(() => []);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < fns.length; j++) {
      const t0 = performance.now();
      await fns[j]!();
      runs[j]!.push(performance.now() - t0);
    }
  }
  return runs.map((r) => {
    const sorted = [...r].sort((a, b) => a - b);
    const mid = sorted.length >> 1;
    return { medianMs: sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2, runs: r };
  });
}
