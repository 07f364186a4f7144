/**
 * DPM-Solver++(2M) on Gaussian data N(0, s²), where the optimal denoiser and
 * the probability-flow ODE's solution are known in closed form: it must
 * converge, and at 25 steps be closer to the exact solution than DDIM at 50.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { createDiffusion, dpmSolverSampleLoop, dpmSolverSampleLoopProgressive, type ModelFn } from "../../src/diffusion/index.js";
import { Tensor } from "../../src/runtime/tensor.js";
import { Rng } from "../../src/util/rng.js";

const S2 = 0.25;
const full = createDiffusion("");

/** Optimal ε for N(0, S2) data: √(1−ᾱ)·x / (ᾱ·S2 + 1 − ᾱ); variance channels 0. */
const gaussianModel: ModelFn = (x, t) => {
  const [N, C, H, W] = x.shape as [number, number, number, number];
  const plane = C * H * W;
  const out = new Float32Array(N * 2 * plane);
  for (let n = 0; n < N; n++) {
    const ab = full.alphasCumprod[(t.data as Int32Array)[n]!]!;
    for (let i = 0; i < plane; i++) out[n * 2 * plane + i] = (Math.sqrt(1 - ab) * (x.data as Float32Array)[n * plane + i]!) / (ab * S2 + 1 - ab);
  }
  return Promise.resolve(new Tensor(out, [N, 2 * C, H, W]));
};

const shape = [2, 4, 4, 4];
const noise = new Rng(0).normals(128);
// the ODE keeps x_t / √(ᾱ_t S2 + 1 − ᾱ_t) constant; the samplers return the x_0 prediction at t = 0
const abT = full.alphasCumprod[999]!;
const ab0 = full.alphasCumprod[0]!;
const exact = noise.map((v) => ((Math.sqrt(ab0) * S2) / (ab0 * S2 + 1 - ab0)) * ((v * Math.sqrt(ab0 * S2 + 1 - ab0)) / Math.sqrt(abT * S2 + 1 - abT)));

function relL2(a: ArrayLike<number>): number {
  let n = 0;
  let d = 0;
  for (let i = 0; i < a.length; i++) {
    n += (a[i]! - exact[i]!) ** 2;
    d += exact[i]! ** 2;
  }
  return Math.sqrt(n / d);
}

describe("DPM-Solver++(2M)", () => {
  it("at 25 steps is closer to the exact ODE solution than DDIM at 50, and converges", async () => {
    const err = async (steps: number, solver: "dpm" | "ddim") => {
      const d = createDiffusion(String(steps));
      const x = solver === "dpm" ? await dpmSolverSampleLoop(d, gaussianModel, shape, { noise }) : await d.ddimSampleLoop(gaussianModel, shape, { noise, clipDenoised: false });
      return relL2(x.data as Float32Array);
    };
    const dpm25 = await err(25, "dpm");
    const ddim50 = await err(50, "ddim");
    assert.ok(dpm25 < ddim50, `DPM-Solver++ 25 steps ${dpm25.toExponential(2)} vs DDIM 50 steps ${ddim50.toExponential(2)}`);
    const dpm250 = await err(250, "dpm");
    assert.ok(dpm250 < dpm25 / 10, `no convergence: 25 steps ${dpm25.toExponential(2)}, 250 steps ${dpm250.toExponential(2)}`);
  });

  it("yields one step per model evaluation, ending at t = 0", async () => {
    const d = createDiffusion("10");
    const ts: number[] = [];
    for await (const s of dpmSolverSampleLoopProgressive(d, gaussianModel, shape, { seed: 3 })) ts.push(s.t);
    assert.deepEqual(ts, [9, 8, 7, 6, 5, 4, 3, 2, 1, 0]);
  });
});
