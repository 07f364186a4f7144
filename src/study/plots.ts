/**
 * The study plots as Vega-Lite specs (data inline, so a test can read the
 * points back) rendered to SVG by vega and to PNG by resvg, as
 * `src/train/plot.ts` draws the loss curve:
 *
 * - `fidVsStepsSpec`: FID against training steps, one line per config (the DiT paper's Fig. 6);
 * - `fidVsComputeSpec`: FID against training compute, log x (Fig. 9);
 * - `fidVsGflopsSpec`: final FID against forward Gflops, log x, correlations in the subtitle (Fig. 8);
 * - `ablationSpec`: FID per conditioning block along training, mean line and min–max band over seeds (Fig. 5);
 * - `samplingComputeSpec`: FID against Gflops × sampling steps, one line per config, log x (Fig. 10).
 *
 * Colour is the model size (width × depth), the dash the patch size.
 */
import type { VegaLiteSpec } from "../util/vega-render.js";
import type { AblationSummary, ConfigSummary, SamplingSummary, ScalingSummary } from "./report-analysis.js";

export type { VegaLiteSpec };

const WIDTH = 720;
const HEIGHT = 440;
/** Dash patterns by patch rank (smallest patch solid). */
const DASHES = [[1, 0], [8, 4], [2, 3], [12, 3, 2, 3], [4, 4]];

const CONFIG = {
  font: "sans-serif",
  legend: { labelFontSize: 12, titleFontSize: 12, symbolStrokeWidth: 2.5, symbolSize: 220, symbolOpacity: 1, labelLimit: 260 },
  axis: { labelFontSize: 12, titleFontSize: 13, gridColor: "#e6e6e6" },
  title: { fontSize: 16, subtitleFontSize: 12, anchor: "start", subtitlePadding: 6 },
  header: { labelFontSize: 13, titleFontSize: 13 },
};

function base(title: string, subtitle: string[]): VegaLiteSpec {
  return {
    $schema: "https://vega.github.io/schema/vega-lite/v6.json",
    background: "white",
    padding: 12,
    title: { text: title, subtitle },
    config: CONFIG,
  };
}

const fmt = (x: number, d: number) => x.toFixed(d).replace("-", "−");

/** Log-axis labels: 20k, 3M for large values, plain 0.4, 2 below 1000 (no SI "400m"). */
const LOG_LABELS = {
  // only 1, 2 and 5 × 10^k are labelled, so that the decades stay readable
  labelExpr:
    "indexof([1, 2, 5], round(datum.value / pow(10, floor(log(datum.value) / LN10 + 1e-9)))) < 0 ? '' : datum.value >= 1000 ? format(datum.value, '~s') : format(datum.value, '~g')",
};

/** "p2 · 64 tokens" */
const patchLabel = (patch: number, tokens: number) => `p${patch} · ${tokens} tokens`;
/** "S · 64 wide, 4 deep" */
const sizeLegend = (c: ConfigSummary | { size: string; config: { hidden_size: number; depth: number } }) => `${c.size} · ${c.config.hidden_size} wide, ${c.config.depth} deep`;

/** Colour by size (sorted by width² × depth), dash by patch (sorted), both with the legend in order. */
function sizePatchEncoding(items: readonly { size: string; config: { hidden_size: number; depth: number }; patch: number; tokens: number }[]) {
  const sizes = [...new Map(items.map((c) => [sizeLegend(c), c.config.hidden_size ** 2 * c.config.depth])).entries()].sort((a, b) => a[1] - b[1] || a[0].localeCompare(b[0])).map((e) => e[0]);
  const patches = [...new Map(items.map((c) => [patchLabel(c.patch, c.tokens), c.patch])).entries()].sort((a, b) => a[1] - b[1]).map((e) => e[0]);
  return {
    color: { field: "size", type: "nominal", sort: sizes, scale: { domain: sizes, scheme: "category10" }, title: "size", legend: { orient: "right" } },
    strokeDash: { field: "patch", type: "nominal", sort: patches, scale: { domain: patches, range: patches.map((_, i) => DASHES[i % DASHES.length]) }, title: "patch", legend: { orient: "right", symbolType: "stroke", symbolStrokeColor: "#444" } },
    shape: { field: "patch", type: "nominal", sort: patches, scale: { domain: patches }, title: "patch" },
  };
}

