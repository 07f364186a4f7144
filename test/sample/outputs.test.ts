/** Sample outputs: grid layout and PNG sizes, pixel conversion, the manifest, and the ADM .npz (numpy cross-check when available). */
import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { PNG } from "pngjs";
import { gridLayout, readNpz, toRgb, toUint8Hwc, writeNpz, writeSampleOutputs, type SampleResult } from "../../src/index.js";
import { decodeNpy, encodeNpy } from "../../src/io/npz.js";
import { TINY_CONFIG } from "./tiny.js";

const tmp = mkdtempSync(join(tmpdir(), "dit-sample-out-"));
after(() => rmSync(tmp, { recursive: true, force: true }));

/** A fake result: image i filled with the value 10·i + 1 (H×W×C). */
function result(n: number, H: number, W: number, C: number, classes?: number[]): SampleResult {
  const images = new Uint8Array(n * H * W * C);
  for (let i = 0; i < n; i++) images.fill(10 * i + 1, i * H * W * C, (i + 1) * H * W * C);
  return { images, shape: [n, H, W, C], latents: new Float32Array(0), labels: new Int32Array(n), classes, sampler: "ddpm", steps: 1, cfgScale: 1, seed: 0, config: TINY_CONFIG };
}

const readPng = (p: string) => PNG.sync.read(readFileSync(p));

const python = (() => {
  const r = spawnSync("/usr/bin/python3", ["-c", "import numpy"], { encoding: "utf8" });
  return r.status === 0 ? undefined : "numpy under /usr/bin/python3 is not available";
})();

describe("pixels", () => {
  it("clamp(127.5·x + 128, 0, 255), truncated, channels last (sample_ddp.py)", () => {
    // x values and their expected bytes worked by hand: 127.5·x + 128 → trunc
    const x = Float32Array.from([-1, -1.2, 0, 0.999, 1, 2, -0.0039, 0.5]); // (1, 2, 2, 2): 2 channels
    const got = toUint8Hwc(x, [1, 2, 2, 2]);
    // channel 0 = [-1, -1.2, 0, 0.999] → [0.5→0, 0, 128, 255.37→255]; channel 1 = [1, 2, -0.0039, 0.5] → [255, 255, 127.5→127, 191.75→191]
    assert.deepEqual(Array.from(got), [0, 255, 0, 255, 128, 127, 255, 191]);
    assert.deepEqual(Array.from(toRgb(Uint8Array.from([7, 9]), [2, 1, 1, 1])), [7, 7, 7, 9, 9, 9]);
  });
});

describe("grid", () => {
  it("rows = given classes (image i at row i mod K, column ⌊i/K⌋); else ⌈√N⌉ columns", () => {
    const g = gridLayout(7, [4, 5, 6]);
    assert.equal(g.rows, 3);
    assert.equal(g.cols, 3);
    assert.deepEqual([g.cell(0, 0), g.cell(1, 0), g.cell(2, 0), g.cell(0, 1), g.cell(0, 2), g.cell(1, 2)], [0, 1, 2, 3, 6, -1]);
    const r = gridLayout(10);
    assert.deepEqual([r.rows, r.cols, r.cell(0, 3), r.cell(1, 0), r.cell(2, 2)], [3, 4, 3, 4, -1]);
  });
  it("grid.png is cols·(W+2)+2 wide and rows·(H+2)+2 high; cells sit where the layout says", () => {
    const w = writeSampleOutputs(result(10, 8, 6, 1, [0, 1]), join(tmp, "grid"));
    const g = readPng(w.grid);
    assert.equal(g.width, 5 * (6 + 2) + 2);
    assert.equal(g.height, 2 * (8 + 2) + 2);
    const px = (x: number, y: number) => g.data[4 * (y * g.width + x)];
    assert.equal(px(0, 0), 0); // padding
    assert.equal(px(2, 2), 1); // row 0, col 0: image 0
    assert.equal(px(2, 2 + 10), 11); // row 1, col 0: image 1
    assert.equal(px(2 + 8, 2), 21); // row 0, col 1: image 2
    assert.equal(px(2 + 4 * 8, 2 + 10), 91); // row 1, col 4: image 9
    const one = readPng(w.images[3]!);
    assert.deepEqual([one.width, one.height, one.data[0], one.data[1], one.data[2]], [6, 8, 31, 31, 31]);
  });
  it("RGB images stay RGB", () => {
    const r = result(1, 2, 2, 3);
    r.images.set([10, 20, 30]);
    const w = writeSampleOutputs(r, join(tmp, "rgb"));
    const p = readPng(w.images[0]!);
    assert.deepEqual(Array.from(p.data.subarray(0, 4)), [10, 20, 30, 255]);
  });
});

