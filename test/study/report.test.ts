/**
 * `dit study report` (src/study/report.ts): correlations against hand-worked
 * values and against an independent implementation run on the raw rows; a
 * point of each curve in each plot's Vega-Lite data; the three hypotheses
 * flipping with the data; real SVG/PNG files; the "Why" placeholder and
 * analysis.md; malformed rows refused with file and line before anything is
 * written; a study without results skipped; the CLI.
 *
 * Fixtures: test/study/fixtures/report-basic/<study>/ hold hand-made rows
 * (3 sizes × 3 patches, 4 blocks × 2 seeds, 3 configs × 4 sampling steps).
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { after, before, describe, it } from "node:test";
import { PNG } from "pngjs";
import {
  analyzeAblation,
  analyzeSampling,
  analyzeScaling,
  CorrelationError,
  pearson,
  ranks,
  readStudyResults,
  reportMarkdown,
  spearman,
  studyReport,
  StudyResultsError,
  type AblationSummary,
  type SamplingSummary,
  type ScalingSummary,
  type StudyReportResult,
  type TrainingRow,
} from "../../src/study/report.js";
import type { SamplingRow } from "../../src/study/report-rows.js";

const FIXTURES = fileURLToPath(new URL("./fixtures/", import.meta.url));
const BASIC = join(FIXTURES, "report-basic");
const BIN = fileURLToPath(new URL("../../bin/dit.mjs", import.meta.url));
const tmp = mkdtempSync(join(tmpdir(), "dit-report-"));
after(() => rmSync(tmp, { recursive: true, force: true }));

/** A fresh copy of a fixture results folder. */
function copy(src: string, name: string): string {
  const dst = join(tmp, name);
  cpSync(src, dst, { recursive: true });
  return dst;
}

/** Raw rows of a fixture study, read here without the code under test. */
function rawRows<T>(dir: string, study: string): T[] {
  const runs = join(dir, study, "runs");
  return readdirSync(runs)
    .filter((f) => f.endsWith(".jsonl"))
    .flatMap((f) => readFileSync(join(runs, f), "utf8").split("\n").filter(Boolean).map((l) => JSON.parse(l) as T));
}

// ---- an independent correlation: O(n²) mid-ranks and the sums-of-products formula
function midRank(x: number[]): number[] {
  return x.map((v) => x.filter((w) => w < v).length + (x.filter((w) => w === v).length + 1) / 2);
}
function refPearson(x: number[], y: number[]): number {
  const n = x.length;
  const sx = x.reduce((a, b) => a + b, 0);
  const sy = y.reduce((a, b) => a + b, 0);
  const sxy = x.reduce((a, v, i) => a + v * y[i]!, 0);
  const sxx = x.reduce((a, v) => a + v * v, 0);
  const syy = y.reduce((a, v) => a + v * v, 0);
  return (n * sxy - sx * sy) / Math.sqrt((n * sxx - sx * sx) * (n * syy - sy * sy));
}
const refSpearman = (x: number[], y: number[]) => refPearson(midRank(x), midRank(y));
const close = (a: number, b: number, tol = 1e-12) => assert.ok(Math.abs(a - b) <= tol, `${a} vs ${b}`);

/** Final (max step) FID and Gflops per run, from raw scaling rows. */
function finals(rows: TrainingRow[]): { run: string; gflops: number; params: number; fid: number }[] {
  const last = Math.max(...rows.map((r) => r.step));
  return rows.filter((r) => r.step === last).map((r) => ({ run: r.run, gflops: r.gflops, params: r.params, fid: r.fid }));
}

