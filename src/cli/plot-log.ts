/** `dit plot-log`: the loss curve of a training run (DIR/log.jsonl) as a PNG. */
import { existsSync, statSync } from "node:fs";
import { join } from "node:path";
import type { Command } from "commander";
import { LOSS_SERIES, plotTrainLog, type LossSeries } from "../train/plot.js";
import { checkInput, checkOutputFile } from "./paths.js";
import { UsageError } from "./usage-error.js";

const int = (name: string, lo: number, hi: number) => (v: string) => {
  const x = v.trim() === "" ? NaN : Number(v);
  if (!Number.isInteger(x) || x < lo || x > hi) throw new UsageError(`--${name} must be an integer in [${lo}, ${hi}], got '${v}'`);
  return x;
};

const scaleOption = (v: string) => {
  const x = v.trim() === "" ? NaN : Number(v);
  if (!(x > 0 && x <= 8)) throw new UsageError(`--scale must be a number in (0, 8], got '${v}'`);
  return x;
};

export function registerPlotLog(program: Command): void {
  program
    .command("plot-log")
    .description("plot loss, mse and vb of a training log (dit train's DIR/log.jsonl) against the step as a PNG (log-scale y, smoothed)")
    .argument("<log>", "the JSONL training log (DIR/log.jsonl), or the run folder DIR")
    .option("--out <png>", "PNG to write", "loss.png")
    .option("--series <names>", `comma-separated series to draw (${LOSS_SERIES.join(", ")})`, LOSS_SERIES.join(","))
    .option("--smooth <points>", "smoothing window in logged points (1 = none; default ≈ points / 20)", int("smooth", 1, 1_000_000))
    .option("--width <px>", "chart width in CSS pixels", int("width", 100, 8000), 900)
    .option("--height <px>", "chart height in CSS pixels", int("height", 100, 8000), 500)
    .option("--scale <x>", "pixel density of the PNG (2 → 1800×1000 for the default size)", scaleOption, 2)
    .option("--title <text>", "chart title", "Training loss")
    .option("--font <file>", "a TrueType/OpenType font file for the text (default: a common system font)")
    .option("--json", "print what was written as one JSON line on stdout")
    .action(async (log: string, opts: { out: string; series: string; smooth?: number; width: number; height: number; scale: number; title: string; font?: string; json?: boolean }) => {
      const series = opts.series.split(",").map((s) => s.trim()).filter(Boolean);
      for (const s of series) if (!LOSS_SERIES.includes(s as LossSeries)) throw new UsageError(`--series: unknown series '${s}', expected some of ${LOSS_SERIES.join(", ")}`);
      if (series.length === 0) throw new UsageError(`--series: expected some of ${LOSS_SERIES.join(", ")}, got '${opts.series}'`);
      checkInput("<log>", log, "file or folder");
      const path = existsSync(log) && statSync(log).isDirectory() ? join(log, "log.jsonl") : log;
      checkInput("<log>", path, "file");
      checkInput("--font", opts.font, "file");
      checkOutputFile("--out", opts.out);
      const r = await plotTrainLog(path, opts.out, {
        series: series as LossSeries[],
        smooth: opts.smooth,
        width: opts.width,
        height: opts.height,
        scale: opts.scale,
        title: opts.title,
        fontFile: opts.font,
      });
      for (const n of r.notes) process.stderr.write(`dit plot-log: ${n}\n`);
      if (opts.json) process.stdout.write(JSON.stringify(r) + "\n");
      else process.stderr.write(`wrote ${r.out} (${r.width}×${r.height}, ${r.points} logged points)\n`);
    });
}
