/**
 * The loss-curve plot (src/train/plot.ts, `dit plot-log`): log parsing
 * (resumed runs, a half-written last line, bad lines), the log-space
 * smoothing against values worked out by hand, and a real render of a
 * synthetic log: the PNG decodes, has the asked size, is not blank and
 * shows each series' colour.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { after, describe, it } from "node:test";
import { PNG } from "pngjs";
import { defaultSmoothing, parseTrainLog, plotTrainLog, readTrainLog, renderLossChart, smoothLog, TrainPlotError } from "../../src/train/plot.js";

const BIN = fileURLToPath(new URL("../../bin/dit.mjs", import.meta.url));

/** A synthetic log: loss decaying with noise, vb much smaller (as in real runs). */
function syntheticLog(points: number): string {
  let seed = 7;
  const rnd = () => ((seed = (seed * 16807) % 2147483647) / 2147483647);
  let s = "";
  for (let i = 1; i <= points; i++) {
    const step = i * 10;
    const mse = (0.15 + 0.9 * Math.exp(-step / 300)) * (1 + 0.3 * (rnd() - 0.5));
    const vb = 0.02 * Math.exp(-step / 800) + 0.001;
    s += JSON.stringify({ step, loss: mse + vb, mse, vb, grad_norm: 1, lr: 1e-4, img_per_s: 10, wall_s: step / 10 }) + "\n";
  }
  return s;
}

/** Count pixels near an RGB colour, and pixels that are not white. */
function pixels(png: PNG, rgb?: [number, number, number]): number {
  let n = 0;
  for (let i = 0; i < png.data.length; i += 4) {
    const [r, g, b] = [png.data[i]!, png.data[i + 1]!, png.data[i + 2]!];
    if (rgb ? Math.abs(r - rgb[0]) + Math.abs(g - rgb[1]) + Math.abs(b - rgb[2]) < 40 : r < 250 || g < 250 || b < 250) n++;
  }
  return n;
}

describe("training log parsing", () => {
  it("keeps the later line of a step logged twice (a resumed run) and sorts by step", () => {
    const text = ['{"step":20,"loss":2}', '{"step":10,"loss":1}', '{"step":20,"loss":3}', ""].join("\n");
    const { records, notes } = parseTrainLog(text);
    assert.deepEqual(
      records.map((r) => [r.step, r.loss]),
      [
        [10, 1],
        [20, 3],
      ],
    );
    assert.match(notes.join("\n"), /logged twice/);
  });

  it("skips a half-written last line, with a note", () => {
    const { records, notes } = parseTrainLog('{"step":1,"loss":1}\n{"step":2,"lo');
    assert.equal(records.length, 1);
    assert.match(notes.join("\n"), /half-written last line 2/);
  });

  it("rejects a malformed line in the middle, naming it", () => {
    assert.throws(() => parseTrainLog('{"step":1,"loss":1}\nnot json\n{"step":2,"loss":1}\n', "run/log.jsonl"), /run\/log\.jsonl: line 2 is not JSON/);
  });

  it("rejects a record without a finite step or loss", () => {
    assert.throws(() => parseTrainLog('{"step":1}\n'), /line 1 has no finite numeric 'loss'/);
    assert.throws(() => parseTrainLog('{"step":"1","loss":1}\n'), /line 1 has no finite numeric 'step'/);
    assert.throws(() => parseTrainLog("[1,2]\n"), /line 1 is not a JSON object/);
  });

  it("bad logs are TrainPlotError (one line from the CLI, not an internal error)", () => {
    assert.throws(() => parseTrainLog("not json\n{}\n", "run/log.jsonl"), TrainPlotError);
    assert.throws(() => parseTrainLog('{"loss":1}\n', "run/log.jsonl"), TrainPlotError);
    assert.throws(() => readTrainLog(join(tmpdir(), "dit-no-such-run", "log.jsonl")), (e: unknown) => e instanceof TrainPlotError && /no training log at/.test(e.message));
  });
});

