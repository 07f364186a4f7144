/**
 * Evaluation during training: `train({ evalEvery, evaluate })` calls the
 * evaluator with the EMA weights at every K-th step and logs its result in
 * that step's line; `sampleFidEvaluator` samples, embeds and measures FID.
 */
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { before, describe, it } from "node:test";
import { EvalInputError } from "../../src/eval/errors.js";
import type { FeatureBatch, FeatureNetwork } from "../../src/eval/feature-network.js";
import { featureStats } from "../../src/eval/fid.js";
import { sampleFidEvaluator } from "../../src/eval/sample-fid.js";
import { validateConfig } from "../../src/model/config.js";
import { sample } from "../../src/sample/sample.js";
import { loadCheckpoint, checkpointPath } from "../../src/train/checkpoint.js";
import { train, type TrainEvalMetrics } from "../../src/train/train.js";
import { setupJax } from "../helpers.js";
import { tinyWeights } from "../sample/tiny.js";
import { TINY, tinyData } from "./tiny.js";

/** A pixel-space 1-channel model, so samples need no VAE. */
const PIXEL = validateConfig({ ...TINY, inChannels: 1, numClasses: 4 });

/**
 * A stand-in network: features = the 16 pixel values / 255 of a 4×4 image
 * plus their square mean (17-d); logits always pick class 0.
 */
function stubNet(name: "fmnist" | "inception" = "fmnist"): FeatureNetwork {
  return {
    name,
    weightsKey: "stub",
    featureDim: 17,
    spatialDim: null,
    numClasses: 4,
    extract: (images: Uint8Array, shape: readonly [number, number, number, number]): Promise<FeatureBatch> => {
      const [n, h, w, c] = shape;
      assert.equal(h * w * c, 16);
      const features = new Float32Array(n * 17);
      const logits = new Float32Array(n * 4);
      for (let i = 0; i < n; i++) {
        let sq = 0;
        for (let j = 0; j < 16; j++) {
          const v = images[i * 16 + j]! / 255;
          features[i * 17 + j] = v;
          sq += v * v;
        }
        features[i * 17 + 16] = sq / 16;
        logits[i * 4] = 1;
      }
      return Promise.resolve({ features, logits });
    },
    dispose: () => Promise.resolve(),
  };
}

describe("evaluation during training", () => {
  before(setupJax);

  it("evaluate runs every evalEvery steps with the EMA weights; its result goes into that step's log line", async () => {
    const out = mkdtempSync(join(tmpdir(), "dit-eval-hook-"));
    const calls: number[] = [];
    const r = await train({
      config: TINY,
      data: tinyData(),
      out,
      steps: 5,
      batchSize: 4,
      logEvery: 3,
      ckptEvery: 2,
      evalEvery: 2,
      seed: 1,
      evaluate: (ema, step, config) => {
        calls.push(step);
        assert.equal(config.hiddenSize, TINY.hiddenSize);
        assert.ok(ema.has("x_embedder.proj.weight"));
        return Promise.resolve({ fid: 100 + step, eval_net: "stub", eval_samples: 8 });
      },
    });
    assert.equal(r.step, 5);
    assert.deepEqual(calls, [2, 4]);
    const lines = readFileSync(join(out, "log.jsonl"), "utf8").trim().split("\n").map((l) => JSON.parse(l) as { step: number; loss: number; eval?: TrainEvalMetrics; eval_s?: number });
    assert.deepEqual(lines.map((l) => l.step), [2, 3, 4, 5], "log lines at the log steps (3) plus the eval steps (2, 4) and the last");
    assert.deepEqual(lines.map((l) => l.eval?.fid ?? null), [102, null, 104, null]);
    for (const l of lines) assert.ok(Number.isFinite(l.loss));
    assert.ok(lines[0]!.eval_s! >= 0 && lines[1]!.eval_s === undefined);
    // the evaluator saw the EMA weights the step-4 checkpoint holds
    const ck = loadCheckpoint(checkpointPath(out, 4));
    assert.ok(ck.state.ema.has("x_embedder.proj.weight"));
  });

  it("rejects a bad evalEvery", async () => {
    const out = mkdtempSync(join(tmpdir(), "dit-eval-hook-"));
    await assert.rejects(train({ config: TINY, data: tinyData(), out, steps: 1, batchSize: 4, evalEvery: -1 }), /evalEvery must be an integer ≥ 0/);
  });

  it("sampleFidEvaluator: balanced labels, FID ≈ 0 against the samples' own statistics, class accuracy from the logits", async () => {
    const weights = tinyWeights(PIXEL, 5);
    const net = stubNet();
    // the reference: the same 24 samples the evaluator will draw (seed 2, classes cycling, no guidance, dpm++ 25)
    const ref = await sample({ model: { config: PIXEL, weights }, vae: "none", classes: [0, 1, 2, 3], numSamples: 24, sampler: "dpm++", cfgScale: 1, seed: 2, batchSize: 7 });
    const { features } = await net.extract(ref.images, ref.shape);
    const reference = featureStats(features, 24, 17);
    const evaluate = sampleFidEvaluator({ net, reference, numSamples: 24, vae: "none", seed: 2, batchSize: 5 });
    const got = await evaluate(weights, PIXEL);
    assert.equal(got.eval_net, "fmnist");
    assert.equal(got.eval_samples, 24);
    assert.ok(Math.abs(got.fid) < 1e-6, `FID against the samples' own statistics is ${got.fid}`);
    assert.equal(got.class_accuracy, 6 / 24, "labels cycle 0..3, the stub always says 0");
    assert.equal(got.fid_rank_deficient, undefined);
    // another seed gives other images: FID > 0
    const other = await sampleFidEvaluator({ net, reference, numSamples: 24, vae: "none", seed: 3 })(weights, PIXEL);
    assert.ok(other.fid > 1e-4, `FID of other samples is ${other.fid}`);
    // few samples: flagged
    const few = await sampleFidEvaluator({ net, reference, numSamples: 8, vae: "none", seed: 2 })(weights, PIXEL);
    assert.equal(few.fid_rank_deficient, true);
    // no class accuracy from a network that is not the Fashion-MNIST classifier
    const inc = await sampleFidEvaluator({ net: stubNet("inception"), reference, numSamples: 24, vae: "none", seed: 2 })(weights, PIXEL);
    assert.equal(inc.class_accuracy, undefined);
  });

  it("sampleFidEvaluator refuses reference statistics of another feature size and too few samples, before sampling", () => {
    const net = stubNet();
    const reference = { mu: new Float64Array(8), sigma: new Float64Array(64) };
    assert.throws(() => sampleFidEvaluator({ net, reference, numSamples: 24, vae: "none" }), (e: unknown) => e instanceof EvalInputError && /8 features, the fmnist network gives 17/.test(e.message));
    assert.throws(() => sampleFidEvaluator({ net, reference: { mu: new Float64Array(17), sigma: new Float64Array(289) }, numSamples: 1, vae: "none" }), /eval samples must be an integer ≥ 2/);
  });
});
