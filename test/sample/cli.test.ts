/** `dit sample` end to end on a tiny random model saved in the bundled layout. */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { PNG } from "pngjs";
import { readNpz } from "../../src/io/npz.js";
import { writeTinyModel } from "./tiny.js";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
/** The `dit` bin (it registers tsx from the package, so it runs from any working directory). */
const dit = (cwd: string, ...args: string[]) => spawnSync(process.execPath, [join(ROOT, "bin/dit.mjs"), "sample", ...args], { cwd, encoding: "utf8" });

describe("dit sample", () => {
  const tmp = mkdtempSync(join(tmpdir(), "dit-sample-cli-"));
  after(() => rmSync(tmp, { recursive: true, force: true }));
  const model = writeTinyModel(join(tmp, "model"));

  it("--help names every option of the issue", () => {
    const r = dit(tmp, "--help");
    assert.equal(r.status, 0, r.stderr);
    for (const o of ["--ckpt", "--model", "--config", "--vae", "--class", "--num-samples", "--cfg-scale", "--cfg-mode", "--sampler", "--num-sampling-steps", "--seed", "--batch-size", "--image-size", "--out", "--npz", "--json"]) assert.match(r.stdout, new RegExp(`${o}\\b`));
    assert.match(r.stdout.replace(/\s+/g, " "), /with no arguments at all, 4 images of each of its 10 classes with DPM-Solver\+\+ \(25 steps\)/);
  });

  it("writes the grid (rows = classes), the PNGs and the .npz; --json reports them; a rerun replaces only its own files", () => {
    const out = join(tmp, "out");
    const r = dit(tmp, "--ckpt", model, "--class", "Sneaker", "trouser", "--num-samples", "6", "--sampler", "dpm++", "--num-sampling-steps", "3", "--batch-size", "4", "--out", out, "--npz", join(tmp, "s.npz"), "--json");
    assert.equal(r.status, 0, r.stderr);
    const j = JSON.parse(r.stdout) as { grid: string; images: string[]; npz: string; labels: number[]; classes: number[] };
    assert.deepEqual(j.labels, [2, 1, 2, 1, 2, 1]);
    assert.deepEqual(j.classes, [2, 1]);
    assert.equal(j.images.length, 6);
    const grid = PNG.sync.read(readFileSync(j.grid));
    assert.deepEqual([grid.width, grid.height], [3 * 10 + 2, 2 * 10 + 2]); // 3 columns × 2 rows of 8×8 images, 2 px padding
    const a = readNpz(j.npz).get("arr_0")!;
    assert.deepEqual(a.shape, [6, 8, 8, 3]);
    // the npz holds the same pixels as the PNGs
    const png2 = PNG.sync.read(readFileSync(j.images[2]!));
    assert.equal(a.data[2 * 8 * 8 * 3 + 5 * 3], png2.data[4 * 5]);

    writeFileSync(join(out, "notes.txt"), "mine");
    const r2 = dit(tmp, "--ckpt", model, "--class", "0", "--num-samples", "2", "--sampler", "ddim", "--num-sampling-steps", "2", "--out", out);
    assert.equal(r2.status, 0, r2.stderr);
    assert.match(r2.stdout, /wrote the grid to .*grid\.png \(rows: T-shirt\/top\)/);
    assert.deepEqual(readdirSync(out).sort(), [".dit-sample.json", "000000.png", "000001.png", "grid.png", "notes.txt"]);
  });

  it("bad input: a clear error and nothing written", () => {
    const out = join(tmp, "bad");
    const r = dit(tmp, "--ckpt", model, "--class", "Sneakr!", "--out", out);
    assert.equal(r.status, 1);
    assert.match(r.stderr, /unknown class name "Sneakr!"\. Nearest: 2: Sneaker/);
    assert.ok(!existsSync(out));
    const s = dit(tmp, "--ckpt", model, "--sampler", "ddim", "--num-sampling-steps", "600", "--out", out);
    assert.equal(s.status, 1);
    assert.match(s.stderr, /ddim cannot run 600 steps/);
  });
});
