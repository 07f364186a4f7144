/**
 * The loss curve of a training run as a PNG: `DIR/log.jsonl` (one `LogRecord`
 * a line, as `train` writes it) → a Vega-Lite line chart of loss, mse and vb
 * against the step on a log-scale y axis, each drawn faint as logged and
 * solid smoothed, rendered to SVG by vega and rasterised by resvg.
 *
 *   const records = parseTrainLog(readFileSync("run/log.jsonl", "utf8")).records;
 *   writeFileSync("loss.png", await renderLossChart(records).then((r) => r.png));
 *
 * Smoothing is a centred moving average of log10(value) over `smooth` logged
 * points (odd; no lag, and a geometric mean, which is what looks right on a
 * log axis). The default window is about 1/20 of the points (1 = none for
 * short logs). A resumed run re-logs the steps after its last checkpoint:
 * the later line for a step wins.
 */
import { existsSync, readFileSync } from "node:fs";
import { DitError } from "../errors.js";
import { writeFileAtomic } from "../io/atomic-file.js";
import type { LogRecord } from "./train.js";
import { renderVegaLite, type RenderedPlot } from "../util/vega-render.js";

/** A training log that cannot be plotted (missing, a line that is not a JSON LogRecord, no records) or an unknown series. */
export class TrainPlotError extends DitError {
  override name = "TrainPlotError";
}

/** The series the chart can draw (fields of `LogRecord`). */
export const LOSS_SERIES = ["loss", "mse", "vb"] as const;
export type LossSeries = (typeof LOSS_SERIES)[number];

/** A parsed log line: `step` and `loss` always, the other `LogRecord` fields where logged. */
export type LogPoint = Partial<LogRecord> & { step: number; loss: number };

export interface ParsedTrainLog {
  /** One record per step, sorted by step (the last line logged for a step). */
  records: LogPoint[];
  /** Lines skipped: a half-written last line (a killed run) or duplicates replaced by a later line. */
  notes: string[];
}

/**
 * Parse a JSONL training log. Every line must be a JSON object with a finite
 * numeric `step` and `loss` (other `LogRecord` fields are optional); a
 * malformed line throws with its number, except a last line without its
 * newline, which a killed run may leave half-written (skipped, with a note).
 */
export function parseTrainLog(text: string, source = "log"): ParsedTrainLog {
  const lines = text.split("\n");
  const notes: string[] = [];
  const byStep = new Map<number, LogPoint>();
  const lastUnterminated = !text.endsWith("\n");
  let replaced = 0;
  lines.forEach((raw, i) => {
    const line = raw.trim();
    if (!line) return;
    let rec: unknown;
    try {
      rec = JSON.parse(line);
    } catch (e) {
      if (lastUnterminated && i === lines.length - 1) {
        notes.push(`${source}: skipped the half-written last line ${i + 1}`);
        return;
      }
      throw new TrainPlotError(`${source}: line ${i + 1} is not JSON (${(e as Error).message}); expected one LogRecord object per line`, { cause: e });
    }
    const r = rec as Record<string, unknown>;
    if (typeof r !== "object" || r === null || Array.isArray(r)) throw new TrainPlotError(`${source}: line ${i + 1} is not a JSON object`);
    for (const k of ["step", "loss"] as const) {
      if (typeof r[k] !== "number" || !Number.isFinite(r[k])) throw new TrainPlotError(`${source}: line ${i + 1} has no finite numeric '${k}' (got ${JSON.stringify(r[k])})`);
    }
    if (byStep.has(r.step as number)) replaced++;
    byStep.set(r.step as number, r as LogPoint);
  });
  if (replaced) notes.push(`${source}: ${replaced} step(s) logged twice (a resumed run); kept the later line`);
  const records = [...byStep.values()].sort((a, b) => a.step - b.step);
  return { records, notes };
}

/** Read and parse a JSONL training log file (errors name the file). */
export function readTrainLog(path: string): ParsedTrainLog {
  if (!existsSync(path)) throw new TrainPlotError(`no training log at ${path} (dit train writes DIR/log.jsonl)`);
  return parseTrainLog(readFileSync(path, "utf8"), path);
}

/** Centred moving average of log10(v) over `window` points (shrunk at the ends); NaN where v ≤ 0 or missing. */
export function smoothLog(values: number[], window: number): number[] {
  if (!Number.isInteger(window) || window < 1) throw new RangeError(`smoothing window must be a positive integer, got ${window}`);
  const half = Math.floor(window / 2);
  const logs = values.map((v) => (v > 0 && Number.isFinite(v) ? Math.log10(v) : NaN));
  return logs.map((_, i) => {
    let s = 0;
    let n = 0;
    for (let j = Math.max(0, i - half); j <= Math.min(logs.length - 1, i + half); j++) {
      if (!Number.isNaN(logs[j]!)) {
        s += logs[j]!;
        n++;
      }
    }
    return n ? 10 ** (s / n) : NaN;
  });
}

export interface LossChartOptions {
  /** Series to draw (default all three; a series absent from the log is left out). */
  series?: readonly LossSeries[];
  /** Smoothing window in logged points (odd; default ≈ points / 20, 1 = none). */
  smooth?: number;
  /** Image size in CSS pixels (default 900 × 500), before `scale`. */
  width?: number;
  height?: number;
  /** Pixel density of the PNG (default 2: a 1800 × 1000 PNG). */
  scale?: number;
  title?: string;
  /** A TrueType/OpenType font for the text; default: the first of a few common system fonts found. */
  fontFile?: string;
}

