/**
 * Live jax-js arrays stay flat over repeated training and sampling steps, on
 * the eager path (jax-js runs every op) and the compiled path (jax-js only
 * traces; ONNX Runtime runs). Counted by live-arrays.ts (backend buffers not
 * yet freed). After a warm-up repetition (tracing, caches), the count after
 * the last repetition must not exceed the count after the first; a subtest
 * leaks one array per model call on purpose and must be caught.
 *
 * Known upstream leak: in @jax-js/jax 0.1.25 the JVP rule of `reciprocal`
 * takes `x.ref` and never releases `x`, so every differentiated reciprocal
 * keeps its input alive (pinned below on `np.reciprocal` alone). A DiT's
 * training loss has one per LayerNorm (2 per block + the final one) and one
 * per attention softmax, so the eager training path (jax-js runs the
 * gradient; the test reference, not what `dit train` runs) may grow by
 * exactly 3·depth + 1 buffers a step and no more. The compiled path only
 * traces with jax-js, once, and must stay flat.
 */
import assert from "node:assert/strict";
import { numpy as np, valueAndGrad, type Array as JaxArray } from "@jax-js/jax";
import { before, describe, it } from "node:test";
import { createDiffusion } from "../../src/diffusion/index.js";
import { cloneStateDict } from "../../src/io/state-dict.js";
import { initParams } from "../../src/model/params.js";
import { DiT } from "../../src/model/runner.js";
import { Tensor } from "../../src/runtime/tensor.js";
import { sampleLatentBatch, samplerDiffusion, type DiTForward } from "../../src/sample/loop.js";
import { StepRunner, trainedNames, zeroMoments, type MicroBatch } from "../../src/train/runner.js";
import type { TrainState } from "../../src/train/state.js";
import { Rng } from "../../src/util/rng.js";
import { TINY } from "../train/tiny.js";
import { liveSlots, trackLiveArrays } from "./live-arrays.js";

const REPS = 3;

/** Live buffers after each of `REPS` repetitions of `rep`. */
async function countsOver(rep: (i: number) => Promise<void>): Promise<number[]> {
  const counts: number[] = [];
  for (let i = 0; i < REPS; i++) {
    await rep(i);
    counts.push(liveSlots());
  }
  return counts;
}

/** Throws when the live count grows after the first (warm-up) repetition by more than `allowed` per repetition. */
function assertFlat(counts: number[], what: string, allowed = 0): void {
  const [first, ...rest] = counts;
  assert.ok(
    rest.every((c, i) => c <= first! + allowed * (i + 1)),
    `${what}: live jax-js arrays grow over repetitions${allowed ? ` by more than the known ${allowed} per repetition` : ""}: ${counts.join(" → ")}`,
  );
}

/** Buffers the upstream reciprocal-JVP leak keeps per eager training step (see the module comment). */
const KNOWN_EAGER_STEP_LEAK = 3 * TINY.depth + 1;

function freshState(): TrainState {
  const model = initParams(TINY, 3);
  return { step: 0, model, ema: cloneStateDict(model), adam: { step: 0, ...zeroMoments(model, trainedNames(TINY)) } };
}

function microBatch(step: number): MicroBatch {
  const rng = new Rng(100 + step);
  const n = 4 * 2 * 4 * 4;
  return {
    x: new Tensor(Float32Array.from(rng.normals(n)), [4, 2, 4, 4]),
    t: Int32Array.from(rng.ints(4, 1000)),
    noise: new Tensor(Float32Array.from(rng.normals(n)), [4, 2, 4, 4]),
    y: Int32Array.from([0, 1, 2, 3]),
  };
}

async function sampleCounts(forward: DiTForward, steps: number): Promise<number[]> {
  const counts: number[] = [];
  await sampleLatentBatch(forward, { config: TINY, sampler: "ddpm", diffusion: samplerDiffusion("ddpm", steps), seed: 1, cfgScale: 2, indices: [0, 1], labels: Int32Array.from([0, 2]) }, { onStep: () => void counts.push(liveSlots()) });
  return counts;
}

describe("live jax-js arrays stay flat", () => {
  before(trackLiveArrays);
  const adamw = { lr: 1e-3, betas: [0.9, 0.999] as [number, number], eps: 1e-8, weightDecay: 0 };

  for (const backend of ["eager", "onnx"] as const) {
    it(`training steps (${backend === "eager" ? "eager path" : "compiled path"})`, async () => {
      const runner = new StepRunner(TINY, createDiffusion(""), adamw, freshState(), { backend });
      try {
        const counts = await countsOver(async (i) => void (await runner.step([microBatch(i)], 1e-3, 0.9)));
        assertFlat(counts, `${backend} training`, backend === "eager" ? KNOWN_EAGER_STEP_LEAK : 0);
      } finally {
        await runner.dispose();
      }
    });

    it(`DDPM sampling steps (${backend === "eager" ? "eager path" : "compiled path"})`, async () => {
      const dit = new DiT(TINY, initParams(TINY, 5), { backend });
      try {
        const counts = await sampleCounts((x, t, y) => dit.forward(x, t, y), 6);
        assertFlat(counts, `${backend} sampling`);
      } finally {
        await dit.dispose();
      }
    });
  }

  it("upstream pin: @jax-js/jax 0.1.25 leaks the input of a differentiated reciprocal (one buffer per call); when this fails, tighten KNOWN_EAGER_STEP_LEAK", async () => {
    const counts = await countsOver(async () => {
      const [v, g] = valueAndGrad((x: JaxArray) => np.reciprocal(x).sum())(np.array(Float32Array.of(1, 2, 4)));
      await v.data();
      await g.data();
    });
    assert.deepEqual(
      counts.map((c) => c - counts[0]!),
      [0, 1, 2],
    );
  });

  it("catches a leak: a model call that keeps one extra jax-js array alive fails the check", async () => {
    const dit = new DiT(TINY, initParams(TINY, 5), { backend: "eager" });
    const leaked: JaxArray[] = [];
    try {
      const counts = await sampleCounts(async (x, t, y) => {
        leaked.push(np.array(x.data as Float32Array)); // never disposed: a reference-count leak
        return dit.forward(x, t, y);
      }, 6);
      assert.throws(() => assertFlat(counts, "leaky sampling"), /live jax-js arrays grow/);
    } finally {
      leaked.forEach((a) => a.dispose());
      await dit.dispose();
    }
  });
});
