/**
 * The study runner end to end on the smoke presets (toy sizes, 8 steps): rows
 * follow the schema the report reads, training compute = Gflops × batch ×
 * step × 3, finished runs are skipped (also with the work folder gone), other
 * settings are refused by name, an interrupted run resumes to the same FIDs
 * as an uninterrupted one, workers; the smoke presets' wall times are printed (not asserted).
 */
import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, writeFileSync, mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { FASHION_MNIST_DIR } from "../../src/data/dataset.js";
import { DEFAULTS, validateConfig } from "../../src/model/config.js";
import { countParams, gflops } from "../../src/model/flops.js";
import { checkpointPath, loadCheckpoint } from "../../src/train/checkpoint.js";
import { runStudy, StudyError, studyRuns, studySettings, StudySettingsError, type SamplingRow, type SamplingStudySettings, type StudyName, type StudyRow, type TrainRow, type TrainStudySettings } from "../../src/study/index.js";
import { smokeStudies } from "./smoke-results.js";

const MAIN = fileURLToPath(new URL("../../src/cli/main.ts", import.meta.url));
const haveData = existsSync(join(FASHION_MNIST_DIR, "train-images-idx3-ubyte.gz")) && existsSync(join(FASHION_MNIST_DIR, "t10k-images-idx3-ubyte.gz"));
const skip = haveData ? false : `Fashion-MNIST not found in ${FASHION_MNIST_DIR} (apt-get install dataset-fashion-mnist)`;

const CONFIG_KEYS = ["block", "depth", "hidden_size", "in_channels", "input_size", "name", "num_heads", "patch_size"];
const TRAIN_KEYS = ["batch_size", "config", "eval_sampler", "eval_samples", "eval_steps", "fid", "gflops", "params", "run", "seed", "step", "study", "train_compute_gflops", "wall_s"];
const SAMPLING_KEYS = ["config", "eval_samples", "fid", "gflops", "params", "run", "sampler", "sampling_compute_gflops", "sampling_steps", "study", "train_step", "wall_s"];

/** Gflops and params of a row's config, from flops.ts on a config built here. */
function cost(c: TrainRow["config"]): { gflops: number; params: number } {
  const d = validateConfig({ ...DEFAULTS, inputSize: c.input_size, inChannels: c.in_channels, patchSize: c.patch_size, hiddenSize: c.hidden_size, depth: c.depth, numHeads: c.num_heads, numClasses: 10, block: c.block });
  return { gflops: gflops(d), params: countParams(d) };
}

function close(a: number, b: number, what: string): void {
  assert.ok(Math.abs(a - b) <= 1e-9 * Math.max(1, Math.abs(b)), `${what}: ${a} ≠ ${b}`);
}

function checkTrainRows(rows: StudyRow[], s: TrainStudySettings, results: string): void {
  const runs = studyRuns(s);
  const points = s.recipe.steps / s.eval.every;
  assert.equal(rows.length, runs.length * points, "one row per evaluation point of every run");
  for (const [i, run] of runs.entries()) {
    const mine = rows.slice(i * points, (i + 1) * points) as TrainRow[];
    for (const [j, r] of mine.entries()) {
      const last = j === points - 1;
      assert.deepEqual(Object.keys(r).sort(), last ? [...TRAIN_KEYS, "grid"].sort() : TRAIN_KEYS, `keys of ${run.id} row ${j}`);
      assert.deepEqual(Object.keys(r.config).sort(), CONFIG_KEYS);
      assert.equal(r.study, s.study);
      assert.equal(r.run, run.id);
      assert.deepEqual(r.config, run.config);
      assert.equal(r.seed, run.seed);
      assert.equal(r.step, (j + 1) * s.eval.every, "evaluations at every, 2·every, …, steps");
      assert.equal(r.batch_size, s.recipe.batch_size);
      const c = cost(r.config);
      close(r.gflops, c.gflops, "gflops");
      assert.equal(r.params, c.params);
      close(r.train_compute_gflops, r.gflops * r.batch_size * r.step * 3, "train_compute_gflops = gflops × batch × step × 3");
      assert.ok(Number.isFinite(r.fid) && r.fid > 0, `fid ${r.fid}`);
      assert.equal(r.eval_samples, s.eval.samples);
      assert.equal(r.eval_sampler, s.eval.sampler);
      assert.equal(r.eval_steps, s.eval.steps);
      assert.ok(r.wall_s > 0 && (j === 0 || r.wall_s >= mine[j - 1]!.wall_s), `wall_s grows: ${r.wall_s}`);
      if (last) {
        assert.equal(r.grid, `grids/${run.id}.png`);
        const png = readFileSync(join(results, s.study, r.grid!));
        assert.equal(png.subarray(1, 4).toString("latin1"), "PNG");
      }
    }
  }
}