describe("correlations (src/study/stats.ts)", () => {
  it("Pearson r matches a hand-worked value", () => {
    // x = 1,2,3; y = 2,4,7: Σdxdy = 5, Σdx² = 2, Σdy² = 114/9 → r = 15/√228
    close(pearson([1, 2, 3], [2, 4, 7]), 15 / Math.sqrt(228));
    close(pearson([1, 2, 3], [6, 4, 2]), -1);
  });

  it("Spearman ρ gives tied values their average rank", () => {
    assert.deepEqual(ranks([10, 20, 20, 30]), [1, 2.5, 2.5, 4]);
    assert.deepEqual(ranks([5, 5, 5]), [2, 2, 2]);
    // ranks x = 1, 2.5, 2.5, 4 and y = 1, 3, 2, 4: Σdxdy = 4.5, Σdx² = 4.5, Σdy² = 5 → ρ = 3/√10
    close(spearman([1, 2, 2, 3], [1, 3, 2, 4]), 3 / Math.sqrt(10));
    // no ties: 1 − 6Σd²/(n(n²−1)) with d = 0,0,1,1 (n = 4) → 1 − 12/60 = 0.8
    close(spearman([1, 2, 3, 4], [10, 20, 40, 30]), 0.8);
    // monotone but not linear: ρ = 1, r < 1
    close(spearman([1, 2, 3, 4], [1, 10, 100, 1000]), 1);
    assert.ok(pearson([1, 2, 3, 4], [1, 10, 100, 1000]) < 0.9);
  });

  it("refuses undefined correlations with a clear error", () => {
    assert.throws(() => pearson([1, 2, 3], [4, 4, 4]), (e: Error) => e instanceof CorrelationError && /y is constant/.test(e.message));
    assert.throws(() => spearman([1, 2], [1, 2, 3]), /x has 2 values and y 3/);
    assert.throws(() => pearson([1], [1]), /at least 2 pairs/);
    assert.throws(() => pearson([1, NaN], [1, 2]), /x\[1\] is NaN/);
  });
});

