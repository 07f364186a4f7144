/**
 * `dit study report`: regenerate, from the raw results alone, each study's
 * plots (SVG + PNG) and `REPORT.md` in `DIR/<study>/`, and the index
 * `DIR/README.md` quoting the headline numbers (issue 12).
 *
 *   const r = await studyReport({ results: "docs/studies", study: "all" });
 *   r.studies[0].summary; // correlations, hypothesis verdicts, …
 *
 * Every number in a report is computed from the rows of `runs/*.jsonl`; the
 * settings, command and machine are quoted from `study.json`. The human
 * analysis of a failed hypothesis ("Why") lives in `DIR/<study>/analysis.md`,
 * which the report includes verbatim and never writes, so that regenerating
 * does not erase it; when it is missing the report says that it needs writing.
 * Files are written atomically (temp file + fsync + rename).
 */
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { writeFileAtomic } from "../io/atomic-file.js";
import { analyzeAblation, analyzeSampling, analyzeScaling, type AblationSummary, type ConfigSummary, type HypothesisResult, type SamplingSummary, type ScalingSummary, type StudySummary } from "./report-analysis.js";
import { readStudyResults, STUDY_NAMES, StudyResultsError, type SamplingRow, type StudyMeta, type StudyName, type StudyResults, type TrainingRow } from "./report-rows.js";
import { ablationSpec, fidVsComputeSpec, fidVsGflopsSpec, fidVsStepsLongerSpec, fidVsStepsSpec, renderVegaLite, samplingComputeSpec, type VegaLiteSpec } from "./plots.js";

// The report's parts, exported for the library (src/study/index.ts) and tests.
export { CorrelationError, mean, pearson, ranks, spearman } from "./stats.js";
export {
  analyzeAblation,
  analyzeSampling,
  analyzeScaling,
  hypothesis1,
  hypothesis2,
  hypothesis3,
  type AblationSummary,
  type CatchUp,
  type ConfigSummary,
  type Correlations,
  type CurvePoint,
  type HypothesisResult,
  type SamplingCurve,
  type SamplingSummary,
  type ScalingSummary,
  type StudySummary,
  type Verdict,
} from "./report-analysis.js";
export { parseStudyRows, readStudyMeta, readStudyResults, StudyResultsError, validateRow, type StudyMeta, type StudyResults, type StudyRowConfig, type TrainingRow } from "./report-rows.js";
export { ablationData, ablationSpec, fidVsComputeSpec, fidVsGflopsSpec, fidVsStepsSpec, finalData, renderVegaLite, samplingComputeSpec, samplingData, scalingCurveData, type RenderedPlot, type VegaLiteSpec } from "./plots.js";

export interface StudyReportOptions {
  /** The results folder holding `<study>/runs/*.jsonl` (default `docs/studies`). */
  results?: string;
  /** Which study to report (default all); the index always covers every study. */
  study?: StudyName | "all";
  /** PNG pixel density (default 2). */
  scale?: number;
  /** A font file for the PNG text (default: a common system font). */
  fontFile?: string;
}

/** A plot as written: its spec (data inline) and the two files. */
export interface WrittenPlot {
  name: string;
  /** What it shows, one line (also the caption in REPORT.md). */
  caption: string;
  spec: VegaLiteSpec;
  svg: string;
  png: string;
  width: number;
  height: number;
}

export interface StudyReportEntry {
  study: StudyName;
  /** "no-results": no rows yet, nothing written for the study. */
  status: "reported" | "no-results";
  summary: StudySummary | null;
  plots: WrittenPlot[];
  /** The REPORT.md written (null when skipped). */
  report: string | null;
  notes: string[];
}

export interface StudyReportResult {
  results: string;
  studies: StudyReportEntry[];
  /** DIR/README.md. */
  index: string;
  /** Every file written. */
  written: string[];
}

/** The command that regenerates a report. */
export const REPORT_COMMAND = "npx dit study report";

const PLOT_CAPTIONS = {
  "fid-vs-steps": "FID against training steps, one line per config (the paper's Fig. 6)",
  "fid-vs-compute": "FID against training compute, Gflops × batch × steps × 3, log scale (Fig. 9)",
  "fid-vs-gflops": "final FID against forward Gflops, log scale, with the correlations (Fig. 8)",
  "fid-vs-steps-longer": "runs continued past the study's steps: FID along training (longer/*.jsonl, scripts/study-extend.ts)",
  ablation: "FID along training per conditioning block: mean over seeds, min–max band (Fig. 5)",
  "fid-vs-sampling-compute": "FID against sampling compute, forward Gflops × sampling steps, log scale (Fig. 10)",
} as const;

