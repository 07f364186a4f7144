/**
 * "Training too short for the ordering to appear?" — continue finished study
 * runs past the study's step count with the same recipe and evaluation, and
 * show the curve. Each run's final checkpoint (model, EMA, Adam moments, data
 * position) is copied to `<work>/<study>-longer/<run>/` and training resumes
 * from it exactly as the uninterrupted longer run would (the recipe's learning
 * rate is constant), evaluating FID-FMNIST of the EMA with the study's own
 * evaluation every --eval-every steps. Resumable: rerun the same command.
 *
 *   node --import tsx scripts/study-extend.ts --study scaling --runs M-4-seed0,M-2-seed0 --steps 3600 \
 *     [--eval-every 600] [--work out/studies] [--results docs/studies]
 *
 * Writes `<results>/<study>/longer/<run>.jsonl`: the study's rows format, the
 * study's own evaluations (up to its last step) followed by the new ones, and
 * `<results>/<study>/longer/<run>.png`, the final EMA's grid.
 */
import { copyFileSync, existsSync, mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { FASHION_MNIST_DIR } from "../src/data/dataset.js";
import { writeFileAtomic } from "../src/io/atomic-file.js";
import { openSampleFidEvaluator } from "../src/eval/sample-fid.js";
import { checkpointPath } from "../src/train/checkpoint.js";
import { openTrainData } from "../src/train/open-data.js";
import { writeSampleGrid } from "../src/train/sample-grid.js";
import { train, type LogRecord } from "../src/train/train.js";
import { packagePath } from "../src/study/latents.js";
import { checkSameSettings } from "../src/study/results.js";
import { studyWeights } from "../src/study/runner.js";
import { studyRuns, studySettings, toDiTConfig, type StudySettings, type TrainStudySettings } from "../src/study/settings.js";
import { rowsFromLog } from "../src/study/train-run.js";

const { values: a } = parseArgs({
  options: {
    study: { type: "string", default: "scaling" },
    runs: { type: "string" },
    steps: { type: "string" },
    "eval-every": { type: "string", default: "600" },
    work: { type: "string", default: "out/studies" },
    results: { type: "string", default: "docs/studies" },
    help: { type: "boolean", short: "h" },
  },
});
if (a.help || !a.runs || !a.steps) {
  process.stdout.write(readFileSync(new URL(import.meta.url), "utf8").split("*/")[0]!.replace(/^\/\*\*?\n?/, "").replace(/^ \* ?/gm, ""));
  process.exit(a.help ? 0 : 2);
}
const study = a.study as "scaling" | "ablation";
const s = studySettings(study, "full") as TrainStudySettings;
const stored = JSON.parse(readFileSync(join(a.results!, study, "study.json"), "utf8")) as { settings: StudySettings };
checkSameSettings(join(a.results!, study), stored.settings, { ...s, weights: await studyWeights(s) });
const steps = Number(a.steps);
const every = Number(a["eval-every"]);
if (!(steps > s.recipe.steps) || steps % every !== 0 || every % s.recipe.ckpt_every !== 0) throw new Error(`--steps ${steps} must exceed ${s.recipe.steps} and be a multiple of --eval-every ${every}, itself a multiple of ${s.recipe.ckpt_every}`);
const latents = join(a.work!, "latents", "fashion-mnist-train-all.latents");
const vae = packagePath(s.data.vae);
const outDir = join(a.results!, study, "longer");
mkdirSync(outDir, { recursive: true });

for (const id of a.runs.split(",")) {
  const run = studyRuns(s).find((r) => r.id === id);
  if (!run) throw new Error(`no run '${id}' in the ${study} study (runs: ${studyRuns(s).map((r) => r.id).join(", ")})`);
  const src = join(a.work!, study, id);
  const dir = join(a.work!, `${study}-longer`, id);
  if (!existsSync(join(dir, "checkpoints"))) {
    mkdirSync(join(dir, "checkpoints"), { recursive: true });
    copyFileSync(checkpointPath(src, s.recipe.steps), checkpointPath(dir, s.recipe.steps));
    copyFileSync(join(src, "log.jsonl"), join(dir, "log.jsonl"));
  }
  const config = toDiTConfig(run.config);
  const data = openTrainData(latents);
  const fid = await openSampleFidEvaluator({ net: s.eval.net, ref: FASHION_MNIST_DIR, split: "test", numSamples: s.eval.samples, vae, sampler: s.eval.sampler, steps: s.eval.steps, seed: s.eval.seed, cfgScale: s.eval.cfg_scale });
  let result;
  try {
    result = await train({
      config, data, out: dir, vae, steps, batchSize: s.recipe.batch_size, lr: s.recipe.lr, emaDecay: s.recipe.ema_decay, emaWarmup: s.recipe.ema_warmup,
      ckptEvery: s.recipe.ckpt_every, logEvery: 50, evalEvery: every,
      evaluate: async (ema, step, c) => {
        const r = await fid.evaluate(ema, c);
        process.stderr.write(`${id} step ${step}: FID ${r.fid.toFixed(2)}\n`);
        return r;
      },
      seed: run.seed, resume: true, execution: "fused", args: { study, run: id },
    });
  } finally {
    await fid.net.dispose();
  }
  const log = readFileSync(join(dir, "log.jsonl"), "utf8").split("\n").filter(Boolean).map((l) => JSON.parse(l) as LogRecord);
  const rows = rowsFromLog(log, s, run);
  writeFileAtomic(join(outDir, `${id}.jsonl`), rows.map((r) => JSON.stringify(r)).join("\n") + "\n");
  await writeSampleGrid(result.state.ema, join(outDir, `${id}.png`), { config, classNames: data.classNames, vae, perClass: s.grid.per_class, steps: s.grid.steps, cfgScale: s.grid.cfg_scale, seed: s.grid.seed });
  process.stderr.write(`${id}: ${rows.map((r) => `${r.step}: ${r.fid.toFixed(1)}`).join(", ")}\n`);
}