/** Each series keeps its colour whatever else is drawn. */
const SERIES_COLORS: Record<LossSeries, string> = { loss: "#1f77b4", mse: "#2ca02c", vb: "#d62728" };

/** The default smoothing window for n points: odd, about n / 20. */
export function defaultSmoothing(n: number): number {
  const w = Math.max(1, Math.round(n / 20));
  return w % 2 ? w : w + 1;
}

/** The Vega-Lite spec of the chart (data inline): raw lines faint, smoothed lines solid, log-scale y. */
export function lossChartSpec(records: readonly (Partial<LogRecord> & { step: number })[], opts: LossChartOptions = {}): Record<string, unknown> {
  if (records.length === 0) throw new TrainPlotError("the training log has no records to plot");
  const wanted = opts.series ?? LOSS_SERIES;
  for (const s of wanted) if (!LOSS_SERIES.includes(s)) throw new TrainPlotError(`unknown series '${s}': expected some of ${LOSS_SERIES.join(", ")}`);
  const series = wanted.filter((s) => records.some((r) => typeof r[s] === "number"));
  const window = opts.smooth ?? defaultSmoothing(records.length);
  const values: { step: number; series: string; value: number; kind: string }[] = [];
  for (const s of series) {
    const v = records.map((r) => (typeof r[s] === "number" ? (r[s] as number) : NaN));
    const sm = smoothLog(v, window);
    records.forEach((r, i) => {
      if (v[i]! > 0 && Number.isFinite(v[i]!)) values.push({ step: r.step, series: s, value: v[i]!, kind: "logged" });
      if (Number.isFinite(sm[i]!)) values.push({ step: r.step, series: s, value: sm[i]!, kind: "smoothed" });
    });
  }
  const last = records[records.length - 1]!;
  const color = { field: "series", type: "nominal", sort: series, scale: { domain: series, range: series.map((s) => SERIES_COLORS[s]) }, title: null };
  const x = { field: "step", type: "quantitative", title: "step", scale: { nice: false } };
  const y = { field: "value", type: "quantitative", scale: { type: "log", nice: false, padding: 8 }, title: "value (log scale)" };
  // loss ≈ mse + a small vb: mse dashed so that the two stay apart where they overlap
  const strokeDash = { field: "series", type: "nominal", sort: series, scale: { domain: series, range: series.map((s) => (s === "mse" ? [7, 4] : [1, 0])) }, title: null };
  return {
    $schema: "https://vega.github.io/schema/vega-lite/v6.json",
    width: opts.width ?? 900,
    height: opts.height ?? 500,
    autosize: { type: "fit", contains: "padding" },
    padding: 12,
    background: "white",
    // limit: a title wider than the chart would squeeze the plot under autosize "fit"
    title: { limit: Math.max(50, (opts.width ?? 900) - 10), text: opts.title ?? "Training loss", subtitle: `${records.length} points to step ${last.step}${window > 1 ? `; solid: smoothed over ${window}` : ""}` },
    data: { values },
    layer: [
      { transform: [{ filter: "datum.kind === 'logged'" }], mark: { type: "line", strokeWidth: window > 1 ? 1 : 2, opacity: window > 1 ? 0.3 : 1 }, encoding: { x, y, color, ...(window > 1 ? {} : { strokeDash }) } },
      ...(window > 1 ? [{ transform: [{ filter: "datum.kind === 'smoothed'" }], mark: { type: "line", strokeWidth: 2.5 }, encoding: { x, y, color, strokeDash } }] : []),
    ],
    config: { font: "sans-serif", legend: { orient: "top-right", labelFontSize: 13, symbolOpacity: 1, symbolStrokeWidth: 2.5, symbolSize: 300 }, axis: { labelFontSize: 12, titleFontSize: 13, gridColor: "#e6e6e6" }, title: { fontSize: 16, subtitleFontSize: 12, anchor: "start" } },
  };
}

/** The rendered chart: PNG and SVG (see util/vega-render.ts). */
export type RenderedChart = RenderedPlot;

/** Render the loss chart of `records` to PNG (and SVG). */
export async function renderLossChart(records: readonly (Partial<LogRecord> & { step: number })[], opts: LossChartOptions = {}): Promise<RenderedChart> {
  const scale = opts.scale ?? 2;
  if (!(scale > 0 && scale <= 8)) throw new RangeError(`scale must be in (0, 8], got ${scale}`);
  for (const k of ["width", "height"] as const) {
    const v = opts[k];
    if (v !== undefined && !(Number.isInteger(v) && v >= 100 && v <= 8000)) throw new RangeError(`${k} must be an integer in [100, 8000] pixels, got ${v}`);
  }
  const spec = lossChartSpec(records, opts);
  return renderVegaLite(spec, { scale, fontFile: opts.fontFile });
}


/** Read `log.jsonl`, render the chart and write the PNG atomically; returns what was written. */
export async function plotTrainLog(logPath: string, outPath: string, opts: LossChartOptions = {}): Promise<{ out: string; points: number; width: number; height: number; notes: string[] }> {
  const { records, notes } = readTrainLog(logPath);
  const r = await renderLossChart(records, opts);
  writeFileAtomic(outPath, r.png);
  return { out: outPath, points: records.length, width: r.width, height: r.height, notes: [...notes, ...r.warnings] };
}