/** Regenerate the plots, REPORT.md of each chosen study and the index; see the file comment. */
export async function studyReport(opts: StudyReportOptions = {}): Promise<StudyReportResult> {
  const results = opts.results ?? "docs/studies";
  const which = opts.study ?? "all";
  if (which !== "all" && !STUDY_NAMES.includes(which)) throw new StudyResultsError(`unknown study '${which}': expected ${STUDY_NAMES.join(", ")} or all`);
  if (!existsSync(results)) throw new StudyResultsError(`no results folder at ${results} (dit study writes <study>/runs/*.jsonl under docs/studies by default)`);
  // read and check everything before writing anything
  const all = STUDY_NAMES.map((s) => readStudyResults(results, s));
  const summaries = all.map((r) => summarize(r));
  const written: string[] = [];
  const studies: StudyReportEntry[] = [];
  for (let i = 0; i < all.length; i++) {
    const res = all[i]!;
    const summary = summaries[i]!;
    if (which !== "all" && res.study !== which) continue;
    if (!summary) {
      studies.push({ study: res.study, status: "no-results", summary: null, plots: [], report: null, notes: res.notes });
      continue;
    }
    const notes = [...res.notes, ...summary.notes];
    const plots: WrittenPlot[] = [];
    for (const [name, spec] of plotSpecs(summary, res)) {
      const r = await renderVegaLite(spec, { scale: opts.scale, fontFile: opts.fontFile });
      notes.push(...r.warnings);
      const svg = join(res.dir, `${name}.svg`);
      const png = join(res.dir, `${name}.png`);
      writeFileAtomic(svg, r.svg);
      writeFileAtomic(png, r.png);
      written.push(svg, png);
      plots.push({ name, caption: PLOT_CAPTIONS[name], spec, svg, png, width: r.width, height: r.height });
    }
    const report = join(res.dir, "REPORT.md");
    writeFileAtomic(report, reportMarkdown(res, summary, plots));
    written.push(report);
    studies.push({ study: res.study, status: "reported", summary, plots, report, notes });
  }
  const index = join(results, "README.md");
  writeFileAtomic(index, indexMarkdown(all, summaries));
  written.push(index);
  return { results, studies, index, written };
}

function summarize(r: StudyResults): StudySummary | null {
  if (r.rows.length === 0) return null;
  if (r.study === "scaling") return analyzeScaling(r.rows as TrainingRow[]);
  if (r.study === "ablation") return analyzeAblation(r.rows as TrainingRow[]);
  return analyzeSampling(r.rows as SamplingRow[]);
}

/** The plots of a study: [file stem, spec]; with `res`, also the continued runs of `longer/` where there are any. */
export function plotSpecs(s: StudySummary, res?: StudyResults): [keyof typeof PLOT_CAPTIONS, VegaLiteSpec][] {
  if (s.study === "scaling") {
    const plots: [keyof typeof PLOT_CAPTIONS, VegaLiteSpec][] = [
      ["fid-vs-steps", fidVsStepsSpec(s)],
      ["fid-vs-compute", fidVsComputeSpec(s)],
      ["fid-vs-gflops", fidVsGflopsSpec(s)],
    ];
    if (res?.longerRows.length) plots.push(["fid-vs-steps-longer", fidVsStepsLongerSpec(analyzeScaling(res.longerRows as TrainingRow[]), s)]);
    return plots;
  }
  if (s.study === "ablation") return [["ablation", ablationSpec(s)]];
  return [["fid-vs-sampling-compute", samplingComputeSpec(s)]];
}

// ---------------------------------------------------------------- markdown

const f2 = (x: number) => x.toFixed(2);
const f3 = (x: number | null) => (x === null ? "n/a" : x.toFixed(3));
const int = (x: number) => x.toLocaleString("en-US");
/** Gflops: 4 significant digits below 1000, whole numbers up to 10⁷, then 1.234e8. */
const gf = (x: number) => (x >= 1e7 ? x.toExponential(3).replace("e+", "e") : x >= 1000 ? int(Math.round(x)) : String(Number(x.toPrecision(4))));
const cell = (s: string) => s.replaceAll("|", "\\|");
const href = (p: string) => p.split("/").map(encodeURIComponent).join("/");