describe("dit study: smoke presets end to end", { skip }, () => {
  const root = haveData ? mkdtempSync(join(tmpdir(), "dit-study-")) : "";
  const work = join(root, "work");
  const results = join(root, "results");
  let smoke: Awaited<ReturnType<typeof smokeStudies>>;

  before(async () => {
    smoke = await smokeStudies(root, { workers: { ablation: 2 } });
  });
  after(() => rmSync(root, { recursive: true, force: true }));

  it("scaling: every run finished, rows follow the schema, compute = gflops × batch × step × 3", (ctx) => {
    // Wall times are reported, not asserted: speed belongs in benchmarks, and CI machines are loaded.
    ctx.diagnostic(`smoke seconds: ${JSON.stringify(Object.fromEntries(Object.entries(smoke).map(([k, v]) => [k, Math.round(v.seconds)])))}`);
    const s = studySettings("scaling", "smoke") as TrainStudySettings;
    assert.deepEqual(smoke.scaling.result.finished, studyRuns(s).map((r) => r.id));
    checkTrainRows(smoke.scaling.rows, s, results);
    const gf = smoke.scaling.rows.map((r) => r.gflops);
    assert.ok(Math.max(...gf) / Math.min(...gf) > 10, "the smoke grid spans > 10× in Gflops");
  });

  it("ablation (2 workers): 4 blocks × 2 seeds, rows follow the schema", () => {
    const s = studySettings("ablation", "smoke") as TrainStudySettings;
    assert.equal(smoke.ablation.result.finished.length, 8);
    checkTrainRows(smoke.ablation.rows, s, results);
    assert.deepEqual([...new Set(smoke.ablation.rows.map((r) => r.config.block))], ["adaLN-Zero", "adaLN", "cross-attention", "in-context"]);
  });

  it("sampling-compute: each scaling checkpoint at each step count, compute = gflops × steps", () => {
    const s = studySettings("sampling-compute", "smoke") as SamplingStudySettings;
    const runs = studyRuns(s);
    const rows = smoke["sampling-compute"].rows as SamplingRow[];
    assert.equal(rows.length, runs.length * s.sampling_steps.length);
    for (const [i, r] of rows.entries()) {
      const run = runs[Math.floor(i / s.sampling_steps.length)]!;
      assert.deepEqual(Object.keys(r).sort(), SAMPLING_KEYS);
      assert.equal(r.study, "sampling-compute");
      assert.equal(r.run, run.id);
      assert.deepEqual(r.config, run.config);
      assert.equal(r.train_step, s.scaling.recipe.steps);
      assert.equal(r.sampler, "ddpm");
      assert.equal(r.sampling_steps, s.sampling_steps[i % s.sampling_steps.length]);
      const c = cost(r.config);
      close(r.gflops, c.gflops, "gflops");
      assert.equal(r.params, c.params);
      close(r.sampling_compute_gflops, r.gflops * r.sampling_steps, "sampling_compute_gflops = gflops × steps");
      assert.ok(Number.isFinite(r.fid) && r.fid > 0);
      assert.equal(r.eval_samples, s.samples);
      assert.ok(r.wall_s > 0);
    }
  });

  it("study.json records the settings, the command and the machine", () => {
    const f = JSON.parse(readFileSync(join(results, "scaling", "study.json"), "utf8")) as { settings: unknown; command: string; machine: { cpu: string; cores: number; node: string; dit_ts: string }; sittings: unknown[] };
    const w = (f.settings as TrainStudySettings).weights;
    assert.match(w?.vae ?? "", /^[0-9a-f]{16}$/);
    assert.match(w?.eval_net ?? "", /^fmnist:[0-9a-f]{16}$/);
    assert.deepEqual(f.settings, { ...studySettings("scaling", "smoke"), weights: w });
    assert.equal(f.command, "dit study scaling --preset smoke");
    assert.equal(f.machine.node, process.version);
    assert.ok(f.machine.cpu.length > 0 && f.machine.cores >= 1 && f.machine.dit_ts.length > 0);
    assert.equal(f.sittings.length, 1);
  });

  it("a rerun skips the finished runs, fast, retraining nothing", async () => {
    const file = join(results, "scaling", "runs", "T-4-seed0.jsonl");
    const before = statSync(file).mtimeMs;
    const t0 = performance.now();
    const r = await runStudy("scaling", { preset: "smoke", work, results });
    assert.deepEqual(r.finished, []);
    assert.equal(r.skipped.length, 9);
    assert.ok(performance.now() - t0 < 5000, `rerun took ${(performance.now() - t0).toFixed(0)} ms`);
    assert.equal(statSync(file).mtimeMs, before);
  });

  it("refuses a results folder made with other settings, naming the setting", async () => {
    const s = studySettings("scaling", "smoke") as TrainStudySettings;
    const steps = { ...s, recipe: { ...s.recipe, steps: 16 } };
    await assert.rejects(runStudy("scaling", { settings: steps, work: join(root, "other-work"), results }), (e: unknown) => e instanceof StudySettingsError && e.setting === "recipe.steps" && /recipe\.steps is 8 there, 16 here/.test(e.message));
    const width = { ...s, configs: s.configs.map((c, i) => (i === 4 ? { ...c, hidden_size: 48 } : c)) };
    await assert.rejects(runStudy("scaling", { settings: width, work: join(root, "other-work"), results }), (e: unknown) => e instanceof StudySettingsError && e.setting === "configs[4].hidden_size");
    // results made with other weights of the FID network (a retrained classifier)
    const other = join(root, "other-net", "scaling");
    mkdirSync(other, { recursive: true });
    const f = JSON.parse(readFileSync(join(results, "scaling", "study.json"), "utf8")) as { settings: TrainStudySettings };
    writeFileSync(join(other, "study.json"), JSON.stringify({ ...f, settings: { ...f.settings, weights: { ...f.settings.weights!, eval_net: "fmnist:0000000000000000" } } }));
    await assert.rejects(runStudy("scaling", { preset: "smoke", work: join(root, "other-work"), results: join(root, "other-net") }), (e: unknown) => e instanceof StudySettingsError && e.setting === "weights.eval_net");
    // and a work folder trained with other settings
    await assert.rejects(runStudy("scaling", { settings: steps, work, results: join(root, "other-results") }), (e: unknown) => e instanceof StudySettingsError && e.setting === "recipe.steps" && e.folder === join(work, "scaling"));
    assert.equal(existsSync(join(root, "other-results", "scaling", "study.json")), false, "a refused study writes nothing");
  });

  it("sampling-compute without the scaling checkpoints says which run to train", async () => {
    await assert.rejects(runStudy("sampling-compute", { preset: "smoke", work: join(root, "empty-work"), results: join(root, "empty-results") }), (e: unknown) => e instanceof StudyError && /scaling run T-4-seed0/.test(e.message) && /dit study scaling --preset smoke/.test(e.message));
  });

  it("the CLI: --help on each study, --json of a finished study (skipped, nothing run)", () => {
    const cli = (args: string[]) => spawnSync(process.execPath, ["--import", "tsx", MAIN, ...args], { encoding: "utf8", timeout: 60_000 });
    for (const study of ["scaling", "ablation", "sampling-compute"]) {
      const h = cli(["study", study, "--help"]);
      assert.equal(h.status, 0, h.stderr);
      assert.match(h.stdout, /--preset <name>/);
      assert.match(h.stdout, /--workers <k>/);
      assert.match(h.stdout, /--git-commit/);
    }
    const r = cli(["study", "ablation", "--preset", "smoke", "--work", work, "--results", results, "--json"]);
    assert.equal(r.status, 0, r.stderr);
    const j = JSON.parse(r.stdout) as { study: string; preset: string; total: number; skipped: string[]; finished: string[]; stopped: boolean };
    assert.deepEqual([j.study, j.preset, j.total, j.skipped.length, j.finished.length, j.stopped], ["ablation", "smoke", 8, 8, 0, false]);
    const bad = cli(["study", "scaling", "--preset", "huge"]);
    assert.notEqual(bad.status, 0);
    assert.match(bad.stderr, /full, smoke/);
  });

  it("--git-commit commits each finished run's rows, grid and study.json, and nothing else", async () => {
    const repo = join(root, "repo");
    const git = (...args: string[]) => execFileSync("git", args, { cwd: repo, encoding: "utf8" });
    mkdirSync(repo);
    git("init", "-q");
    git("config", "user.email", "test@example.com");
    git("config", "user.name", "test");
    writeFileSync(join(repo, "other.txt"), "someone else's file\n");
    git("add", "other.txt");
    git("commit", "-q", "-m", "base");
    writeFileSync(join(repo, "other.txt"), "someone else's uncommitted work\n");
    const s = studySettings("scaling", "smoke") as TrainStudySettings;
    const two: TrainStudySettings = { ...s, configs: s.configs.slice(0, 2) };
    const r = await runStudy("scaling", { settings: two, work: join(root, "git-work"), results: join(repo, "docs", "studies"), gitCommit: true });
    assert.deepEqual(r.finished, ["T-4-seed0", "T-2-seed0"]);
    assert.equal(git("log", "--format=%s").trim().split("\n").length, 3, "one commit per finished run");
    assert.deepEqual(git("show", "--name-only", "--format=", "HEAD").trim().split("\n").sort(), ["docs/studies/scaling/grids/T-2-seed0.png", "docs/studies/scaling/runs/T-2-seed0.jsonl"]);
    assert.deepEqual(git("show", "--name-only", "--format=", "HEAD~1").trim().split("\n").sort(), ["docs/studies/scaling/grids/T-4-seed0.png", "docs/studies/scaling/runs/T-4-seed0.jsonl", "docs/studies/scaling/study.json"]);
    assert.equal(git("status", "--porcelain").trim(), "M other.txt", "others' work stays uncommitted");
  });

  it("with the work folder gone, committed results still count as done", async () => {
    rmSync(work, { recursive: true, force: true });
    for (const study of ["scaling", "ablation", "sampling-compute"] as StudyName[]) {
      const r = await runStudy(study, { preset: "smoke", work, results });
      assert.deepEqual(r.finished, [], study);
      assert.equal(r.skipped.length, studyRuns(studySettings(study, "smoke")).length);
    }
    assert.equal(existsSync(work), false, "nothing was trained or extracted");
  });

  it("an interrupted run resumes from its checkpoint to the uninterrupted run's weights and FIDs", async () => {
    const s = studySettings("scaling", "smoke") as TrainStudySettings;
    const one: TrainStudySettings = { ...s, configs: [s.configs[1]!] }; // T/2 alone: another study folder
    const w = join(root, "resume-work");
    const res = join(root, "resume-results");
    const ctrl = new AbortController();
    const first = await runStudy("scaling", { settings: one, work: w, results: res, signal: ctrl.signal, onProgress: (e) => e.kind === "step" && e.step === 5 && ctrl.abort() });
    assert.equal(first.stopped, true);
    assert.deepEqual(first.finished, []);
    assert.equal(existsSync(join(res, "scaling", "runs", "T-2-seed0.jsonl")), false, "no rows file for an unfinished run");
    assert.ok(existsSync(checkpointPath(join(w, "scaling", "T-2-seed0"), 5)), "a checkpoint at the step it stopped");
    const steps: number[] = [];
    const second = await runStudy("scaling", { settings: one, work: w, results: res, onProgress: (e) => e.kind === "step" && steps.push(e.step) });
    assert.deepEqual(second.finished, ["T-2-seed0"]);
    assert.deepEqual(steps, [6, 7, 8], "continued after step 5, not from scratch");
    // the same run uninterrupted, now (the FID network is the same for both)
    await runStudy("scaling", { settings: one, work: join(root, "twin-work"), results: join(root, "twin-results") });
    const ema = (dir: string) => loadCheckpoint(checkpointPath(join(dir, "scaling", "T-2-seed0"), 8)).state.ema;
    const [a, b] = [ema(w), ema(join(root, "twin-work"))];
    assert.deepEqual([...a.keys()].sort(), [...b.keys()].sort());
    for (const [k, t] of a) assert.deepEqual(Array.from(t.data as Float32Array), Array.from(b.get(k)!.data as Float32Array), `EMA ${k} bit-identical`);
    const resumed = studyRowsOf(res, "T-2-seed0");
    const straight = studyRowsOf(join(root, "twin-results"), "T-2-seed0");
    assert.deepEqual(resumed.map((r) => r.step), straight.map((r) => r.step));
    for (const [i, r] of resumed.entries()) assert.ok(Math.abs(r.fid - straight[i]!.fid) <= 1e-6 * straight[i]!.fid, `step ${r.step}: FID ${r.fid} resumed, ${straight[i]!.fid} uninterrupted`);
  });
});

function studyRowsOf(results: string, run: string): TrainRow[] {
  return readFileSync(join(results, "scaling", "runs", `${run}.jsonl`), "utf8")
    .split("\n")
    .filter((l) => l.trim())
    .map((l) => JSON.parse(l) as TrainRow);
}
