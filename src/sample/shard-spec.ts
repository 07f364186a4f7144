/**
 * Which shard of a sample set a process makes: `--shard i/n` given outright,
 * or `--shard auto` read from the engine that started the process — a
 * Kubernetes Indexed Job (`JOB_COMPLETION_INDEX`) or a Slurm job array
 * (`SLURM_ARRAY_TASK_ID`, …). Shard i of n makes the images whose index
 * k ≡ i (mod n).
 */
import { SampleError } from "./errors.js";

/** Shard `index` of `count` (0 ≤ index < count): the images k ≡ index (mod count). */
export interface ShardSpec {
  index: number;
  count: number;
}

/** The environment variable giving the shard count to `--shard auto` in a Kubernetes Indexed Job (its `completions`). */
export const SHARD_COUNT_ENV = "DIT_SHARD_COUNT";

/** The image indices of shard `index`/`count` among `numSamples` images: index, index + count, … < numSamples. */
export function shardIndices(numSamples: number, shard: ShardSpec): number[] {
  checkShard(shard);
  const out: number[] = [];
  for (let k = shard.index; k < numSamples; k += shard.count) out.push(k);
  return out;
}

/** Throws SampleError unless count ≥ 1 and 0 ≤ index < count are integers. */
export function checkShard(s: ShardSpec, where = "--shard"): ShardSpec {
  if (!Number.isSafeInteger(s.count) || s.count < 1) throw new SampleError(`${where}: the shard count must be a positive integer, got ${s.count}`);
  if (!Number.isSafeInteger(s.index) || s.index < 0 || s.index >= s.count) throw new SampleError(`${where}: the shard index must be an integer in 0..${s.count - 1} (shards are numbered from 0), got ${s.index}`);
  return s;
}

/** A non-negative integer from an environment variable or argument, or a SampleError naming it. */
function whole(text: string, what: string): number {
  const t = text.trim();
  if (!/^\d+$/.test(t)) throw new SampleError(`${what} must be a non-negative integer, got '${text}'`);
  return Number(t);
}

type Env = Readonly<Record<string, string | undefined>>;

/**
 * The shard from the environment: a Kubernetes Indexed Job sets
 * JOB_COMPLETION_INDEX (0..completions−1) but not the count, which comes from
 * `count` (`--shard auto/n`) or DIT_SHARD_COUNT; a Slurm array sets
 * SLURM_ARRAY_TASK_ID, SLURM_ARRAY_TASK_COUNT, SLURM_ARRAY_TASK_MIN and
 * SLURM_ARRAY_TASK_STEP, and shard = (id − min) / step (so `--array=1-8`
 * works as well as `--array=0-7`). A given `count` must agree with the
 * engine's. Throws SampleError when the variables are missing or inconsistent.
 */
export function shardFromEnv(env: Env, count?: number): ShardSpec {
  const has = (k: string) => env[k] !== undefined && env[k]!.trim() !== "";
  const k8s = has("JOB_COMPLETION_INDEX");
  const slurm = has("SLURM_ARRAY_TASK_ID");
  if (k8s && slurm) throw new SampleError(`--shard auto: both JOB_COMPLETION_INDEX (Kubernetes) and SLURM_ARRAY_TASK_ID (Slurm) are set; give --shard i/n explicitly`);
  if (k8s) {
    const index = whole(env.JOB_COMPLETION_INDEX!, "JOB_COMPLETION_INDEX");
    const fromEnv = has(SHARD_COUNT_ENV) ? whole(env[SHARD_COUNT_ENV]!, SHARD_COUNT_ENV) : undefined;
    if (count === undefined && fromEnv === undefined) {
      throw new SampleError(`--shard auto: JOB_COMPLETION_INDEX=${index} gives the shard index but Kubernetes does not give the count: use --shard auto/N (N = the Job's completions) or set ${SHARD_COUNT_ENV}`);
    }
    if (count !== undefined && fromEnv !== undefined && count !== fromEnv) throw new SampleError(`--shard auto/${count} disagrees with ${SHARD_COUNT_ENV}=${fromEnv}`);
    const n = count ?? fromEnv!;
    if (index >= n) throw new SampleError(`--shard auto: JOB_COMPLETION_INDEX=${index} is not below the shard count ${n}: the Job's completions and the count must be equal`);
    return checkShard({ index, count: n }, "--shard auto");
  }
  if (slurm) {
    const id = whole(env.SLURM_ARRAY_TASK_ID!, "SLURM_ARRAY_TASK_ID");
    if (!has("SLURM_ARRAY_TASK_COUNT")) throw new SampleError(`--shard auto: SLURM_ARRAY_TASK_ID=${id} is set but SLURM_ARRAY_TASK_COUNT is not (is this a job array? sbatch --array=0-N)`);
    const n = whole(env.SLURM_ARRAY_TASK_COUNT!, "SLURM_ARRAY_TASK_COUNT");
    const min = has("SLURM_ARRAY_TASK_MIN") ? whole(env.SLURM_ARRAY_TASK_MIN!, "SLURM_ARRAY_TASK_MIN") : 0;
    const step = has("SLURM_ARRAY_TASK_STEP") ? whole(env.SLURM_ARRAY_TASK_STEP!, "SLURM_ARRAY_TASK_STEP") : 1;
    if (step < 1) throw new SampleError(`--shard auto: SLURM_ARRAY_TASK_STEP must be ≥ 1, got ${step}`);
    if (id < min || (id - min) % step !== 0) {
      throw new SampleError(`--shard auto: SLURM_ARRAY_TASK_ID=${id} is not on the array's range (SLURM_ARRAY_TASK_MIN=${min}, step ${step}); use a plain range, e.g. sbatch --array=0-${n - 1}`);
    }
    const index = (id - min) / step;
    if (count !== undefined && count !== n) throw new SampleError(`--shard auto/${count} disagrees with SLURM_ARRAY_TASK_COUNT=${n}`);
    if (index >= n) {
      throw new SampleError(`--shard auto: SLURM_ARRAY_TASK_ID=${id} is shard ${index} (from SLURM_ARRAY_TASK_MIN=${min}, step ${step}) but the array has ${n} tasks; use a plain range, e.g. sbatch --array=0-${n - 1}`);
    }
    return checkShard({ index, count: n }, "--shard auto");
  }
  throw new SampleError(
    `--shard auto found neither JOB_COMPLETION_INDEX (a Kubernetes Indexed Job) nor SLURM_ARRAY_TASK_ID (a Slurm job array); outside them give --shard i/n, or --workers k on one machine`,
  );
}

/**
 * Parse `--shard`: "i/n" (shard i of n, from 0), "auto" or "auto/n" (from
 * the environment, see `shardFromEnv`).
 */
export function parseShard(text: string, env: Env = process.env): ShardSpec {
  const t = text.trim();
  const auto = /^auto(?:\/(.*))?$/.exec(t);
  if (auto) return shardFromEnv(env, auto[1] === undefined ? undefined : whole(auto[1], "--shard auto/N: N"));
  const m = /^(.*)\/(.*)$/.exec(t);
  if (!m) throw new SampleError(`--shard must be i/n (shard i of n, numbered from 0, e.g. 0/4), auto or auto/n, got '${text}'`);
  return checkShard({ index: whole(m[1]!, "--shard i/n: i"), count: whole(m[2]!, "--shard i/n: n") });
}