function table(head: string[], rows: string[][]): string {
  return [`| ${head.map(cell).join(" | ")} |`, `|${head.map(() => "---").join("|")}|`, ...rows.map((r) => `| ${r.map(cell).join(" | ")} |`)].join("\n");
}

function provenance(res: StudyResults): string {
  const cmd = res.meta?.command ? `\`${res.meta.command}\`` : "(study.json records no command)";
  return `_Regenerate: \`${REPORT_COMMAND} --study ${res.study}\` · rows produced by ${cmd}_`;
}

/** Nested settings as dotted keys (recipe.steps); arrays of named objects as their names. */
function flatten(o: Record<string, unknown>, prefix = ""): [string, string][] {
  const out: [string, string][] = [];
  for (const [k, v] of Object.entries(o)) {
    const key = prefix + k;
    if (v && typeof v === "object" && !Array.isArray(v)) out.push(...flatten(v as Record<string, unknown>, `${key}.`));
    else if (Array.isArray(v) && v.length && v.every((e) => e && typeof e === "object" && typeof (e as { name?: unknown }).name === "string")) out.push([key, v.map((e) => (e as { name: string }).name).join(", ")]);
    else out.push([key, typeof v === "string" ? v : JSON.stringify(v)]);
  }
  return out;
}

function kv(o: Record<string, unknown>): string {
  return table(["field", "value"], flatten(o).map(([k, v]) => [k, `\`${v}\``]));
}

/** study.json's `sittings` (the runner's record of each session: command, machine, start). */
function sittingsTable(v: unknown): string | null {
  if (!Array.isArray(v) || !v.length || !v.every((e) => e && typeof e === "object")) return null;
  const m = (x: unknown) => (x && typeof x === "object" ? flatten(x as Record<string, unknown>).map(([k, val]) => `${k}: ${val}`).join("; ") : "");
  return table(["started", "command", "machine"], v.map((e) => {
    const s = e as Record<string, unknown>;
    return [String(s.started ?? ""), s.command ? `\`${String(s.command)}\`` : "", m(s.machine)];
  }));
}