/** One data row per (config, step) of the scaling curves. */
export interface ScalingCurveDatum {
  config: string;
  size: string;
  patch: string;
  step: number;
  fid: number;
  fid_min: number;
  fid_max: number;
  seeds: number;
  train_compute_gflops: number;
  gflops: number;
}

export function scalingCurveData(s: ScalingSummary): ScalingCurveDatum[] {
  return s.configs.flatMap((c) =>
    c.curve.map((p) => ({ config: c.label, size: sizeLegend(c), patch: patchLabel(c.patch, c.tokens), step: p.step, fid: p.fid, fid_min: p.fidMin, fid_max: p.fidMax, seeds: p.n, train_compute_gflops: p.train_compute_gflops, gflops: c.gflops })),
  );
}

function scalingCurves(s: ScalingSummary, x: Record<string, unknown>, title: string, subtitle: string[], legendFrom: ScalingSummary = s): VegaLiteSpec {
  const enc = sizePatchEncoding(legendFrom.configs); // colours and markers as in the main plots
  const y = { field: "fid", type: "quantitative", title: "FID-FMNIST (EMA, no guidance; lower is better)", scale: { zero: false, nice: true } };
  const seeds = Math.max(...s.configs.flatMap((c) => c.curve.map((p) => p.n)));
  return {
    ...base(title, seeds > 1 ? [...subtitle, `mean over up to ${seeds} seeds per config`] : subtitle),
    width: WIDTH,
    height: HEIGHT,
    data: { values: scalingCurveData(s) },
    encoding: { x, y, color: enc.color, detail: { field: "config", type: "nominal" } },
    layer: [
      { mark: { type: "line", strokeWidth: 2.2 }, encoding: { strokeDash: enc.strokeDash } },
      { mark: { type: "point", filled: true, size: 45, opacity: 1 }, encoding: { shape: enc.shape } },
    ],
  };
}

/** FID against training steps, one line per config (paper Fig. 6). */
export function fidVsStepsSpec(s: ScalingSummary): VegaLiteSpec {
  return scalingCurves(
    s,
    { field: "step", type: "quantitative", title: "training step", scale: { nice: false, padding: 12 } },
    "Scaling: FID along training, per config",
    [`${s.configs.length} configs; colour: size (width × depth), marker and dash: patch size (tokens per image)`],
  );
}

/**
 * The continued runs (`longer/`): FID along training past the study's last step
 * (marked), in the colours and markers of the study's own plots.
 */
export function fidVsStepsLongerSpec(s: ScalingSummary, study: ScalingSummary): VegaLiteSpec {
  const studySteps = study.finalStep;
  const spec = scalingCurves(
    s,
    { field: "step", type: "quantitative", title: "training step", scale: { nice: false, padding: 12 } },
    `Scaling: ${s.configs.map((c) => c.label).join(", ")} trained on past the study's ${studySteps} steps`,
    ["same recipe and evaluation, resumed from the study's final checkpoints (scripts/study-extend.ts); grey rule: the study's last step"],
    study,
  );
  const layers = spec.layer as Record<string, unknown>[];
  return { ...spec, layer: [{ data: { values: [{ step: studySteps }] }, mark: { type: "rule", color: "#999", strokeWidth: 1.5 }, encoding: { x: { field: "step", type: "quantitative" }, color: { value: "#999" }, detail: null, y: null } }, ...layers] };
}

/** FID against training compute Gflops × batch × step × 3, log x (paper Fig. 9). */
export function fidVsComputeSpec(s: ScalingSummary): VegaLiteSpec {
  return scalingCurves(
    s,
    { field: "train_compute_gflops", type: "quantitative", title: "training compute (Gflops = forward Gflops × batch × step × 3, log scale)", scale: { type: "log", nice: false, padding: 16 }, axis: LOG_LABELS },
    "Scaling: FID against training compute",
    [`${s.configs.length} configs; colour: size, marker and dash: patch; left to right along a line: later evaluation points`],
  );
}