describe("log-space smoothing", () => {
  it("is a centred geometric mean over the window, shrunk at the ends", () => {
    const got = smoothLog([1, 10, 100, 1000], 3);
    const want = [Math.sqrt(10), 10, 100, Math.sqrt(100 * 1000)]; // by hand: 10^mean(log10)
    got.forEach((g, i) => assert.ok(Math.abs(g - want[i]!) <= 1e-9 * want[i]!, `point ${i}: ${g} vs ${want[i]}`));
  });

  it("skips values ≤ 0 and leaves a window of 1 as the data", () => {
    const close = (got: number[], want: number[]) => got.forEach((g, i) => assert.ok(Math.abs(g - want[i]!) <= 1e-12 * want[i]!, `point ${i}: ${g} vs ${want[i]}`));
    close(smoothLog([2, 0, 8], 3), [2, 4, 8]); // √(2·8) = 4 in the middle
    close(smoothLog([3, 5], 1), [3, 5]);
    assert.throws(() => smoothLog([1], 0), /positive integer/);
  });

  it("defaults to an odd window of about n / 20", () => {
    assert.deepEqual([10, 200, 1000].map(defaultSmoothing), [1, 11, 51]);
  });
});

describe("loss chart PNG", () => {
  const dir = mkdtempSync(join(tmpdir(), "dit-plot-"));
  after(() => rmSync(dir, { recursive: true, force: true }));
  const log = join(dir, "log.jsonl");
  writeFileSync(log, syntheticLog(120));

  it("renders a synthetic log: decodes, has the asked size, draws every series", async () => {
    const { records } = parseTrainLog(readFileSync(log, "utf8"));
    const r = await renderLossChart(records, { width: 400, height: 250, scale: 1 });
    const png = PNG.sync.read(Buffer.from(r.png));
    assert.equal(png.width, 400);
    assert.equal(png.height, 250);
    assert.equal([r.width, r.height].join("×"), "400×250");
    const inked = pixels(png) / (png.width * png.height);
    assert.ok(inked > 0.02 && inked < 0.6, `fraction of non-white pixels ${inked.toFixed(3)}: blank or filled`);
    // the smoothed lines in the series colours: loss blue, mse green, vb red
    for (const [name, rgb] of [["loss", [0x1f, 0x77, 0xb4]], ["mse", [0x2c, 0xa0, 0x2c]], ["vb", [0xd6, 0x27, 0x28]]] as const) {
      assert.ok(pixels(png, [...rgb]) > 50, `no ${name} line drawn`);
    }
  });

  it("draws only the series asked for", async () => {
    const { records } = parseTrainLog(readFileSync(log, "utf8"));
    const r = await renderLossChart(records, { width: 300, height: 200, scale: 1, series: ["vb"] });
    const png = PNG.sync.read(Buffer.from(r.png));
    assert.ok(pixels(png, [0xd6, 0x27, 0x28]) > 50, "vb missing");
    assert.equal(pixels(png, [0x2c, 0xa0, 0x2c]), 0, "mse drawn though not asked for");
  });

  it("plotTrainLog writes the PNG at the default size and scale (1800×1000)", async () => {
    const out = join(dir, "loss.png");
    const r = await plotTrainLog(log, out);
    assert.equal(r.points, 120);
    const png = PNG.sync.read(readFileSync(out));
    assert.deepEqual([png.width, png.height], [1800, 1000]);
    assert.deepEqual(readdirSync(dir).filter((f) => f.endsWith(".tmp")), [], "a temporary file was left behind");
  });

  it("a missing log or an empty one is a clear error", async () => {
    await assert.rejects(plotTrainLog(join(dir, "nope.jsonl"), join(dir, "x.png")), /no training log at .*nope\.jsonl/);
    writeFileSync(join(dir, "empty.jsonl"), "");
    await assert.rejects(plotTrainLog(join(dir, "empty.jsonl"), join(dir, "x.png")), /no records/);
    assert.ok(!existsSync(join(dir, "x.png")));
  });

  it("dit plot-log takes the run folder and prints what it wrote", () => {
    const out = join(dir, "cli.png");
    const r = spawnSync(process.execPath, [BIN, "plot-log", dir, "--out", out, "--width", "300", "--height", "200", "--scale", "1", "--json"], { encoding: "utf8" });
    assert.equal(r.status, 0, r.stderr);
    const j = JSON.parse(r.stdout.trim()) as { out: string; width: number; height: number; points: number };
    assert.deepEqual([j.out, j.width, j.height, j.points], [out, 300, 200, 120]);
    assert.deepEqual([PNG.sync.read(readFileSync(out)).width, PNG.sync.read(readFileSync(out)).height], [300, 200]);
    const bad = spawnSync(process.execPath, [BIN, "plot-log", dir, "--series", "loss,foo"], { encoding: "utf8" });
    assert.notEqual(bad.status, 0);
    assert.match(bad.stderr, /unknown series 'foo'/);
  });
});
