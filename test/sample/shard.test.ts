/**
 * Sharded sample sets on a tiny model: 3 shards (one SIGKILLed mid-way and resumed) give the unsharded run's PNGs byte
 * for byte and, merged, its .npz byte for byte; other settings are refused naming the setting; an incomplete merge names
 * the missing images; --shard auto from Kubernetes / Slurm variables; --workers 2 end to end.
 */
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import {
  imageFileName,
  mergeShards,
  missingImages,
  parseShard,
  readNpz,
  sample,
  SampleError,
  sampleLabels,
  sampleShard,
  shardFromEnv,
  shardIndices,
  writeSampleOutputs,
  type SamplingOptions,
} from "../../src/index.js";
import { saveStateDict } from "../../src/io/state-dict.js";
import { tinyWeights, TINY_KWARGS, writeTinyModel } from "./tiny.js";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const tmp = mkdtempSync(join(tmpdir(), "dit-shard-"));
after(() => rmSync(tmp, { recursive: true, force: true }));
const model = writeTinyModel(join(tmp, "model"));

const N = 10;
/** Random labels (no classes), guidance: the settings of every run below. */
const OPTS: SamplingOptions = { model, sampler: "ddpm", numSamplingSteps: 6, numSamples: N, seed: 5, cfgScale: 2 };
const images = (dir: string) => readdirSync(dir).filter((f) => /^\d+\.png$/.test(f)).sort();

/** The unsharded run (batches of 4) into ref/ with its .npz. */
const refDir = join(tmp, "ref");
const refNpz = join(tmp, "ref.npz");
before(async () => {
  writeSampleOutputs(await sample({ ...OPTS, batchSize: 4 }), refDir, { npz: refNpz });
});

