/**
 * Sharded, resumable sample sets: `sampleShard` makes shard i of n of an
 * N-image set in a folder shared by all shards — the images k ≡ i (mod n),
 * each `NNNNNN.png` named by its index k. Image k's noise and label depend
 * on (seed, k) alone, and its pixels not on the batch it falls in, so the n
 * shards together are, file for file, the images of one unsharded run.
 *
 * - Resumable: images already in the folder are skipped, so a killed shard
 *   picks up where it stopped. Each PNG is written atomically (temp file,
 *   fsync, rename) right after its batch, so none is ever half-written.
 * - Guarded: the folder's settings manifest (see shard-manifest.ts) is
 *   created by the first shard; a shard with other settings is refused.
 */
import { existsSync, mkdirSync } from "node:fs";
import { join, resolve } from "node:path";
import { writeFileAtomic } from "../io/atomic-file.js";
import { encodePng } from "./png.js";
import { planSample, runSamplePlan, type SamplePlan, type SamplingOptions } from "./sample.js";
import { ensureShardManifest, imageFileName, shardManifest, type ShardSettings } from "./shard-manifest.js";
import { checkShard, shardIndices, type ShardSpec } from "./shard-spec.js";

/** Where a shard writes: shard `index` of `count` into folder `dir`. */
export interface ShardTarget extends ShardSpec {
  dir: string;
}

/** Progress over the shard's images (those already on disk count as done from the start). */
export interface ShardProgress {
  /** Images of this shard on disk, including a fraction of the batch being sampled. */
  done: number;
  /** Images in this shard. */
  total: number;
  /** Images found on disk at the start. */
  skipped: number;
}

export interface ShardResult {
  /** The folder (resolved). */
  dir: string;
  shard: ShardSpec;
  /** The settings of the folder (its manifest). */
  settings: ShardSettings;
  /** Whether this run created the folder's manifest. */
  createdManifest: boolean;
  /** Every image index of the shard. */
  indices: number[];
  /** Indices found on disk, not sampled again. */
  skipped: number[];
  /** Indices sampled and written by this run. */
  written: number[];
}

/**
 * Make a validated plan's shard `target.index`/`target.count` in
 * `target.dir`: check or create the settings manifest (refusing other
 * settings), skip the images already there, sample the rest in batches of
 * plan.batchSize, and write each batch's PNGs atomically as it finishes.
 */
export async function runShardPlan(plan: SamplePlan, target: ShardTarget, onProgress?: (p: ShardProgress) => void): Promise<ShardResult> {
  const shard = checkShard({ index: target.index, count: target.count });
  const dir = resolve(target.dir);
  mkdirSync(dir, { recursive: true });
  const manifest = shardManifest(plan);
  const createdManifest = ensureShardManifest(dir, manifest);
  const indices = shardIndices(plan.labels.length, shard);
  const onDisk = (k: number) => existsSync(join(dir, imageFileName(k)));
  const skipped = indices.filter(onDisk);
  const todo = indices.filter((k) => !onDisk(k));
  const [H, W, C] = plan.image;
  const written: number[] = [];
  const total = indices.length;
  onProgress?.({ done: skipped.length, total, skipped: skipped.length });
  if (todo.length > 0) {
    await runSamplePlan(
      plan,
      (p) => onProgress?.({ done: skipped.length + Math.min(todo.length, Math.floor((todo.length * p.step) / p.totalSteps)), total, skipped: skipped.length }),
      {
        indices: todo,
        onBatch: (ids, pixels) => {
          ids.forEach((k, i) => {
            const path = join(dir, imageFileName(k));
            if (existsSync(path)) return; // another process made it meanwhile (the same bytes): nothing twice
            writeFileAtomic(path, encodePng(pixels.subarray(i * H * W * C, (i + 1) * H * W * C), H, W, C));
            written.push(k);
          });
        },
      },
    );
  }
  onProgress?.({ done: total, total, skipped: skipped.length });
  return { dir, shard, settings: manifest.settings, createdManifest, indices, skipped, written };
}

/**
 * Shard `target.index` of `target.count` of the N-image set `opts`
 * describes, into `target.dir` (see `runShardPlan`). Images k ≡ index
 * (mod count); the union of all shards equals `sample(opts)` image for image.
 */
export async function sampleShard(opts: SamplingOptions, target: ShardTarget, onProgress?: (p: ShardProgress) => void): Promise<ShardResult> {
  checkShard({ index: target.index, count: target.count });
  return runShardPlan(await planSample(opts), target, onProgress);
}
