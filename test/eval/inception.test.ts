/**
 * pytorch-fid's FID Inception-v3:
 *  - parity with every case of the `inception-reference` family (discovered by
 *    `<name>_{config.json,weights.safetensors,io.safetensors}`), every stored
 *    tensor within 1e-4 · max|want|, on the compiled (ONNX Runtime) and the
 *    jax-js eager path, and through `extract` from uint8 images;
 *  - the sFID tap against a plain float64 loop of Mixed_6d.branch1x1 on the
 *    network's own Mixed_6c output;
 *  - the pools against plain loops with PyTorch's semantics (negative inputs);
 *  - a full-size stand-in: a legacy-format `.pt` with the real names and shapes
 *    (and the 94 int64 num_batches_tracked buffers) written by the project's
 *    writer, loaded by loadFidInception and run on one image;
 *  - clear errors for missing / misshapen weights, a missing file and bad images.
 */
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { homedir, tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { numpy as np } from "@jax-js/jax";
import { EvalInputError } from "../../src/eval/errors.js";
import {
  checkInceptionWeights,
  fidInceptionFromStateDict,
  fidInceptionTaps,
  INCEPTION_WEIGHTS_ENV,
  INCEPTION_WEIGHTS_FILE,
  INCEPTION_WEIGHTS_URL,
  InceptionWeightsError,
  loadFidInception,
  readInceptionWeights,
  resizeBilinear,
  SFID_DIM,
} from "../../src/eval/inception.js";
import { avgPool3x3s1p1, maxPool3x3s1p1, maxPool3x3s2 } from "../../src/eval/inception-layers.js";
import { readSafetensors, type StTensor } from "../../src/io/safetensors.js";
import { subtree, type StateDict } from "../../src/io/state-dict-tree.js";
import { saveTorchCheckpoint, TorchOrderedDict, TorchTensor } from "../../src/io/torch-save.js";
import { compile } from "../../src/runtime/compile.js";
import { eager } from "../../src/runtime/eager.js";
import { initJax } from "../../src/runtime/jax.js";
import { Tensor } from "../../src/runtime/tensor.js";
import { Rng } from "../../src/util/rng.js";
import { fixturePath, fixtureSkip } from "../fixture-root.js";

const FAMILY = "inception-reference";
const familySkip = fixtureSkip(FAMILY);

/** Cases of the family: every `<name>_config.json` with its weights and io files. */
function discoverCases(): string[] {
  if (familySkip) return [];
  return readdirSync(fixturePath(FAMILY))
    .filter((f) => f.endsWith("_config.json"))
    .map((f) => f.slice(0, -"_config.json".length))
    .filter((c) => existsSync(fixturePath(FAMILY, `${c}_weights.safetensors`)) && existsSync(fixturePath(FAMILY, `${c}_io.safetensors`)))
    .sort();
}
const CASES = discoverCases();

/** max|got − want| / max|want| (shapes must match). */
function relErr(got: Tensor | { data: ArrayLike<number>; shape: number[] }, want: StTensor): number {
  assert.deepEqual(got.shape, want.shape, "shape");
  const g = got.data as ArrayLike<number>;
  const w = want.data as Float32Array;
  let err = 0;
  let ref = 0;
  for (let i = 0; i < w.length; i++) {
    ref = Math.max(ref, Math.abs(w[i]!));
    err = Math.max(err, Math.abs(g[i]! - w[i]!));
  }
  return err / ref;
}

const TOL = 1e-4;
/** The io tensors a case may store per input X: `X_<name>`, and which output of ours each is. */
const TAPS = ["block0", "block1", "mixed_5b", "block2", "pool3"] as const;

/** Inputs of a case: io tensors (N, 3, H, W) without a `_` suffix. */
const inputsOf = (io: Map<string, StTensor>) => [...io.keys()].filter((k) => !k.includes("_") && io.get(k)!.shape.length === 4 && io.get(k)!.shape[1] === 3);

/** The network's preprocessing of float [0, 1] images: resize to 299 (unless 299), then 2x − 1. */
function preprocess(x: StTensor): Tensor {
  const [n, c, h, w] = x.shape as [number, number, number, number];
  const r = h === 299 && w === 299 ? Float32Array.from(x.data as Float32Array) : resizeBilinear(x.data as Float32Array, [n, c, h, w]);
  return new Tensor(r.map((v) => 2 * v - 1), [n, c, 299, 299]);
}

describe("FID Inception: parity with the inception-reference fixtures", { skip: familySkip }, () => {
  it("the family holds at least one case", () => assert.ok(CASES.length > 0, `no <name>_{config.json,weights.safetensors,io.safetensors} under ${fixturePath(FAMILY)}`));

  for (const name of CASES) {
    describe(`case ${name}`, () => {
      let weights: StateDict;
      let io: Map<string, StTensor>;
      before(() => {
        weights = readInceptionWeights(fixturePath(FAMILY, `${name}_weights.safetensors`));
        io = readSafetensors(fixturePath(FAMILY, `${name}_io.safetensors`)).tensors;
      });

      it("every io tensor is an input or has a counterpart here (nothing stored goes unchecked)", () => {
        const inputs = inputsOf(io);
        assert.ok(inputs.length > 0);
        for (const k of io.keys()) {
          if (inputs.includes(k)) continue;
          const x = inputs.find((i) => k.startsWith(`${i}_`));
          assert.ok(x, `io tensor '${k}' belongs to no input`);
          const what = k.slice(x.length + 1);
          assert.ok(what === "resized" || (TAPS as readonly string[]).includes(what), `io tensor '${k}': no counterpart for '${what}'`);
        }
      });

      it("weights: layout checked, channel counts read from them", () => {
        const cfg = JSON.parse(readFileSync(fixturePath(FAMILY, `${name}_config.json`), "utf8")) as { params?: Record<string, number[]> };
        const layout = checkInceptionWeights(weights);
        assert.equal(layout.numClasses, 1008);
        if (cfg.params) assert.deepEqual([...layout.names].sort(), Object.keys(cfg.params).sort());
        for (const x of inputsOf(io)) {
          const pool3 = io.get(`${x}_pool3`);
          if (pool3) assert.equal(layout.featureDim, pool3.shape[1]);
        }
      });

      it("bilinear resize to 299 (align_corners=False, no antialias)", (t) => {
        let n = 0;
        for (const x of inputsOf(io)) {
          const want = io.get(`${x}_resized`);
          if (!want) continue;
          n++;
          const [b, c, h, w] = io.get(x)!.shape as [number, number, number, number];
          const got = { data: resizeBilinear(io.get(x)!.data as Float32Array, [b, c, h, w]), shape: [b, c, 299, 299] };
          const e = relErr(got, want);
          t.diagnostic(`${x}_resized: ${e.toExponential(2)}`);
          assert.ok(e <= TOL, `${x}_resized: ${e}`);
        }
        if (n === 0) t.skip("no <input>_resized tensor in this case");
      });

      // The eager path (jax-js on Wasm, ~3 s an image here) runs the input with the fewest images only.
      for (const [path, make, which] of [
        ["compiled (ONNX Runtime)", compile, "every input"],
        ["jax-js eager", eager, "the smallest input"],
      ] as const) {
        it(`${path}: every stored block of ${which} within ${TOL} · max|want|`, async (t) => {
          const fn = make(fidInceptionTaps as never);
          const inputs = inputsOf(io).sort((a, b) => io.get(a)!.shape[0]! - io.get(b)!.shape[0]!);
          try {
            for (const x of which === "every input" ? inputs : inputs.slice(0, 1)) {
              const out = (await fn(subtree(weights, ""), preprocess(io.get(x)!))) as unknown as Record<string, Tensor>;
              for (const tap of TAPS) {
                const want = io.get(`${x}_${tap}`);
                if (!want) continue;
                const e = relErr(out[tap]!, want);
                t.diagnostic(`${x}_${tap}: ${e.toExponential(2)}`);
                assert.ok(e <= TOL, `${x}_${tap}: max|Δ|/max|ref| = ${e}`);
              }
            }
          } finally {
            await fn.dispose();
          }
        });
      }

      it("extract(): uint8 NHWC images through the FeatureNetwork give the stored pool3; spatial and logits have their shapes", async (t) => {
        const net = fidInceptionFromStateDict(weights);
        try {
          assert.equal(net.name, "inception");
          assert.equal(net.spatialDim, 7 * 17 * 17);
          assert.match(net.weightsKey, /^[0-9a-f]{16}$/);
          for (const x of inputsOf(io)) {
            const want = io.get(`${x}_pool3`);
            if (!want) continue;
            const [n, c, h, w] = io.get(x)!.shape as [number, number, number, number];
            const src = io.get(x)!.data as Float32Array;
            const u8 = new Uint8Array(n * h * w * c); // the fixtures' inputs are k/255
            for (let i = 0; i < n; i++) for (let ch = 0; ch < c; ch++) for (let p = 0; p < h * w; p++) u8[(i * h * w + p) * c + ch] = Math.round(src[(i * c + ch) * h * w + p]! * 255);
            const progress: number[] = [];
            const out = await net.extract(u8, [n, h, w, c], { batch: 1, onProgress: (d) => progress.push(d) });
            assert.deepEqual(progress, Array.from({ length: n }, (_, i) => i + 1));
            const e = relErr({ data: out.features, shape: [n, net.featureDim] }, want);
            t.diagnostic(`${x}: pool3 ${e.toExponential(2)}`);
            assert.ok(e <= TOL, `${x}_pool3 via extract: ${e}`);
            assert.equal(out.spatial!.length, n * SFID_DIM);
            assert.equal(out.logits.length, n * net.numClasses);
          }
        } finally {
          await net.dispose();
        }
      });

      it("sFID tap: (N, 2023) = Mixed_6d.branch1x1 (conv 1×1 + BN + ReLU), channels 0..6, C-major, of the network's Mixed_6c output (float64 loop)", async () => {
        const x = inputsOf(io)[0]!;
        const fn = compile(fidInceptionTaps as never);
        let out: Record<string, Tensor>;
        try {
          out = (await fn(subtree(weights, ""), preprocess(io.get(x)!))) as unknown as Record<string, Tensor>;
        } finally {
          await fn.dispose();
        }
        const m6c = out.mixed_6c!;
        const [n, C, H, W] = m6c.shape as [number, number, number, number];
        assert.deepEqual([H, W], [17, 17]);
        assert.deepEqual(out.spatial!.shape, [n, 2023]);
        const g = (k: string) => weights.get(`Mixed_6d.branch1x1.${k}`)!.data as Float32Array;
        const [wt, gamma, beta, mean, variance] = [g("conv.weight"), g("bn.weight"), g("bn.bias"), g("bn.running_mean"), g("bn.running_var")];
        assert.equal(wt.length % C, 0);
        const M = m6c.data as Float32Array;
        const want = new Float64Array(n * 7 * H * W);
        for (let b = 0; b < n; b++) {
          for (let o = 0; o < 7; o++) {
            for (let p = 0; p < H * W; p++) {
              let s = 0;
              for (let c = 0; c < C; c++) s += wt[o * C + c]! * M[(b * C + c) * H * W + p]!;
              const y = ((s - mean[o]!) / Math.sqrt(variance[o]! + 0.001)) * gamma[o]! + beta[o]!;
              want[b * 2023 + o * H * W + p] = Math.max(0, y);
            }
          }
        }
        const sp = out.spatial!.data as Float32Array;
        let err = 0;
        let ref = 0;
        for (let i = 0; i < want.length; i++) {
          ref = Math.max(ref, Math.abs(want[i]!));
          err = Math.max(err, Math.abs(sp[i]! - want[i]!));
        }
        assert.ok(ref > 0, "the tap is not all zeros");
        assert.ok(err <= TOL * ref, `spatial vs float64 loop: ${err / ref}`);
      });
    });
  }
});

// ---------------------------------------------------------------------------
// Pools and resize against plain loops

/** PyTorch's 3×3 pools on one (H, W) plane, written as loops. */
function refPool(x: Float64Array, h: number, w: number, kind: "max_s2" | "max_s1p1" | "avg_s1p1"): { data: Float64Array; oh: number; ow: number } {
  const [stride, pad] = kind === "max_s2" ? [2, 0] : [1, 1];
  const oh = Math.floor((h + 2 * pad - 3) / stride) + 1;
  const ow = Math.floor((w + 2 * pad - 3) / stride) + 1;
  const out = new Float64Array(oh * ow);
  for (let i = 0; i < oh; i++) {
    for (let j = 0; j < ow; j++) {
      let mx = -Infinity;
      let sum = 0;
      let cnt = 0;
      for (let di = 0; di < 3; di++) {
        for (let dj = 0; dj < 3; dj++) {
          const r = i * stride - pad + di;
          const c = j * stride - pad + dj;
          if (r < 0 || r >= h || c < 0 || c >= w) continue; // −∞ for max, excluded for count_include_pad=False
          mx = Math.max(mx, x[r * w + c]!);
          sum += x[r * w + c]!;
          cnt++;
        }
      }
      out[i * ow + j] = kind === "avg_s1p1" ? sum / cnt : mx;
    }
  }
  return { data: out, oh, ow };
}

describe("FID Inception: pooling and resize", () => {
  before(() => initJax());
  for (const [h, w] of [
    [7, 7],
    [8, 5],
    [17, 17],
  ] as const) {
    it(`3×3 pools on ${h}×${w} with negative values match PyTorch's semantics`, () => {
      const rng = new Rng(h * 100 + w);
      const vals = rng.normals(2 * h * w).map((v) => v - 3); // mostly negative: −∞ vs 0 padding would differ
      for (const [kind, pool] of [
        ["max_s2", maxPool3x3s2],
        ["max_s1p1", maxPool3x3s1p1],
        ["avg_s1p1", avgPool3x3s1p1],
      ] as const) {
        const got = pool(np.array(vals).reshape([1, 2, h, w]));
        const data = got.dataSync() as Float32Array;
        for (let c = 0; c < 2; c++) {
          const want = refPool(Float64Array.from(vals.subarray(c * h * w, (c + 1) * h * w)), h, w, kind);
          assert.deepEqual(got.shape, [1, 2, want.oh, want.ow], kind);
          for (let i = 0; i < want.data.length; i++) {
            const g = data[c * want.oh * want.ow + i]!;
            assert.ok(Math.abs(g - want.data[i]!) <= 1e-6 * Math.max(1, Math.abs(want.data[i]!)), `${kind} [${c}, ${i}]: ${g} vs ${want.data[i]}`);
          }
        }
      }
    });
  }

  it("resizeBilinear: hand-worked 2 → 4 and 3 → 2, identity at the same size", () => {
    // src = (d + 0.5)·in/out − 0.5 clamped at 0: for 2 → 4: 0 (clamped), 0.25, 0.75, 1.25 → i0 = 1 = i1
    assert.deepEqual([...resizeBilinear(Float32Array.of(0, 1), [1, 1, 1, 2], [1, 4])], [0, 0.25, 0.75, 1]);
    // 3 → 2: src = 0.25, 1.75
    assert.deepEqual([...resizeBilinear(Float32Array.of(0, 4, 8), [1, 1, 1, 3], [1, 2])], [1, 7]);
    const x = new Rng(1).normals(2 * 3 * 5 * 4);
    assert.deepEqual(resizeBilinear(x, [2, 3, 5, 4], [5, 4]), x);
  });
});

// ---------------------------------------------------------------------------
// Loading: the full-size stand-in and errors

const FULL_SHAPES = fixturePath(FAMILY, "fid_inception_full_param_shapes.json");

describe("FID Inception: loading weights", () => {
  const tmp = mkdtempSync(join(tmpdir(), "dit-inception-"));
  after(() => rmSync(tmp, { recursive: true, force: true }));

  it("full-size stand-in: a legacy .pt with the real 472 names/shapes + 94 int64 num_batches_tracked loads; 2048-d pool3, one image through extract", { skip: fixtureSkip(`${FAMILY}/fid_inception_full_param_shapes.json`) }, async (t) => {
    const spec = JSON.parse(readFileSync(FULL_SHAPES, "utf8")) as { params: Record<string, number[]>; buffers_num_batches_tracked: { names: string[] } };
    const nbt = spec.buffers_num_batches_tracked.names;
    assert.equal(Object.keys(spec.params).length, 472);
    assert.equal(nbt.length, 94);
    // Random weights that keep activations O(1): He conv weights, BN near identity (the fixtures' scheme).
    const rng = new Rng(11);
    const sd = new Map<string, TorchTensor>();
    for (const [k, shape] of Object.entries(spec.params)) {
      const n = shape.reduce((a, b) => a * b, 1);
      let data: Float32Array;
      if (k.endsWith("conv.weight")) data = rng.normals(n, Math.sqrt(2 / (shape[1]! * shape[2]! * shape[3]!)));
      else if (k.endsWith("bn.weight")) data = rng.normals(n, 0.1).map((v) => 1 + v);
      else if (k.endsWith("running_var")) data = Float32Array.from({ length: n }, () => 0.5 + rng.uniform());
      else if (k.startsWith("fc.")) data = rng.normals(n, 0.05);
      else data = rng.normals(n, 0.1);
      sd.set(k, new TorchTensor("float32", shape, data));
      const buf = k.replace(/running_var$/, "num_batches_tracked");
      if (buf !== k && nbt.includes(buf)) sd.set(buf, new TorchTensor("int64", [], BigInt64Array.of(0n))); // after running_var, as state_dict() orders them
    }
    assert.equal(sd.size, 472 + 94);
    const path = join(tmp, INCEPTION_WEIGHTS_FILE);
    saveTorchCheckpoint(path, new TorchOrderedDict(sd), { format: "legacy" });
    assert.equal(readFileSync(path).subarray(0, 2).toString("hex"), "8002", "a legacy pickle, not a zip");

    let t0 = performance.now();
    const net = await loadFidInception({ weights: path });
    t.diagnostic(`load + check + hash: ${(performance.now() - t0).toFixed(0)} ms`);
    try {
      assert.deepEqual([net.featureDim, net.numClasses, net.spatialDim], [2048, 1008, 2023]);
      const img = Uint8Array.from({ length: 1 * 6 * 5 * 1 }, (_, i) => (i * 37) % 256); // one 6×5 grey image
      t0 = performance.now();
      const out = await net.extract(img, [1, 6, 5, 1]);
      t.diagnostic(`compile + extract of one image at full size: ${(performance.now() - t0).toFixed(0)} ms`);
      assert.equal(out.features.length, 2048);
      assert.equal(out.spatial!.length, 2023);
      assert.equal(out.logits.length, 1008);
      assert.ok(out.features.every((v) => Number.isFinite(v) && v >= 0), "pool3 is a mean of ReLU outputs");
      assert.ok(out.features.some((v) => v > 0));
      // logits = fc(pool3), in float64 from the weights written
      const fw = sd.get("fc.weight")!.data as Float32Array;
      const fb = sd.get("fc.bias")!.data as Float32Array;
      let err = 0;
      let ref = 0;
      for (let k = 0; k < 1008; k++) {
        let s = fb[k]!;
        for (let j = 0; j < 2048; j++) s += fw[k * 2048 + j]! * out.features[j]!;
        ref = Math.max(ref, Math.abs(s));
        err = Math.max(err, Math.abs(out.logits[k]! - s));
      }
      assert.ok(err <= 1e-4 * ref, `logits vs fc(pool3): ${err / ref}`);
    } finally {
      await net.dispose();
    }
  });

  describe("with the fixture weights", { skip: familySkip || (CASES.length ? false : "no case") }, () => {
    let weights: StateDict;
    before(() => {
      weights = readInceptionWeights(fixturePath(FAMILY, `${CASES[0]}_weights.safetensors`));
    });
    const without = (k: string) => new Map([...weights].filter(([n]) => n !== k));

    it("a missing tensor, a misshapen one and an unexpected one are named", () => {
      assert.throws(() => fidInceptionFromStateDict(without("Mixed_6d.branch1x1.bn.running_var"), "w.pth"), (e: Error) => e instanceof InceptionWeightsError && /w\.pth: .*1 missing \(Mixed_6d\.branch1x1\.bn\.running_var\)/.test(e.message));
      const bad = new Map(weights);
      const w = weights.get("Mixed_7a.branch3x3_2.conv.weight")!;
      bad.set("Mixed_7a.branch3x3_2.conv.weight", new Tensor(new Float32Array(w.data.length), [w.shape[0]!, w.shape[1]!, 1, 9]));
      bad.set("AuxLogits.fc.weight", new Tensor(new Float32Array(1), [1]));
      assert.throws(
        () => fidInceptionFromStateDict(bad),
        (e: Error) => e instanceof InceptionWeightsError && /Mixed_7a\.branch3x3_2\.conv\.weight is \[\d+, \d+, 1, 9\], expected \[\*, \d+, 3, 3\]/.test(e.message) && /1 unexpected \(AuxLogits\.fc\.weight\)/.test(e.message),
      );
      // an input-channel mismatch: Mixed_5c reads Mixed_5b's output
      const narrow = new Map(weights);
      const bp = weights.get("Mixed_5b.branch_pool.conv.weight")!;
      const o = bp.shape[0]! - 1;
      narrow.set("Mixed_5b.branch_pool.conv.weight", new Tensor(new Float32Array(o * bp.shape[1]!), [o, bp.shape[1]!, 1, 1]));
      assert.throws(() => fidInceptionFromStateDict(narrow), /Mixed_5b\.branch_pool\.bn\.weight is .*expected \[\d+\].*Mixed_5c\.branch1x1\.conv\.weight is/);
    });

    it("weightsKey is the same for the same weights and changes when one value changes", () => {
      const a = fidInceptionFromStateDict(weights).weightsKey;
      assert.equal(fidInceptionFromStateDict(new Map([...weights].map(([k, v]) => [k, new Tensor(Float32Array.from(v.data as Float32Array), [...v.shape])]))).weightsKey, a);
      const changed = new Map(weights);
      const v = weights.get("Conv2d_4a_3x3.bn.bias")!;
      const d = Float32Array.from(v.data as Float32Array);
      d[0] = Math.fround(d[0]! + 1e-3);
      changed.set("Conv2d_4a_3x3.bn.bias", new Tensor(d, [...v.shape]));
      assert.notEqual(fidInceptionFromStateDict(changed).weightsKey, a);
    });

    it("extract(): bad image shapes are EvalInputErrors saying what was expected", async () => {
      const net = fidInceptionFromStateDict(weights);
      try {
        await assert.rejects(net.extract(new Uint8Array(2 * 4 * 4 * 2), [2, 4, 4, 2]), (e: Error) => e instanceof EvalInputError && /expected 1 \(grey\) or 3 \(RGB\) channels, got 2/.test(e.message));
        await assert.rejects(net.extract(new Uint8Array(10), [1, 4, 4, 3]), (e: Error) => e instanceof EvalInputError && /needs 48 bytes, got 10/.test(e.message));
        await assert.rejects(net.extract(new Uint8Array(0), [1, 0, 4, 3]), EvalInputError);
        await assert.rejects(net.extract(new Uint8Array(3), [1, 1, 1.5, 3] as never), EvalInputError);
        const none = await net.extract(new Uint8Array(0), [0, 8, 8, 3]);
        assert.deepEqual([none.features.length, none.spatial!.length, none.logits.length], [0, 0, 0]);
      } finally {
        await net.dispose();
      }
    });
  });

  it("a missing weights file: the error names the file, where it is published and where to put it", async () => {
    const where = join(tmp, "nowhere", "inception.pth");
    await assert.rejects(loadFidInception({ weights: where }), (e: Error) => {
      assert.ok(e instanceof InceptionWeightsError);
      for (const s of [where, INCEPTION_WEIGHTS_FILE, INCEPTION_WEIGHTS_URL, join(homedir(), ".cache", "dit-ts", INCEPTION_WEIGHTS_FILE), INCEPTION_WEIGHTS_ENV]) assert.ok(e.message.includes(s), `message lacks ${s}: ${e.message}`);
      return true;
    });
    const saved = process.env[INCEPTION_WEIGHTS_ENV];
    process.env[INCEPTION_WEIGHTS_ENV] = join(tmp, "from-env.pth");
    try {
      await assert.rejects(loadFidInception(), (e: Error) => e instanceof InceptionWeightsError && e.message.includes(join(tmp, "from-env.pth")));
    } finally {
      if (saved === undefined) delete process.env[INCEPTION_WEIGHTS_ENV];
      else process.env[INCEPTION_WEIGHTS_ENV] = saved;
    }
  });

  it("non-float tensors other than num_batches_tracked are refused", () => {
    const path = join(tmp, "int.pt");
    saveTorchCheckpoint(path, new TorchOrderedDict(new Map([["Conv2d_1a_3x3.conv.weight", new TorchTensor("int64", [1], BigInt64Array.of(1n))]])), { format: "legacy" });
    assert.throws(() => readInceptionWeights(path), (e: Error) => e instanceof InceptionWeightsError && /'Conv2d_1a_3x3\.conv\.weight' is I64/.test(e.message));
  });
});