describe("shards", () => {
  const dir = join(tmp, "shards");
  it("3 shards, one SIGKILLed mid-way and restarted, give exactly the unsharded run's PNGs", async () => {
    assert.deepEqual(shardIndices(N, { index: 1, count: 3 }), [1, 4, 7]);
    // shard 1 in a real child process (batches of 1), killed with its process group once it has written an image
    const json = JSON.stringify({ ...OPTS, batchSize: 1 });
    const p = spawn(process.execPath, ["--import", "tsx", join("test", "sample", "shard-child.ts"), json, dir, "1", "3"], { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"], detached: true });
    let out = "";
    await new Promise<void>((resolve, reject) => {
      p.stdout.on("data", (d: Buffer) => {
        out += String(d);
        if (/written\n/.test(out)) process.kill(-p.pid!, "SIGKILL");
      });
      p.stderr.on("data", (d: Buffer) => (out += String(d)));
      p.on("exit", (code, sig) => (sig === "SIGKILL" ? resolve() : reject(new Error(`child ended with ${code}/${sig} before it was killed: ${out}`))));
    });
    const partial = images(dir);
    assert.ok(partial.length >= 1 && partial.length < 3, `the killed shard left ${partial.join(", ")}`);
    assert.ok(partial.every((f) => ["000001.png", "000004.png", "000007.png"].includes(f)));

    // the other shards (other batch sizes), then shard 1 again: it skips what is there
    const s0 = await sampleShard({ ...OPTS, batchSize: 3 }, { index: 0, count: 3, dir });
    assert.deepEqual(s0.written, [0, 3, 6, 9]);
    assert.equal(s0.createdManifest, false, "the killed shard created the manifest");
    await sampleShard({ ...OPTS, batchSize: 2 }, { index: 2, count: 3, dir });
    const s1 = await sampleShard({ ...OPTS, batchSize: 1 }, { index: 1, count: 3, dir });
    assert.deepEqual(s1.skipped.map(imageFileName), partial);
    assert.deepEqual([...s1.skipped, ...s1.written].sort(), [1, 4, 7]);
    // a finished shard run again writes nothing
    const again = await sampleShard({ ...OPTS, batchSize: 4 }, { index: 1, count: 3, dir });
    assert.deepEqual([again.written, again.skipped], [[], [1, 4, 7]]);

    assert.deepEqual(images(dir), images(refDir));
    assert.equal(images(dir).length, N);
    for (const f of images(refDir)) assert.ok(readFileSync(join(dir, f)).equals(readFileSync(join(refDir, f))), `${f} differs from the unsharded run's`);
  });

  it("the merged .npz is byte-identical to the unsharded run's --npz (arr_0 images, arr_1 labels)", () => {
    const npz = join(tmp, "merged.npz");
    const r = mergeShards(dir, npz);
    assert.deepEqual(r.shape, [N, 8, 8, 3]);
    assert.ok(readFileSync(npz).equals(readFileSync(refNpz)));
    const m = readNpz(npz);
    assert.deepEqual([...m.keys()], ["arr_0", "arr_1"]);
    assert.deepEqual(m.get("arr_1")!.data, sampleLabels(N, 3, undefined, 5));
    assert.ok(!readdirSync(dir).some((f) => f.endsWith(".tmp")), "no temporary file is left after the merge");
  });

  it("random labels are prefix-stable: image k's label depends on the seed and k, not on N", () => {
    assert.deepEqual(sampleLabels(4, 3, undefined, 5), sampleLabels(N, 3, undefined, 5).subarray(0, 4));
    assert.equal(new Set(sampleLabels(N, 3, undefined, 5)).size, 3);
  });

  it("a shard with other settings is refused, naming the setting, and writes nothing", async () => {
    const before = readdirSync(dir).sort();
    const refused = async (o: Partial<SamplingOptions>, what: RegExp) =>
      assert.rejects(sampleShard({ ...OPTS, ...o }, { index: 0, count: 3, dir }), (e: Error) => e instanceof SampleError && /refuses to write/.test(e.message) && what.test(e.message));
    await refused({ numSamplingSteps: 5 }, /sampling steps: folder 6, this run 5/);
    await refused({ seed: 6 }, /seed: folder 5, this run 6/);
    await refused({ cfgScale: 3 }, /guidance scale: folder 2, this run 3/);
    await refused({ numSamples: 12 }, /number of samples: folder 10, this run 12/);
    await refused({ sampler: "ddim", numSamplingSteps: 10 }, /sampler: folder "ddpm", this run "ddim"/);
    await refused({ classes: [1] }, /classes: folder null, this run \[1\]/);
    // other weights, same architecture
    const other = join(tmp, "other");
    mkdirSync(other, { recursive: true });
    saveStateDict(join(other, "dit.safetensors"), tinyWeights(undefined, 9), { config: JSON.stringify(TINY_KWARGS) });
    await refused({ model: join(other, "dit.safetensors"), vae: join(model, "vae") }, /checkpoint \(SHA-256 of the DiT weights\): folder "[0-9a-f]{64}", this run "[0-9a-f]{64}"/);
    assert.deepEqual(readdirSync(dir).sort(), before);
    // a plain run's folder is not a shard folder
    await assert.rejects(sampleShard(OPTS, { index: 0, count: 3, dir: refDir }), /plain \(unsharded\) dit sample run/);
  });

  it("merging an incomplete set names the missing indices", async () => {
    const part = join(tmp, "part");
    await sampleShard({ ...OPTS, numSamplingSteps: 2 }, { index: 0, count: 3, dir: part });
    assert.deepEqual(missingImages(part), [1, 2, 4, 5, 7, 8]);
    assert.throws(() => mergeShards(part, join(tmp, "part.npz")), (e: Error) => e instanceof SampleError && /6 of 10 images missing: 1–2, 4–5, 7–8\./.test(e.message));
    assert.ok(!existsSync(join(tmp, "part.npz")));
    assert.throws(() => mergeShards(refDir, join(tmp, "x.npz")), /plain \(unsharded\)/);
  });
});

describe("--shard i/n and --shard auto", () => {
  const rejects = (f: () => unknown, re: RegExp) => assert.throws(f, (e: Error) => e instanceof SampleError && re.test(e.message));
  it("i/n, numbered from 0", () => {
    assert.deepEqual(parseShard("2/4", {}), { index: 2, count: 4 });
    rejects(() => parseShard("4/4", {}), /index must be an integer in 0\.\.3 \(shards are numbered from 0\), got 4/);
    rejects(() => parseShard("1/0", {}), /count must be a positive integer, got 0/);
    rejects(() => parseShard("two", {}), /--shard must be i\/n/);
    rejects(() => parseShard("-1/3", {}), /must be a non-negative integer, got '-1'/);
  });
  it("Kubernetes Indexed Job: JOB_COMPLETION_INDEX with the count from auto/n or DIT_SHARD_COUNT", () => {
    assert.deepEqual(parseShard("auto/8", { JOB_COMPLETION_INDEX: "3" }), { index: 3, count: 8 });
    assert.deepEqual(shardFromEnv({ JOB_COMPLETION_INDEX: "0", DIT_SHARD_COUNT: "2" }), { index: 0, count: 2 });
    rejects(() => parseShard("auto", { JOB_COMPLETION_INDEX: "3" }), /gives the shard index but Kubernetes does not give the count: use --shard auto\/N .* or set DIT_SHARD_COUNT/);
    rejects(() => parseShard("auto/4", { JOB_COMPLETION_INDEX: "4" }), /JOB_COMPLETION_INDEX=4 is not below the shard count 4/);
    rejects(() => parseShard("auto/4", { JOB_COMPLETION_INDEX: "1", DIT_SHARD_COUNT: "5" }), /auto\/4 disagrees with DIT_SHARD_COUNT=5/);
    rejects(() => shardFromEnv({ JOB_COMPLETION_INDEX: "x", DIT_SHARD_COUNT: "5" }), /JOB_COMPLETION_INDEX must be a non-negative integer, got 'x'/);
  });
  it("Slurm array: (SLURM_ARRAY_TASK_ID − MIN) / STEP of SLURM_ARRAY_TASK_COUNT", () => {
    assert.deepEqual(shardFromEnv({ SLURM_ARRAY_TASK_ID: "5", SLURM_ARRAY_TASK_COUNT: "8", SLURM_ARRAY_TASK_MIN: "0" }), { index: 5, count: 8 });
    assert.deepEqual(shardFromEnv({ SLURM_ARRAY_TASK_ID: "8", SLURM_ARRAY_TASK_COUNT: "8", SLURM_ARRAY_TASK_MIN: "1" }), { index: 7, count: 8 }); // --array=1-8
    assert.deepEqual(shardFromEnv({ SLURM_ARRAY_TASK_ID: "6", SLURM_ARRAY_TASK_COUNT: "4", SLURM_ARRAY_TASK_MIN: "0", SLURM_ARRAY_TASK_STEP: "2" }), { index: 3, count: 4 }); // --array=0-6:2
    assert.deepEqual(parseShard("auto/8", { SLURM_ARRAY_TASK_ID: "2", SLURM_ARRAY_TASK_COUNT: "8" }), { index: 2, count: 8 });
    rejects(() => parseShard("auto/4", { SLURM_ARRAY_TASK_ID: "2", SLURM_ARRAY_TASK_COUNT: "8" }), /auto\/4 disagrees with SLURM_ARRAY_TASK_COUNT=8/);
    rejects(() => shardFromEnv({ SLURM_ARRAY_TASK_ID: "2" }), /SLURM_ARRAY_TASK_COUNT is not/);
    rejects(() => shardFromEnv({ SLURM_ARRAY_TASK_ID: "9", SLURM_ARRAY_TASK_COUNT: "8", SLURM_ARRAY_TASK_MIN: "0" }), /shard 9 .* but the array has 8 tasks/);
    rejects(() => shardFromEnv({ SLURM_ARRAY_TASK_ID: "1", SLURM_ARRAY_TASK_COUNT: "8", SLURM_ARRAY_TASK_MIN: "2" }), /not on the array's range/);
  });
  it("neither, or both: a clear error", () => {
    rejects(() => parseShard("auto", {}), /found neither JOB_COMPLETION_INDEX \(a Kubernetes Indexed Job\) nor SLURM_ARRAY_TASK_ID \(a Slurm job array\)/);
    rejects(() => shardFromEnv({ JOB_COMPLETION_INDEX: "1", SLURM_ARRAY_TASK_ID: "1", SLURM_ARRAY_TASK_COUNT: "2" }), /both JOB_COMPLETION_INDEX .* and SLURM_ARRAY_TASK_ID/);
  });
});

describe("dit sample --workers / --shard / --merge", () => {
  const dit = (...args: string[]) => spawnSync(process.execPath, [join(ROOT, "bin/dit.mjs"), "sample", ...args], { cwd: tmp, encoding: "utf8" });
  const settings = ["--ckpt", model, "--sampler", "ddpm", "--num-sampling-steps", "6", "--num-samples", String(N), "--seed", "5", "--cfg-scale", "2"];
  it("--workers 2 makes the set in 2 processes and merges it: the unsharded run's .npz, byte for byte", () => {
    const out = join(tmp, "workers");
    const npz = join(tmp, "workers.npz");
    const r = dit(...settings, "--workers", "2", "--out", out, "--npz", npz, "--json");
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(JSON.parse(r.stdout), { dir: out, workers: 2, images: N, npz });
    assert.ok(readFileSync(npz).equals(readFileSync(refNpz)));
  });
  it("--shard writes its images and says how far the set is; --merge of an incomplete set fails naming the gaps", () => {
    const out = join(tmp, "cli-shard");
    const r = dit(...settings, "--num-sampling-steps", "2", "--shard", "1/4", "--out", out);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /shard 1\/4: wrote 3 images to .*cli-shard\/; the set has 3 of 10/);
    assert.deepEqual(images(out), ["000001.png", "000005.png", "000009.png"]);
    const m = dit("--merge", out, "--npz", join(tmp, "cli.npz"));
    assert.equal(m.status, 1);
    assert.match(m.stderr, /7 of 10 images missing: 0, 2–4, 6–8\./);
  });
});
