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
import { copyFileSync, existsSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { FASHION_MNIST_DIR } from "../src/data/dataset.js";
import { writeFileAtomic } from "../src/io/atomic-file.js";
import { checkpointPath } from "../src/train/checkpoint.js";
import { studyRuns } from "../src/study/settings.js";
import { studyRowsFromRunDir, trainWithStudyEval, writeStudyGrid } from "../src/study/train-run.js";
import { committedStudySettings, exitWithUsage } from "./study-script.js";

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
if (a.help || !a.runs || !a.steps) exitWithUsage(import.meta.url, !!a.help);
const study = a.study as "scaling" | "ablation";
const s = await committedStudySettings(a.results!, study);
const steps = Number(a.steps);
const every = Number(a["eval-every"]);
if (!(steps > s.recipe.steps) || steps % every !== 0 || every % s.recipe.ckpt_every !== 0) throw new Error(`--steps ${steps} must exceed ${s.recipe.steps} and be a multiple of --eval-every ${every}, itself a multiple of ${s.recipe.ckpt_every}`);
const latents = join(a.work!, "latents", "fashion-mnist-train-all.latents");
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
  const { result, classNames } = await trainWithStudyEval({
    settings: s, run, dir, latents, datasetDir: FASHION_MNIST_DIR, steps, evalEvery: every,
    onEval: (step, fid) => process.stderr.write(`${id} step ${step}: FID ${fid.toFixed(2)}\n`),
  });
  const rows = studyRowsFromRunDir(dir, s, run);
  writeFileAtomic(join(outDir, `${id}.jsonl`), rows.map((r) => JSON.stringify(r)).join("\n") + "\n");
  await writeStudyGrid(s, run, result.state.ema, classNames, join(outDir, `${id}.png`));
  process.stderr.write(`${id}: ${rows.map((r) => `${r.step}: ${r.fid.toFixed(1)}`).join(", ")}\n`);
}
