/**
 * Respacing semantics and errors, schedules, and the sampling loops' noise
 * handling (no fixtures needed: a small analytic stand-in model).
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  createDiffusion,
  getNamedBetaSchedule,
  linspace,
  logSnrTimesteps,
  RespacingError,
  roundHalfEven,
  spaceTimesteps,
  type ModelFn,
} from "../../src/diffusion/index.js";
import { Tensor } from "../../src/runtime/tensor.js";
import { Rng } from "../../src/util/rng.js";

describe("spaceTimesteps", () => {
  it("rounds half to even on an accumulated stride (Python round)", () => {
    assert.deepEqual([0.5, 1.5, 2.5, 3.5, 41.625 * 4].map(roundHalfEven), [0, 2, 2, 4, 166]);
    const s = spaceTimesteps(1000, "25");
    assert.equal(s.length, 25);
    // Math.round(i · 999/24) differs for this count (41.625 · 4 = 166.5 → 166 in Python)
    const naive = Array.from({ length: 25 }, (_, i) => Math.round((i * 999) / 24));
    assert.notDeepEqual(s, naive);
    assert.ok(s.includes(166) && !s.includes(167));
  });

  it("ddimN uses the integer stride giving exactly N steps; sections split evenly", () => {
    assert.deepEqual(spaceTimesteps(1000, "ddim50"), Array.from({ length: 50 }, (_, i) => i * 20));
    assert.deepEqual(spaceTimesteps(10, "2,3"), [0, 4, 5, 7, 9]);
    assert.deepEqual(spaceTimesteps(1000, [1000]), Array.from({ length: 1000 }, (_, i) => i));
    assert.deepEqual(spaceTimesteps(1000, " 250 "), spaceTimesteps(1000, "250"));
  });

  const bad: [string, RegExp][] = [
    ["ddim999", /cannot create exactly 999 steps/],
    ["ddim0", /cannot create exactly 0 steps/],
    ["ddim", /not an integer/],
    ["ddimx", /not an integer/],
    ["1001", /cannot divide section 0 of 1000 steps into 1001/],
    ["10,600", /cannot divide section 1 of 500 steps into 600/],
    ["abc", /not an integer/],
    ["10,,20", /not an integer/],
    ["2.5", /not an integer/],
    ["-5", /negative/],
  ];
  for (const [spec, msg] of bad) {
    it(`rejects ${JSON.stringify(spec)} with a clear message`, () => {
      assert.throws(() => spaceTimesteps(1000, spec), (e: unknown) => e instanceof RespacingError && msg.test(e.message));
      // createDiffusion refuses it before building anything
      assert.throws(() => createDiffusion({ timestepRespacing: spec }), RespacingError);
    });
  }
  it("rejects bad section lists and step counts", () => {
    assert.throws(() => spaceTimesteps(1000, []), RespacingError);
    assert.throws(() => spaceTimesteps(1000, [1.5]), RespacingError);
    assert.throws(() => spaceTimesteps(0, "10"), RespacingError);
  });
});

describe("logSnrTimesteps (\"logsnrN\")", () => {
  const base = createDiffusion("");
  const lambda = (t: number) => 0.5 * Math.log(base.alphasCumprod[t]! / (1 - base.alphasCumprod[t]!));

  it("spaces the steps evenly in log-SNR, from t = 0 to t = T−1, on the trained integer timesteps", () => {
    const ts = logSnrTimesteps(base.alphasCumprod, 25);
    assert.equal(ts.length, 25);
    assert.equal(ts[0], 0);
    assert.equal(ts[24], 999);
    const step = (lambda(0) - lambda(999)) / 24;
    ts.forEach((t, k) => {
      assert.ok(Number.isInteger(t) && (k === 0 || t > ts[k - 1]!), `strictly ascending integers: ${ts.join(",")}`);
      // within one timestep's worth of λ of the even target (rounding to integers near t = 0, where λ is steep)
      const target = lambda(0) - k * step;
      const slack = Math.abs(lambda(Math.max(0, t - 1)) - lambda(Math.min(999, t + 1)));
      assert.ok(Math.abs(lambda(t) - target) <= slack, `t = ${t}: λ ${lambda(t).toFixed(3)} vs target ${target.toFixed(3)}`);
    });
    // the uniform official respacing leaves a last interval ~7× the average λ step; log-SNR steps do not
    const uniform = spaceTimesteps(1000, "25");
    assert.ok(lambda(uniform[0]!) - lambda(uniform[1]!) > 6 * step);
    assert.ok(lambda(ts[0]!) - lambda(ts[1]!) < 1.5 * step);
  });

  it("keeps the steps distinct where λ changes slowly, up to every timestep", () => {
    for (const n of [2, 500, 999, 1000]) {
      const ts = logSnrTimesteps(base.alphasCumprod, n);
      assert.equal(new Set(ts).size, n);
      assert.equal(ts[0], 0);
      assert.equal(ts[n - 1], 999);
    }
    assert.deepEqual([...createDiffusion("logsnr1000").timestepMap], Array.from({ length: 1000 }, (_, i) => i));
  });

  it("createDiffusion(\"logsnrN\") builds it for the chosen schedule and rejects bad counts", () => {
    assert.deepEqual([...createDiffusion("logsnr25").timestepMap], logSnrTimesteps(base.alphasCumprod, 25));
    const cosine = createDiffusion({ noiseSchedule: "cosine", timestepRespacing: "logsnr10" });
    assert.deepEqual([...cosine.timestepMap], logSnrTimesteps(createDiffusion({ noiseSchedule: "cosine" }).alphasCumprod, 10));
    assert.notDeepEqual(cosine.timestepMap, createDiffusion("logsnr10").timestepMap);
    for (const [spec, msg] of [
      ["logsnr1", /between 2 and 1000 steps, got 1/],
      ["logsnr1001", /between 2 and 1000 steps, got 1001/],
      ["logsnr", /expected "logsnrN"/],
      ["logsnr2.5", /expected "logsnrN"/],
    ] as const) {
      assert.throws(() => createDiffusion(spec), (e: unknown) => e instanceof RespacingError && msg.test(e.message), spec);
    }
  });
});

describe("schedules", () => {
  it("linear: numpy linspace 1e-4 → 2e-2 over 1000 steps", () => {
    const b = getNamedBetaSchedule("linear", 1000);
    assert.equal(b.length, 1000);
    assert.equal(b[0], 1e-4);
    assert.equal(b[999], 0.02);
    assert.deepEqual(linspace(0, 1, 5), Float64Array.of(0, 0.25, 0.5, 0.75, 1));
  });

  it("cosine: betas in (0, 0.999], ᾱ decreasing to ~0, all derived arrays finite", () => {
    const d = createDiffusion({ noiseSchedule: "squaredcos_cap_v2", diffusionSteps: 100 });
    assert.equal(d.numTimesteps, 100);
    for (const v of d.betas) assert.ok(v > 0 && v <= 0.999 + 1e-12, `beta ${v}`);
    for (let i = 1; i < 100; i++) assert.ok(d.alphasCumprod[i]! < d.alphasCumprod[i - 1]!);
    assert.ok(d.alphasCumprod[99]! < 1e-3);
    for (const k of ["posteriorLogVarianceClipped", "posteriorMeanCoef1", "posteriorMeanCoef2", "sqrtRecipm1AlphasCumprod"] as const) {
      for (const v of d[k]) assert.ok(Number.isFinite(v), k);
    }
  });
});

/** An analytic stand-in for a DiT: eps = 0.1·x, variance channels = 0.2; records the timesteps it sees. */
function fakeModel(seen: number[][]): ModelFn {
  return (x, t) => {
    seen.push([...(t.data as Int32Array)]);
    const [N, C, H, W] = x.shape as [number, number, number, number];
    const out = new Float32Array(N * 2 * C * H * W);
    const plane = C * H * W;
    for (let n = 0; n < N; n++) {
      for (let i = 0; i < plane; i++) {
        out[n * 2 * plane + i] = 0.1 * (x.data as Float32Array)[n * plane + i]!;
        out[n * 2 * plane + plane + i] = 0.2;
      }
    }
    return Promise.resolve(new Tensor(out, [N, 2 * C, H, W]));
  };
}