/** One data row per config with a final FID. */
export interface FinalDatum {
  config: string;
  size: string;
  patch: string;
  gflops: number;
  params: number;
  step: number;
  fid: number;
  seeds: number;
}

export function finalData(s: ScalingSummary): FinalDatum[] {
  return s.configs
    .filter((c) => c.final)
    .map((c) => ({ config: c.label, size: sizeLegend(c), patch: patchLabel(c.patch, c.tokens), gflops: c.gflops, params: c.params, step: c.final!.step, fid: c.final!.fid, seeds: c.final!.n }));
}

/** Final FID against forward Gflops, log x, with a log-linear fit and the correlations (paper Fig. 8). */
export function fidVsGflopsSpec(s: ScalingSummary): VegaLiteSpec {
  const enc = sizePatchEncoding(s.configs);
  const c = s.correlations;
  const r = c.pearsonLogGflops === null ? "n/a" : fmt(c.pearsonLogGflops, 3);
  const rho = c.spearmanGflops === null ? "n/a" : fmt(c.spearmanGflops, 3);
  const rhoP = c.spearmanParams === null ? "n/a" : fmt(c.spearmanParams, 3);
  const x = { field: "gflops", type: "quantitative", title: "forward Gflops per image (log scale)", scale: { type: "log", nice: false, padding: 24 }, axis: LOG_LABELS };
  const y = { field: "fid", type: "quantitative", title: `FID-FMNIST at step ${s.finalStep} (lower is better)`, scale: { zero: false, nice: true } };
  return {
    ...base(`Scaling: final FID against forward Gflops (step ${s.finalStep})`, [
      `Pearson r(log10 Gflops, FID) = ${r}   ·   Spearman ρ(Gflops, FID) = ${rho}   ·   ${c.n} configs`,
      `for contrast, Spearman ρ(params, FID) = ${rhoP}; dashed: least-squares fit FID = a + b·log10(Gflops)`,
    ]),
    width: WIDTH,
    height: HEIGHT,
    data: { values: finalData(s) },
    encoding: { x, y },
    layer: [
      ...(c.n >= 2 ? [{ transform: [{ regression: "fid", on: "gflops", method: "log" }], mark: { type: "line", color: "#888", strokeDash: [6, 4], strokeWidth: 1.5 } }] : []),
      { mark: { type: "point", filled: true, size: 110, opacity: 1 }, encoding: { color: enc.color, shape: { ...enc.shape, legend: { orient: "right" } } } },
      { mark: { type: "text", align: "left", dx: 9, dy: -8, fontSize: 12 }, encoding: { text: { field: "config" }, color: { ...enc.color } } },
    ],
  };
}

/** One data row per (block, step): mean, min and max FID over seeds. */
export interface AblationDatum {
  block: string;
  step: number;
  fid: number;
  fid_min: number;
  fid_max: number;
  seeds: number;
}

export function ablationData(s: AblationSummary): AblationDatum[] {
  return s.blocks.flatMap((b) => b.curve.map((p) => ({ block: b.label, step: p.step, fid: p.fid, fid_min: p.fidMin, fid_max: p.fidMax, seeds: p.n })));
}

const BLOCK_COLORS: Record<string, string> = { "adaLN-Zero": "#d62728", adaLN: "#1f77b4", "cross-attention": "#2ca02c", "in-context": "#9467bd" };