function header(res: StudyResults, title: string): string[] {
  const m: StudyMeta | null = res.meta;
  const out = [`# ${title}`, "", `Generated by \`${REPORT_COMMAND} --study ${res.study}\` from the ${res.rows.length} rows of ${res.files.length} run file(s) in \`runs/\` and from \`study.json\`; do not edit (the human analysis goes in \`analysis.md\`).`, ""];
  out.push("## How the rows were made", "");
  if (!m) out.push("No `study.json`: the settings, command and machine are unknown.", "");
  else {
    out.push(`Command: ${m.command ? `\`${m.command}\`` : "(not recorded)"}`, "");
    if (m.settings && Object.keys(m.settings).length) out.push("Settings:", "", kv(m.settings), "");
    if (m.machine && Object.keys(m.machine).length) out.push("Machine:", "", kv(m.machine), "");
    const { sittings, ...extra } = m.extra;
    const st = sittingsTable(sittings);
    if (st) out.push("Sittings (each session that ran this study into this folder):", "", st, "");
    else if (sittings !== undefined) extra.sittings = sittings;
    if (Object.keys(extra).length) out.push("Other fields of study.json:", "", kv(extra), "");
  }
  return out;
}

function plotSection(plots: readonly WrittenPlot[]): string[] {
  const out = ["## Plots", ""];
  for (const p of plots) out.push(`### ${p.caption[0]!.toUpperCase()}${p.caption.slice(1)}`, "", `![${p.caption}](${p.name}.png)`, "", `[SVG](${p.name}.svg) · regenerate: \`${REPORT_COMMAND}\``, "");
  return out;
}

function hypothesisSection(res: StudyResults, hs: readonly HypothesisResult[]): string[] {
  const out = ["## Hypotheses (stated before the runs)", ""];
  for (const h of hs) {
    out.push(`### ${h.id}. ${h.statement} — **${h.verdict}**`, "", `Rule: ${h.rule}`, "");
    for (const e of h.evidence) out.push(`- ${e}`);
    out.push("", provenance(res), "");
  }
  const failed = hs.filter((h) => h.verdict === "FAIL");
  const analysisPath = join(res.dir, "analysis.md");
  const analysis = existsSync(analysisPath) ? readFileSync(analysisPath, "utf8").trim() : null;
  out.push("## Why", "");
  if (failed.length && !analysis) {
    out.push(
      `**Needs writing.** Hypothesis ${failed.map((h) => h.id).join(" and ")} failed. Before accepting it, find out why and state which it is, with the evidence: a bug (label dropout, the EMA, the VAE's scaling factor), training too short for the ordering to appear (run longer and show the curve), or a real difference at small scale. Write it in \`analysis.md\` next to this report; \`${REPORT_COMMAND}\` includes that file here verbatim and never overwrites it.`,
      "",
    );
  } else if (analysis) {
    out.push(`_From \`analysis.md\` (written by a person, included verbatim; not checked against the rows)._`, "", analysis, "");
  } else {
    out.push(hs.some((h) => h.verdict === "UNDECIDED") ? "No hypothesis failed; an UNDECIDED one needs more runs (see its evidence), not an explanation." : "No hypothesis failed; nothing to explain.", "");
  }
  return out;
}

function notesSection(notes: readonly string[]): string[] {
  return notes.length ? ["## Notes", "", ...notes.map((n) => `- ${n}`), ""] : [];
}

/** The path of a run's sample grid relative to the study folder, when there is one. */
function gridOf(res: StudyResults, run: string, given?: string): string | null {
  const p = given ?? `grids/${run}.png`;
  return existsSync(join(res.dir, p)) ? p : null;
}

const img = (p: string, alt: string) => `<img src="${href(p)}" width="160" alt="${alt.replaceAll('"', "&quot;")}">`;

function gridsSection(res: StudyResults, rowsOf: { label: string; cells: { head: string; run: string; grid?: string }[] }[], rowTitle: string): string[] {
  const heads = [...new Set(rowsOf.flatMap((r) => r.cells.map((c) => c.head)))];
  let found = 0;
  const rows = rowsOf.map((r) => [
    r.label,
    ...heads.map((h) => {
      const c = r.cells.find((x) => x.head === h);
      if (!c) return "";
      const g = gridOf(res, c.run, c.grid);
      if (g) found++;
      return g ? `${img(g, c.run)}<br>${c.run}` : `no grid (${c.run})`;
    }),
  ]);
  const out = ["## Sample grids", ""];
  if (!found) return [...out, "No sample grid found (`grids/<run>.png`).", ""];
  return [...out, "One grid per run from its final EMA checkpoint, as the study saved it.", "", table([rowTitle, ...heads], rows), ""];
}

function finalTableScaling(res: StudyResults, s: ScalingSummary): string[] {
  const rows = s.configs.map((c) => [
    c.label,
    c.size,
    String(c.patch),
    String(c.tokens),
    int(c.params),
    gf(c.gflops),
    c.final ? gf(c.final.train_compute_gflops) : "—",
    c.final ? (c.final.n > 1 ? `${f2(c.final.fid)} [${f2(c.final.fidMin)}, ${f2(c.final.fidMax)}]` : f2(c.final.fid)) : `— (stops at step ${Math.max(...c.runs.map((r) => r.lastStep))})`,
    String(c.final?.n ?? 0),
  ]);
  return [`## Final FID per config (step ${s.finalStep})`, "", table(["config", "size", "patch", "tokens", "params", "forward Gflops", "train compute (Gflops)", "FID", "seeds"], rows), "", provenance(res), ""];
}

function curveTable(res: StudyResults, items: readonly ConfigSummary[], title: string, first: string): string[] {
  const steps = [...new Set(items.flatMap((c) => c.curve.map((p) => p.step)))].sort((a, b) => a - b);
  const rows = items.map((c) => [c.label, ...steps.map((st) => {
    const p = c.curve.find((q) => q.step === st);
    return !p ? "" : p.n > 1 ? `${f2(p.fid)} [${f2(p.fidMin)}, ${f2(p.fidMax)}]` : f2(p.fid);
  })]);
  return [`## ${title}`, "", table([first, ...steps.map((st) => `step ${st}`)], rows), "", provenance(res), ""];
}

function scalingMarkdown(res: StudyResults, s: ScalingSummary, plots: readonly WrittenPlot[]): string {
  const c = s.correlations;
  const gridRows = [...new Map(s.configs.map((x) => [x.sizeKey, x.size])).entries()].map(([key, size]) => ({
    label: size,
    cells: s.configs.filter((x) => x.sizeKey === key).flatMap((x) => (x.runs[0] ? [{ head: `patch ${x.patch}`, run: x.runs[0].run, grid: x.runs[0].grid }] : [])),
  }));
  return [
    ...header(res, "Scaling study: forward Gflops against FID"),
    ...finalTableScaling(res, s),
    "## Correlations",
    "",
    `Over the ${c.n} configs with a FID at step ${s.finalStep} (mean over seeds):`,
    "",
    table(
      ["what is correlated", "coefficient"],
      [
        ["Pearson r of log10(forward Gflops) and FID (as the paper's Fig. 8: −0.93)", f3(c.pearsonLogGflops)],
        ["Spearman ρ of forward Gflops and FID (hypothesis 1)", f3(c.spearmanGflops)],
        ["Pearson r of log10(params) and FID", f3(c.pearsonLogParams)],
        ["Spearman ρ of params and FID", f3(c.spearmanParams)],
      ],
    ),
    "",
    ...(c.notes.length ? [...c.notes.map((n) => `- ${n}`), ""] : []),
    provenance(res),
    "",
    ...hypothesisSection(res, s.hypotheses),
    ...curveTable(res, s.configs, "FID along training", "config"),
    ...plotSection(plots),
    ...gridsSection(res, gridRows, "size"),
    ...notesSection([...res.notes, ...s.notes]),
  ].join("\n");
}

function ablationMarkdown(res: StudyResults, s: AblationSummary, plots: readonly WrittenPlot[]): string {
  const cfg = s.blocks[0]!.config;
  const rows = s.blocks.map((b) => [b.label, int(b.params), gf(b.gflops), b.final ? f2(b.final.fid) : "—", b.final ? `${f2(b.final.fidMin)} – ${f2(b.final.fidMax)}` : "—", b.final ? String(b.final.n) : "0"]);
  return [
    ...header(res, "Conditioning ablation: the four DiT blocks"),
    `Config ${cfg.name}: ${cfg.hidden_size} wide, ${cfg.depth} deep, ${cfg.num_heads} heads, patch ${cfg.patch_size} on ${cfg.input_size}×${cfg.input_size}×${cfg.in_channels} latents.`,
    "",
    s.finalStep === null ? "## Final FID per block\n\nNo step at which every block was evaluated.\n" : `## Final FID per block (step ${s.finalStep})`,
    "",
    table(["block", "params", "forward Gflops", "FID (mean over seeds)", "min – max", "seeds"], rows),
    "",
    provenance(res),
    "",
    ...hypothesisSection(res, s.hypotheses),
    ...curveTable(res, s.blocks, "FID along training (mean [min, max] over seeds)", "block"),
    ...plotSection(plots),
    ...gridsSection(
      res,
      s.blocks.map((b) => ({ label: b.label, cells: b.runs.map((r) => ({ head: `seed ${r.seed}`, run: r.run, grid: r.grid })) })),
      "block",
    ),
    ...notesSection([...res.notes, ...s.notes]),
  ].join("\n");
}

function samplingHeadline(s: SamplingSummary): string {
  const decided = s.catchUp.filter((c) => c.largeWins !== null);
  const wins = decided.filter((c) => c.largeWins).length;
  return `in ${wins} of ${decided.length} pairs of configs (${s.samplers.join(", ")}) the larger model, sampled with no more compute than the smaller model's best point, has the lower FID`;
}

function samplingMarkdown(res: StudyResults, s: SamplingSummary, plots: readonly WrittenPlot[]): string {
  const out = [...header(res, "Sampling compute: does a small model sampled longer catch a large one?")];
  for (const sampler of s.samplers) {
    const cs = s.curves.filter((c) => c.sampler === sampler);
    const steps = [...new Set(cs.flatMap((c) => c.points.map((p) => p.sampling_steps)))].sort((a, b) => a - b);
    out.push(
      `## FID per config and sampling steps (${sampler})`,
      "",
      table(
        ["config", "forward Gflops", "params", "train step", ...steps.map((n) => `${n} steps`), "best FID (steps, sampling Gflops)"],
        cs.map((c) => [c.label, gf(c.gflops), int(c.params), String(c.train_step), ...steps.map((n) => {
          const p = c.points.find((q) => q.sampling_steps === n);
          return p ? f2(p.fid) : "";
        }), `${f2(c.best.fid)} (${c.best.sampling_steps}, ${gf(c.best.sampling_compute_gflops)})`]),
      ),
      "",
      provenance(res),
      "",
    );
  }
  out.push(
    "## Who catches whom",
    "",
    `For each pair of configs (smaller forward Gflops first): the smaller model's best FID over all sampling steps, against the larger model's best FID using no more sampling compute (Gflops × steps). Headline: ${samplingHeadline(s)}.`,
    "",
    table(
      ["sampler", "smaller", "its best FID (steps, Gflops)", "larger", "larger's best within that compute", "larger wins"],
      s.catchUp.map((c) => [c.sampler, c.small, `${f2(c.smallBest.fid)} (${c.smallBest.sampling_steps}, ${gf(c.smallBest.sampling_compute_gflops)})`, c.large, c.largeWithin ? `${f2(c.largeWithin.fid)} (${c.largeWithin.sampling_steps}, ${gf(c.largeWithin.sampling_compute_gflops)})` : "— (its cheapest costs more)", c.largeWins === null ? "n/a" : c.largeWins ? "yes" : "no"]),
    ),
    "",
    provenance(res),
    "",
    ...plotSection(plots),
  );
  const runs = [...new Map(s.curves.map((c) => [c.run, c])).values()];
  out.push(...gridsSection(res, runs.map((c) => ({ label: c.label, cells: [{ head: "grid", run: c.run }] })), "config"));
  out.push(...notesSection([...res.notes, ...s.notes]));
  return out.join("\n");
}

/** REPORT.md of one study. */
export function reportMarkdown(res: StudyResults, s: StudySummary, plots: readonly WrittenPlot[]): string {
  const md = s.study === "scaling" ? scalingMarkdown(res, s, plots) : s.study === "ablation" ? ablationMarkdown(res, s, plots) : samplingMarkdown(res, s, plots);
  return md.replace(/\n{3,}/g, "\n\n").trimEnd() + "\n";
}

const verdicts = (hs: readonly HypothesisResult[]) => hs.map((h) => `hypothesis ${h.id} **${h.verdict}**`).join(", ");

/** The headline of one study's results, one sentence (markdown). */
export function headline(s: StudySummary): string {
  if (s.study === "scaling") {
    const c = s.correlations;
    return `${s.configs.length} configs at step ${s.finalStep}: Spearman ρ(Gflops, FID) = ${f3(c.spearmanGflops)}, Pearson r(log10 Gflops, FID) = ${f3(c.pearsonLogGflops)} over ${c.n} configs (the paper: −0.93); ${verdicts(s.hypotheses)}.`;
  }
  if (s.study === "ablation") {
    const at = s.finalStep === null ? "no common step" : `FID at step ${s.finalStep}: ${s.blocks.map((b) => `${b.label} ${b.final ? f2(b.final.fid) : "—"}`).join(", ")}`;
    return `${at} (mean over seeds; the paper at 400K steps: adaLN-Zero 19.47, adaLN 25.21, cross-attention 26.14, in-context 35.24); ${verdicts(s.hypotheses)}.`;
  }
  return `${s.curves.length} curves: ${samplingHeadline(s)}.`;
}

/** DIR/README.md: a link to each report and its headline. */
export function indexMarkdown(all: readonly StudyResults[], summaries: readonly (StudySummary | null)[]): string {
  const out = ["# Studies: the DiT paper's findings at laptop scale", "", `Generated by \`${REPORT_COMMAND}\` from the raw results in \`<study>/runs/*.jsonl\`; every number below links to the report that derives it.`, ""];
  all.forEach((res, i) => {
    const s = summaries[i];
    out.push(`## ${res.study}`, "");
    if (!s) out.push(`No results yet: \`npx dit study ${res.study}\` writes them to \`${res.study}/runs/\`.`, "");
    else out.push(`[Report](${res.study}/REPORT.md): ${headline(s)}`, "", `Rows produced by ${res.meta?.command ? `\`${res.meta.command}\`` : "(no command recorded)"}; regenerate with \`${REPORT_COMMAND} --study ${res.study}\`.`, "");
  });
  return out.join("\n").trimEnd() + "\n";
}