describe("sampling loops", () => {
  const shape = [2, 3, 4, 4];
  const len = 2 * 3 * 4 * 4;

  it("the model sees original timesteps through timestep_map", async () => {
    const seen: number[][] = [];
    const d = createDiffusion("ddim25");
    await d.ddimSampleLoop(fakeModel(seen), shape, { seed: 1 });
    assert.equal(seen.length, 25);
    assert.deepEqual(seen[0], [960, 960]);
    assert.deepEqual(seen[24], [0, 0]);
  });

  it("a seeded generator reproduces a trajectory; supplying its draws replays it exactly", async () => {
    const d = createDiffusion("10");
    const model = fakeModel([]);
    const a = await d.pSampleLoop(model, shape, { seed: 7 });
    const b = await d.pSampleLoop(model, shape, { seed: 7 });
    assert.deepEqual(a.data, b.data);
    const c = await d.pSampleLoop(model, shape, { seed: 8 });
    assert.notDeepEqual(a.data, c.data);
    // the generator draws x_T, then one noise array per step (including the last)
    const rng = new Rng(7);
    const noise = rng.normals(len);
    const stepNoise = Array.from({ length: 10 }, () => rng.normals(len));
    const replay = await d.pSampleLoop(model, shape, { noise, stepNoise });
    assert.deepEqual(replay.data, a.data);
  });

  it("progressive loops yield every step; DDIM with eta = 0 ignores the step noise", async () => {
    const d = createDiffusion("10");
    const model = fakeModel([]);
    const noise = new Rng(3).normals(len);
    const steps = [];
    for await (const s of d.ddimSampleLoopProgressive(model, shape, { noise, seed: 1 })) steps.push(s);
    assert.deepEqual(
      steps.map((s) => s.t),
      [9, 8, 7, 6, 5, 4, 3, 2, 1, 0],
    );
    assert.deepEqual(steps.map((s) => s.tModel), [...d.timestepMap].reverse());
    const other = await d.ddimSampleLoop(model, shape, { noise, seed: 2 });
    assert.deepEqual(other.data, steps[9]!.sample.data);
    const withEta = await d.ddimSampleLoop(model, shape, { noise, seed: 2, eta: 1 });
    assert.notDeepEqual(withEta.data, other.data);
  });

  it("rejects noise of the wrong size", async () => {
    const d = createDiffusion("10");
    await assert.rejects(d.pSampleLoop(fakeModel([]), shape, { noise: new Float32Array(3) }).then(), /initial noise/);
    await assert.rejects(d.pSampleLoop(fakeModel([]), shape, { stepNoise: [new Float32Array(len)] }), /stepNoise must hold 10/);
  });
});