/** FID along training per conditioning block: mean over seeds, min–max band, each seed a dot (paper Fig. 5). */
export function ablationSpec(s: AblationSummary): VegaLiteSpec {
  const labels = s.blocks.map((b) => b.label);
  const palette = ["#ff7f0e", "#8c564b", "#e377c2", "#17becf", "#bcbd22"];
  const color = { field: "block", type: "nominal", sort: labels, scale: { domain: labels, range: s.blocks.map((b, i) => BLOCK_COLORS[b.config.block] ?? palette[i % palette.length]) }, title: "block", legend: { orient: "right", symbolType: "stroke" } };
  const x = { field: "step", type: "quantitative", title: "training step", scale: { nice: false, padding: 12 } };
  const y = { field: "fid", type: "quantitative", title: "FID-FMNIST (EMA, no guidance; lower is better)", scale: { zero: false, nice: true } };
  const seeds = s.blocks.flatMap((b) => b.curve.flatMap((p) => p.fids.map((fid) => ({ block: b.label, step: p.step, fid }))));
  const maxSeeds = Math.max(...s.blocks.flatMap((b) => b.curve.map((p) => p.n)));
  const cfg = s.blocks[0]!.config;
  return {
    ...base("Conditioning ablation: FID along training per block", [
      `${cfg.name} (${cfg.hidden_size} wide, ${cfg.depth} deep, patch ${cfg.patch_size}); line: mean over seeds, band: min–max over ${maxSeeds} seed${maxSeeds > 1 ? "s" : ""}, dots: single seeds`,
    ]),
    width: WIDTH,
    height: HEIGHT,
    data: { values: ablationData(s) },
    layer: [
      { mark: { type: "area", opacity: 0.18 }, encoding: { x, y: { field: "fid_min", type: "quantitative", title: y.title, scale: y.scale }, y2: { field: "fid_max" }, color: { ...color } } },
      { mark: { type: "line", strokeWidth: 2.5 }, encoding: { x, y, color } },
      { data: { values: seeds }, mark: { type: "point", filled: true, size: 28, opacity: 0.8 }, encoding: { x, y, color: { ...color } } },
    ],
  };
}

/** One data row per (config, sampler, sampling steps). */
export interface SamplingDatum {
  config: string;
  size: string;
  patch: string;
  sampler: string;
  sampling_steps: number;
  sampling_compute_gflops: number;
  fid: number;
  gflops: number;
}

export function samplingData(s: SamplingSummary): SamplingDatum[] {
  return s.curves.flatMap((c) =>
    c.points.map((p) => ({ config: c.label, size: sizeLegend(c), patch: patchLabel(c.patch, (c.config.input_size / c.patch) ** 2), sampler: c.sampler, sampling_steps: p.sampling_steps, sampling_compute_gflops: p.sampling_compute_gflops, fid: p.fid, gflops: c.gflops })),
  );
}

/** FID against sampling compute = forward Gflops × sampling steps, log x, one line per config (paper Fig. 10). */
export function samplingComputeSpec(s: SamplingSummary): VegaLiteSpec {
  const enc = sizePatchEncoding(s.curves.map((c) => ({ size: c.size, config: c.config, patch: c.patch, tokens: (c.config.input_size / c.patch) ** 2 })));
  const x = { field: "sampling_compute_gflops", type: "quantitative", title: "sampling compute (Gflops = forward Gflops × sampling steps, log scale)", scale: { type: "log", nice: false, padding: 16 }, axis: LOG_LABELS };
  const y = { field: "fid", type: "quantitative", title: "FID-FMNIST (lower is better)", scale: { zero: false, nice: true } };
  const steps = [...new Set(s.curves.flatMap((c) => c.points.map((p) => p.sampling_steps)))].sort((a, b) => a - b);
  const inner = {
    encoding: { x, y, color: enc.color, detail: { field: "config", type: "nominal" } },
    layer: [
      { mark: { type: "line", strokeWidth: 2.2 }, encoding: { strokeDash: enc.strokeDash } },
      { mark: { type: "point", filled: true, size: 45, opacity: 1 }, encoding: { shape: enc.shape } },
    ],
  };
  const title = "Sampling compute: FID against forward Gflops × sampling steps";
  const subtitle = [
    `one line per config's final checkpoint; points left to right: ${steps.join(", ")} sampling steps`,
    "colour: size, marker and dash: patch; a smaller model catches a larger one where its line",
    "reaches below the other's at the same sampling compute",
  ];
  if (s.samplers.length > 1) {
    return { ...base(title, subtitle), data: { values: samplingData(s) }, facet: { column: { field: "sampler", type: "nominal", title: "sampler" } }, spec: { width: Math.round(WIDTH / s.samplers.length), height: HEIGHT, ...inner }, resolve: { scale: { y: "shared" } } };
  }
  return { ...base(title, [`sampler ${s.samplers[0]}; ${subtitle[0]}`, ...subtitle.slice(1)]), width: WIDTH, height: HEIGHT, data: { values: samplingData(s) }, ...inner };
}

export { renderVegaLite, type RenderedPlot, type RenderOptions } from "../util/vega-render.js";
