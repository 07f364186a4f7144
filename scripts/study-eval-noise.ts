/**
 * How much of a study's FID differences is evaluation noise? Re-evaluates the
 * final EMA checkpoint of finished study runs with the study's own evaluation
 * (same sampler, steps, sample count, network and reference) under other
 * evaluation seeds, i.e. other noise for the same balanced labels. Seed 0 is
 * the study's own: it must give the committed row's FID again (a check that
 * the re-evaluation is the same measurement).
 *
 *   node --import tsx scripts/study-eval-noise.ts --study scaling --runs M-1-seed0,M-2-seed0 \
 *     [--seeds 0,1,2,3] [--work out/studies] [--results docs/studies] [--out FILE.jsonl] [--longer]
 *
 * --longer: the runs continued by scripts/study-extend.ts instead (rows in
 * <results>/<study>/longer/, checkpoints in <work>/<study>-longer/), at their last step.
 *
 * One JSON line per (run, seed) on stdout (and appended to --out, where a line
 * already there for that run and seed is not redone): run, config, step,
 * eval_seed, fid, study_fid (the committed row, seed 0's target).
 */
import { appendFileSync, existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { FASHION_MNIST_DIR } from "../src/data/dataset.js";
import { checkpointPath, loadCheckpoint } from "../src/train/checkpoint.js";
import { readStudyResults, type TrainingRow } from "../src/study/report-rows.js";
import { openStudyEvaluator } from "../src/study/train-run.js";
import { committedStudySettings, exitWithUsage } from "./study-script.js";

const { values: a } = parseArgs({
  options: {
    study: { type: "string", default: "scaling" },
    runs: { type: "string" },
    seeds: { type: "string", default: "0,1,2,3" },
    work: { type: "string", default: "out/studies" },
    results: { type: "string", default: "docs/studies" },
    out: { type: "string" },
    longer: { type: "boolean", default: false },
    help: { type: "boolean", short: "h" },
  },
});
if (a.help || !a.runs) exitWithUsage(import.meta.url, !!a.help);
const study = a.study as "scaling" | "ablation";
const s = await committedStudySettings(a.results!, study);
const seeds = a.seeds!.split(",").map(Number);
const done = new Set<string>();
if (a.out && existsSync(a.out)) for (const l of readFileSync(a.out, "utf8").split("\n").filter(Boolean)) { const r = JSON.parse(l) as { run: string; step: number; eval_seed: number }; done.add(`${r.run}/${r.step}/${r.eval_seed}`); }

// the committed rows, read and checked as the report reads them
const results = readStudyResults(a.results!, study);
const allRows = (a.longer ? results.longerRows : results.rows) as TrainingRow[];
// one evaluator per evaluation seed, shared by every run
const evaluators = new Map<number, Awaited<ReturnType<typeof openStudyEvaluator>>>();
const evaluator = async (seed: number) => evaluators.get(seed) ?? evaluators.set(seed, await openStudyEvaluator(s, FASHION_MNIST_DIR, seed)).get(seed)!;

try {
  for (const run of a.runs.split(",")) {
    const rows = allRows.filter((r) => r.run === run);
    if (rows.length === 0) throw new Error(`${run}: no rows in ${join(a.results!, study, a.longer ? "longer" : "runs")}`);
    const last = rows.reduce((x, y) => (y.step > x.step ? y : x));
    if (!a.longer && last.step !== s.recipe.steps) throw new Error(`${run}: not finished (last row at step ${last.step})`);
    const ck = loadCheckpoint(checkpointPath(join(a.work!, a.longer ? `${study}-longer` : study, run), last.step));
    for (const seed of seeds) {
      if (done.has(`${run}/${last.step}/${seed}`)) continue;
      const r = await (await evaluator(seed)).evaluate(ck.state.ema, ck.config);
      const line = JSON.stringify({ study, run, config: study === "ablation" ? last.config.block : last.config.name, step: last.step, eval_seed: seed, fid: r.fid, study_fid: last.fid, eval_samples: r.eval_samples });
      process.stdout.write(line + "\n");
      if (a.out) appendFileSync(a.out, line + "\n");
    }
  }
} finally {
  for (const e of evaluators.values()) await e.net.dispose();
}