describe("dit study report on hand-made rows", () => {
  let dir: string;
  let r: StudyReportResult;
  const summary = <T>(study: string) => r.studies.find((s) => s.study === study)!.summary as T;
  const spec = (study: string, plot: string) => r.studies.find((s) => s.study === study)!.plots.find((p) => p.name === plot)!.spec as { data: { values: Record<string, unknown>[] } };

  before(async () => {
    dir = copy(BASIC, "basic");
    // grids for some runs only: the others must say "no grid"
    for (const [study, runs] of [
      ["scaling", ["S-1", "M-2", "L-1"]],
      ["ablation", ["adaLN-Zero-s0", "in-context-s1"]],
    ] as const) {
      mkdirSync(join(dir, study, "grids"), { recursive: true });
      for (const run of runs) writeFileSync(join(dir, study, "grids", `${run}.png`), PNG.sync.write(new PNG({ width: 8, height: 8 })));
    }
    r = await studyReport({ results: dir, scale: 1 });
  });

  it("writes SVG and valid PNG plots, REPORT.md per study and the index", () => {
    const want = { scaling: ["fid-vs-steps", "fid-vs-compute", "fid-vs-gflops"], ablation: ["ablation"], "sampling-compute": ["fid-vs-sampling-compute"] } as const;
    for (const [study, names] of Object.entries(want)) {
      const e = r.studies.find((s) => s.study === study)!;
      assert.equal(e.status, "reported");
      assert.deepEqual(e.plots.map((p) => p.name), [...names]);
      for (const name of names) {
        const svg = readFileSync(join(dir, study, `${name}.svg`), "utf8");
        assert.match(svg, /^<svg[\s\S]*<\/svg>\s*$/);
        const bytes = readFileSync(join(dir, study, `${name}.png`));
        assert.deepEqual([...bytes.subarray(0, 8)], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a], "PNG signature");
        const png = PNG.sync.read(bytes);
        assert.ok(png.width > 400 && png.height > 300, `${name}: ${png.width}×${png.height}`);
      }
      assert.ok(existsSync(join(dir, study, "REPORT.md")));
    }
    assert.match(readFileSync(join(dir, "README.md"), "utf8"), /\[Report\]\(scaling\/REPORT\.md\)/);
    assert.equal(readdirSync(join(dir, "scaling")).filter((f) => f.endsWith(".tmp")).length, 0, "no temporary files left");
  });

  it("prints the correlations an independent implementation computes from the raw rows", () => {
    const f = finals(rawRows<TrainingRow>(dir, "scaling"));
    const rho = refSpearman(f.map((x) => x.gflops), f.map((x) => x.fid));
    const rLog = refPearson(f.map((x) => Math.log10(x.gflops)), f.map((x) => x.fid));
    const rhoParams = refSpearman(f.map((x) => x.params), f.map((x) => x.fid));
    close(rho, -(1 - (6 * 2) / (9 * 80))); // by hand: FID falls with Gflops but for one adjacent swap (S/1, M/4) of 9 configs
    const s = summary<ScalingSummary>("scaling");
    close(s.correlations.spearmanGflops!, rho);
    close(s.correlations.pearsonLogGflops!, rLog);
    close(s.correlations.spearmanParams!, rhoParams);
    const md = readFileSync(join(dir, "scaling", "REPORT.md"), "utf8");
    assert.ok(md.includes(`| Spearman ρ of forward Gflops and FID (hypothesis 1) | ${rho.toFixed(3)} |`), "Spearman in the table");
    assert.ok(md.includes(`| Pearson r of log10(forward Gflops) and FID (as the paper's Fig. 8: −0.93) | ${rLog.toFixed(3)} |`), "Pearson in the table");
    const sub = (spec("scaling", "fid-vs-gflops") as unknown as { title: { subtitle: string[] } }).title.subtitle.join(" ");
    assert.ok(sub.includes(`Spearman ρ(Gflops, FID) = ${rho.toFixed(3).replace("-", "−")}`), sub);
    assert.ok(sub.includes(`Pearson r(log10 Gflops, FID) = ${rLog.toFixed(3).replace("-", "−")}`), sub);
    assert.ok(readFileSync(join(dir, "README.md"), "utf8").includes(`Spearman ρ(Gflops, FID) = ${rho.toFixed(3)}`));
  });

  it("puts a point of every curve in the plots' Vega-Lite data", () => {
    const rows = rawRows<TrainingRow>(dir, "scaling");
    const steps = spec("scaling", "fid-vs-steps").data.values;
    const compute = spec("scaling", "fid-vs-compute").data.values;
    const final = spec("scaling", "fid-vs-gflops").data.values;
    for (const run of new Set(rows.map((x) => x.run))) {
      const mine = rows.filter((x) => x.run === run);
      const p = mine[1]!; // the second evaluation point of each run
      assert.ok(steps.some((d) => d.config === p.config.name && d.step === p.step && d.fid === p.fid), `${run} step ${p.step} in fid-vs-steps`);
      assert.ok(compute.some((d) => d.config === p.config.name && d.train_compute_gflops === p.train_compute_gflops && d.fid === p.fid), `${run} in fid-vs-compute`);
      const last = mine.reduce((a, b) => (b.step > a.step ? b : a));
      assert.ok(final.some((d) => d.config === p.config.name && d.gflops === last.gflops && d.fid === last.fid), `${run} in fid-vs-gflops`);
    }
    assert.equal(final.length, 9);

    // ablation: mean, min and max over the two seeds of each block at each step
    const abl = rawRows<TrainingRow>(dir, "ablation");
    const ad = spec("ablation", "ablation").data.values;
    for (const block of new Set(abl.map((x) => x.config.block))) {
      const at = abl.filter((x) => x.config.block === block && x.step === 300).map((x) => x.fid);
      assert.equal(at.length, 2);
      const d = ad.find((v) => v.block === block && v.step === 300);
      assert.ok(d, `${block} at step 300`);
      close(d.fid as number, (at[0]! + at[1]!) / 2);
      assert.equal(d.fid_min, Math.min(...at));
      assert.equal(d.fid_max, Math.max(...at));
    }

    const samp = rawRows<SamplingRow>(dir, "sampling-compute");
    const sd = spec("sampling-compute", "fid-vs-sampling-compute").data.values;
    for (const run of new Set(samp.map((x) => x.run))) {
      const p = samp.find((x) => x.run === run && x.sampling_steps === 32)!;
      assert.ok(sd.some((d) => d.config === p.config.name && d.sampling_compute_gflops === p.sampling_compute_gflops && d.fid === p.fid), `${run} in fid-vs-sampling-compute`);
    }
  });

  it("reports the hypotheses, the command and the machine, and embeds the grids", () => {
    const md = readFileSync(join(dir, "scaling", "REPORT.md"), "utf8");
    assert.match(md, /### 1\. Final FID falls with forward Gflops.* — \*\*PASS\*\*/);
    assert.match(md, /### 2\. At equal width and depth.* — \*\*PASS\*\*/);
    assert.match(md, /Command: `npx dit study scaling --preset fixture`/);
    assert.match(md, /_Regenerate: `npx dit study report --study scaling` · rows produced by `npx dit study scaling --preset fixture`_/);
    assert.match(md, /\| cpu \| `Synthetic CPU @ 2\.0GHz` \|/);
    assert.match(md, /\| M\/2 \| M \| 2 \| 16 \| 402,048 \| 0\.32 \| 12,288 \| 45\.00 \| 1 \|/);
    assert.match(md, /<img src="grids\/M-2\.png"/);
    assert.match(md, /no grid \(S-2\)/);
    assert.match(md, /No hypothesis failed/);
    const abl = readFileSync(join(dir, "ablation", "REPORT.md"), "utf8");
    assert.match(abl, /### 3\. adaLN-Zero has the lowest FID.* — \*\*PASS\*\*/);
    assert.match(abl, /\| adaLN-Zero \| 420,000 \| 0\.32 \| 31\.00 \| 30\.00 – 32\.00 \| 2 \|/);
    assert.match(abl, /<img src="grids\/in-context-s1\.png"/);
    const s = summary<SamplingSummary>("sampling-compute");
    // S/2's best is 68 at 64 steps (0.04 × 64 = 2.56 Gflops); M/2 at 8 steps costs 0.32 × 8 = 2.56 and has 60: M/2 wins
    const sm = s.catchUp.find((c) => c.small === "S/2" && c.large === "M/2")!;
    assert.equal(sm.smallBest.fid, 68);
    assert.equal(sm.largeWithin?.fid, 60);
    assert.equal(sm.largeWins, true);
    // L/2's cheapest point (1.6 × 8 = 12.8) costs more than S/2's best: no comparison
    assert.equal(s.catchUp.find((c) => c.small === "S/2" && c.large === "L/2")!.largeWins, null);
  });
});

describe("runs continued past the study's steps (longer/*.jsonl, scripts/study-extend.ts)", () => {
  it("get their own plot holding every continued row, and none without longer/", async () => {
    const dir = copy(BASIC, "longer");
    // M-2 continued: the study's rows, then two more evaluations (hand-made, FID falling)
    const m2 = rawRows<TrainingRow>(dir, "scaling").filter((x) => x.run === "M-2");
    const last = m2.reduce((a, b) => (b.step > a.step ? b : a));
    const extra = [1, 2].map((k) => ({ ...last, step: last.step * (1 + k), fid: last.fid - 10 * k, train_compute_gflops: last.train_compute_gflops * (1 + k) }));
    mkdirSync(join(dir, "scaling", "longer"));
    writeFileSync(join(dir, "scaling", "longer", "M-2.jsonl"), [...m2, ...extra].map((x) => JSON.stringify(x)).join("\n") + "\n");
    const r = await studyReport({ results: dir, study: "scaling", scale: 1 });
    const plot = r.studies[0]!.plots.find((p) => p.name === "fid-vs-steps-longer");
    assert.ok(plot, `plots: ${r.studies[0]!.plots.map((p) => p.name).join(", ")}`);
    const values = (plot.spec as { data: { values: Record<string, unknown>[] } }).data.values;
    assert.equal(values.length, m2.length + 2);
    for (const x of [...m2, ...extra]) assert.ok(values.some((d) => d.config === "M/2" && d.step === x.step && d.fid === x.fid), `M/2 step ${x.step} in the plot`);
    assert.match(readFileSync(join(dir, "scaling", "REPORT.md"), "utf8"), /fid-vs-steps-longer\.png/);
    // a duplicated point in longer/ is refused like one in runs/
    writeFileSync(join(dir, "scaling", "longer", "M-2b.jsonl"), JSON.stringify(extra[0]) + "\n");
    await assert.rejects(studyReport({ results: dir, study: "scaling", scale: 1 }), /longer\/M-2b\.jsonl:1: run 'M-2' step \d+ is already given/);
  });
});

describe("hypotheses flip with the data", () => {
  const scaling = () => rawRows<TrainingRow>(BASIC, "scaling");
  const ablation = () => rawRows<TrainingRow>(BASIC, "ablation");

  it("1: Spearman ρ ≤ −0.9 passes, a grid where FID rises with Gflops fails, two configs cannot decide", () => {
    assert.equal(analyzeScaling(scaling()).hypotheses[0]!.verdict, "PASS");
    const flipped = scaling().map((r) => ({ ...r, fid: 200 - r.fid }));
    const h = analyzeScaling(flipped).hypotheses[0]!;
    assert.equal(h.verdict, "FAIL");
    const f = finals(flipped);
    assert.match(h.evidence[0]!, new RegExp(`ρ = ${refSpearman(f.map((x) => x.gflops), f.map((x) => x.fid)).toFixed(3)} over 9 configs`));
    // a weak decrease (ρ = −0.8 > −0.9) fails too
    const weak = scaling().filter((r) => ["S-4", "M-2", "L-4", "L-1"].includes(r.run)).map((r) => (r.run === "M-2" ? { ...r, fid: r.fid + 60 } : r));
    // Gflops 0.01, 0.32, 0.4, 6.4 with final FIDs 80, 105, 40, 22: ranks 3,4,2,1 against 1,2,3,4 → ρ = −0.8
    const hw = analyzeScaling(weak).hypotheses[0]!;
    close(analyzeScaling(weak).correlations.spearmanGflops!, -0.8);
    assert.equal(hw.verdict, "FAIL");
    assert.equal(analyzeScaling(scaling().filter((r) => r.run === "S-4" || r.run === "L-1")).hypotheses[0]!.verdict, "UNDECIDED");
  });

  it("2: one size where a larger patch wins fails, naming the size and the pair", () => {
    assert.equal(analyzeScaling(scaling()).hypotheses[1]!.verdict, "PASS");
    const swapped = scaling().map((r) => (r.run === "M-1" && r.step === 400 ? { ...r, fid: 50 } : r)); // M/1 50 > M/2 45
    const h = analyzeScaling(swapped).hypotheses[1]!;
    assert.equal(h.verdict, "FAIL");
    assert.ok(h.evidence.some((e) => e.startsWith("M:") && e.includes("violated: p1 50.00 ≥ p2 45.00")), h.evidence.join("\n"));
    assert.ok(h.evidence.some((e) => e.startsWith("S:") && e.endsWith("holds.")));
    // a tie is not "lower"
    const tied = scaling().map((r) => (r.run === "L-1" && r.step === 400 ? { ...r, fid: 30 } : r));
    assert.equal(analyzeScaling(tied).hypotheses[1]!.verdict, "FAIL");
    // one patch per size: nothing to compare
    assert.equal(analyzeScaling(scaling().filter((r) => r.config.patch_size === 2)).hypotheses[1]!.verdict, "UNDECIDED");
  });

  it("3: adaLN-Zero beyond the seed spread passes; an overlapping seed fails; one seed cannot decide", () => {
    const base = analyzeAblation(ablation());
    assert.equal(base.finalStep, 400);
    assert.equal(base.hypotheses[0]!.verdict, "PASS");
    // adaLN's best seed 31 is below adaLN-Zero's worst 32: not beyond the spread (adaLN-Zero still lowest on average)
    const overlap = ablation().map((r) => (r.run === "adaLN-s1" && r.step === 400 ? { ...r, fid: 31.5 } : r));
    const s = analyzeAblation(overlap) as AblationSummary;
    assert.ok(s.blocks[0]!.final!.fid < s.blocks[1]!.final!.fid, "adaLN-Zero still lower on average");
    const h = s.hypotheses[0]!;
    assert.equal(h.verdict, "FAIL");
    assert.ok(h.evidence.some((e) => e.includes("adaLN-Zero's worst seed 32.00 ≥ the best seed of adaLN (31.50)")), h.evidence.join("\n"));
    // another block lowest outright
    const beaten = ablation().map((r) => (r.config.block === "in-context" && r.step === 400 ? { ...r, fid: r.fid - 30 } : r));
    assert.equal(analyzeAblation(beaten).hypotheses[0]!.verdict, "FAIL");
    const oneSeed = analyzeAblation(ablation().filter((r) => r.seed === 0)).hypotheses[0]!;
    assert.equal(oneSeed.verdict, "UNDECIDED");
    assert.match(oneSeed.evidence.join(" "), /needs ≥ 2 seeds per block/);
    assert.equal(analyzeAblation(ablation().filter((r) => r.config.block !== "adaLN-Zero")).hypotheses[0]!.verdict, "UNDECIDED");
  });

  it("a failed hypothesis asks for the 'Why' in analysis.md; a written analysis.md is included verbatim", () => {
    const dir = copy(BASIC, "why");
    const file = join(dir, "scaling", "runs", "M-1.jsonl");
    writeFileSync(file, readFileSync(file, "utf8").replace(/"fid": 38\.0/, '"fid": 50.0'));
    const res = readStudyResults(dir, "scaling");
    const md = reportMarkdown(res, analyzeScaling(res.rows as TrainingRow[]), []);
    assert.match(md, /### 2\. .* — \*\*FAIL\*\*/);
    assert.match(md, /## Why\n\n\*\*Needs writing\.\*\* Hypothesis 2 failed\./);
    writeFileSync(join(dir, "scaling", "analysis.md"), "M/1 was trained with a broken EMA (see #99).\n");
    const md2 = reportMarkdown(res, analyzeScaling(res.rows as TrainingRow[]), []);
    assert.ok(md2.includes("M/1 was trained with a broken EMA (see #99)."));
    assert.ok(!md2.includes("Needs writing"));
  });

  it("sampling-compute: the larger model loses when the smaller one sampled longer beats it", () => {
    const rows = rawRows<SamplingRow>(BASIC, "sampling-compute").map((r) => (r.run === "S-2" && r.sampling_steps === 64 ? { ...r, fid: 55 } : r));
    const c = analyzeSampling(rows).catchUp.find((x) => x.small === "S/2" && x.large === "M/2")!;
    assert.equal(c.largeWins, false);
  });
});

describe("bad input", () => {
  const row = rawRows<TrainingRow>(BASIC, "scaling")[0]!;
  const cases: [string, string, RegExp][] = [
    ["not JSON", "{oops\n", /runs\/bad\.jsonl:2: not JSON/],
    ["fid a string", JSON.stringify({ ...row, fid: "12" }) + "\n", /runs\/bad\.jsonl:2: 'fid' must be a finite number, got "12"/],
    ["no gflops", JSON.stringify({ ...row, gflops: undefined }) + "\n", /runs\/bad\.jsonl:2: 'gflops' must be a finite number, got undefined/],
    ["config without patch", JSON.stringify({ ...row, config: { ...row.config, patch_size: undefined } }) + "\n", /runs\/bad\.jsonl:2: 'config\.patch_size' must be a finite number/],
    ["another study's row", JSON.stringify({ ...row, study: "ablation" }) + "\n", /runs\/bad\.jsonl:2: 'study' is "ablation"; expected "scaling"/],
    ["an array", "[1, 2]\n", /runs\/bad\.jsonl:2: expected a JSON object/],
    ["a repeated point", JSON.stringify({ ...row, run: "x" }) + "\n" + JSON.stringify({ ...row, run: "x" }) + "\n", /runs\/bad\.jsonl:3: run 'x' step 100 is already given at .*runs\/bad\.jsonl:2/],
  ];
  for (const [name, bad, re] of cases) {
    it(`refuses a malformed row, naming file and line, before writing anything: ${name}`, async () => {
      const dir = copy(BASIC, `bad-${name.replaceAll(" ", "-")}`);
      writeFileSync(join(dir, "scaling", "runs", "bad.jsonl"), JSON.stringify({ ...row, run: "bad" }) + "\n" + bad);
      await assert.rejects(studyReport({ results: dir, study: "ablation" }), (e: Error) => e instanceof StudyResultsError && re.test(e.message));
      assert.ok(!existsSync(join(dir, "ablation", "REPORT.md")) && !existsSync(join(dir, "README.md")), "nothing written");
    });
  }

  it("skips a study without results and says so in the index", async () => {
    const dir = join(tmp, "only-sampling");
    cpSync(join(BASIC, "sampling-compute"), join(dir, "sampling-compute"), { recursive: true });
    mkdirSync(join(dir, "ablation", "runs"), { recursive: true });
    const r = await studyReport({ results: dir, scale: 1 });
    assert.deepEqual(r.studies.map((s) => [s.study, s.status]), [["scaling", "no-results"], ["ablation", "no-results"], ["sampling-compute", "reported"]]);
    assert.match(r.studies[0]!.notes.join("\n"), /scaling: no results in .*; skipped/);
    const index = readFileSync(join(dir, "README.md"), "utf8");
    assert.match(index, /## scaling\n\nNo results yet: `npx dit study scaling`/);
    assert.ok(!existsSync(join(dir, "scaling", "REPORT.md")));
  });

  it("refuses an unknown study and a missing results folder", async () => {
    await assert.rejects(studyReport({ results: BASIC, study: "scale" as never }), /unknown study 'scale': expected scaling, ablation, sampling-compute or all/);
    await assert.rejects(studyReport({ results: join(tmp, "nowhere") }), /no results folder at/);
  });
});

describe("dit study report (CLI)", () => {
  it("--help describes it; --json reports what was written", () => {
    const help = spawnSync(process.execPath, [BIN, "study", "report", "--help"], { encoding: "utf8" });
    assert.equal(help.status, 0, help.stderr);
    assert.match(help.stdout, /--results <dir>/);
    assert.match(help.stdout, /--study <name>/);
    const dir = copy(BASIC, "cli");
    const r = spawnSync(process.execPath, [BIN, "study", "report", "--results", dir, "--study", "ablation", "--json"], { encoding: "utf8" });
    assert.equal(r.status, 0, r.stderr);
    const out = JSON.parse(r.stdout.trim()) as { studies: { study: string; status: string; hypotheses: { id: number; verdict: string }[] }[] };
    assert.deepEqual(out.studies, [{ study: "ablation", status: "reported", report: join(dir, "ablation", "REPORT.md"), plots: [join(dir, "ablation", "ablation.png")], hypotheses: [{ id: 3, verdict: "PASS" }] }]);
    const bad = spawnSync(process.execPath, [BIN, "study", "report", "--results", join(tmp, "nowhere")], { encoding: "utf8" });
    assert.equal(bad.status, 1);
    assert.match(bad.stderr, /dit: no results folder at/);
  });
});