describe("manifest", () => {
  it("a run removes only the files its previous run wrote", () => {
    const dir = join(tmp, "replace");
    writeSampleOutputs(result(5, 2, 2, 1), dir);
    writeFileSync(join(dir, "mine.txt"), "keep me");
    writeFileSync(join(dir, "000009.png"), "not written by dit sample");
    const w = writeSampleOutputs(result(2, 2, 2, 1), dir);
    assert.ok(existsSync(join(dir, "000000.png")) && existsSync(join(dir, "000001.png")));
    for (const f of ["000002.png", "000003.png", "000004.png"]) assert.ok(!existsSync(join(dir, f)), f);
    assert.ok(existsSync(join(dir, "mine.txt")) && existsSync(join(dir, "000009.png")));
    assert.equal(w.removed.length, 6); // 5 images + grid
  });
  it("a manifest naming paths outside the folder removes nothing outside it", () => {
    const dir = join(tmp, "evil");
    writeSampleOutputs(result(1, 2, 2, 1), dir);
    const outside = join(tmp, "outside.txt");
    writeFileSync(outside, "x");
    writeFileSync(join(dir, ".dit-sample.json"), JSON.stringify({ files: ["../outside.txt", outside] }));
    writeSampleOutputs(result(1, 2, 2, 1), dir);
    assert.ok(existsSync(outside));
  });
});

describe("npz", () => {
  it(".npy header and data round-trip; the header is padded to 64 bytes", () => {
    const a = { dtype: "float32" as const, shape: [2, 3], data: Float32Array.from([1, 2, 3, 4, 5, 6.5]) };
    const bytes = encodeNpy(a);
    // 10 magic/version/length bytes + the 60-character dict + "\n" = 71 → padded to 128
    assert.equal(bytes.length, 128 + 24);
    assert.equal(Buffer.from(bytes.subarray(1, 6)).toString(), "NUMPY");
    assert.match(Buffer.from(bytes.subarray(10, 128)).toString("latin1"), /^\{'descr': '<f4', 'fortran_order': False, 'shape': \(2, 3\), \} *\n$/);
    assert.deepEqual(decodeNpy(bytes), a);
  });
  it("--npz layout: arr_0, uint8, N×H×W×3 (grayscale replicated); arr_1, int32 labels", () => {
    const r = result(3, 4, 5, 1);
    r.labels.set([2, 0, 1]);
    const w = writeSampleOutputs(r, join(tmp, "npzdir"), { npz: join(tmp, "s.npz") });
    const m = readNpz(w.npz!);
    assert.deepEqual([...m.keys()], ["arr_0", "arr_1"]);
    assert.deepEqual(m.get("arr_1"), { dtype: "int32", shape: [3], data: Int32Array.from([2, 0, 1]) });
    const a = m.get("arr_0")!;
    assert.equal(a.dtype, "uint8");
    assert.deepEqual(a.shape, [3, 4, 5, 3]);
    assert.equal(a.data[0], 1);
    assert.equal(a.data[4 * 5 * 3 * 2 + 2], 21);
  });
  it("numpy reads what writeNpz writes", { skip: python }, () => {
    const data = Uint8Array.from({ length: 2 * 3 * 4 * 3 }, (_, i) => (i * 7) % 256);
    const file = join(tmp, "py.npz");
    writeNpz(file, { arr_0: { dtype: "uint8", shape: [2, 3, 4, 3], data }, labels: { dtype: "int32", shape: [2], data: Int32Array.from([5, -1]) } });
    const out = execFileSync("/usr/bin/python3", ["-c", "import numpy as np, sys; f = np.load(sys.argv[1]); a = f['arr_0']; print(sorted(f.files), a.dtype, a.shape, int(a.sum()), int(a[1, 2, 3, 1]), f['labels'].tolist())", file], { encoding: "utf8" });
    const sum = data.reduce((s, v) => s + v, 0);
    assert.equal(out.trim(), `['arr_0', 'labels'] uint8 (2, 3, 4, 3) ${sum} ${data[((1 * 3 + 2) * 4 + 3) * 3 + 1]} [5, -1]`);
  });
  it("we read what numpy's savez writes", { skip: python }, () => {
    const file = join(tmp, "from-np.npz");
    execFileSync("/usr/bin/python3", ["-c", "import numpy as np, sys; np.savez(sys.argv[1], arr_0=np.arange(24, dtype=np.uint8).reshape(2, 3, 4), x=np.array([1.5, -2], dtype=np.float32), y=np.array([3, -4], dtype=np.int64))", file]);
    const m = readNpz(file);
    assert.deepEqual(m.get("arr_0")!.shape, [2, 3, 4]);
    assert.deepEqual(Array.from(m.get("arr_0")!.data as Uint8Array), Array.from({ length: 24 }, (_, i) => i));
    assert.deepEqual(Array.from(m.get("x")!.data as Float32Array), [1.5, -2]);
    assert.equal(m.get("y")!.dtype, "int64"); // ADM's sampler writes its labels (arr_1) as int64
    assert.deepEqual(Array.from(m.get("y")!.data as BigInt64Array), [3n, -4n]);
  });
});
