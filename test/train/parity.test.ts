/**
 * Training-step parity with the official train.py (fixture family
 * `train-reference`, see its README): every case under the fixture root runs
 * its K steps — hybrid loss, backward, AdamW, EMA — from the stored initial
 * weights and inputs, with the case's own optimizer settings and EMA decay.
 *
 * Bounds (the issue's): per parameter, rel L2 of the update (got − initial)
 * against (want − initial) ≤ 1e-3 after every step (PyTorch's own float32
 * run lands at ≤ 2.2e-4); the loss ≤ 1e-5 relative; after the last step the
 * EMA's change and the Adam moments ≤ 1e-3; pos_embed exactly unchanged.
 * The gradient-accumulation path (two half batches) is checked on the first
 * step against the same reference. Every case runs twice: as one fused graph
 * (StepRunner) and block by block (StagedStepRunner, named "… (staged)").
 * An absent family, or a case lacking one of its files, is skipped by name.
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { createDiffusion } from "../../src/diffusion/index.js";
import { readSafetensors, toFloat32, toInt32, type StTensor } from "../../src/io/safetensors.js";
import { loadStateDict } from "../../src/io/state-dict.js";
import { configFromKwargs, type DiTKwargs } from "../../src/model/config.js";
import { Tensor } from "../../src/runtime/tensor.js";
import { StepRunner, trainedNames, type MicroBatch } from "../../src/train/runner.js";
import { StagedStepRunner } from "../../src/train/staged.js";
import type { AdamWOptions } from "../../src/train/state.js";
import { FIXTURE_ROOT, familyPresent, fixtureCases, fixtureSkip } from "../fixture-root.js";
import { relErr, setupJax } from "../helpers.js";
import { freshState, rows } from "./state-helpers.js";

const FAMILY = "train-reference";
const UPDATE = 1e-3;
const LOSS = 1e-5;

interface CaseConfig {
  dit_kwargs: DiTKwargs;
  batch: number;
  steps: number;
  optimizer: { lr: number; betas: [number, number]; eps: number; weight_decay: number };
  ema_decay: number;
}

function load(name: string) {
  const dir = join(FIXTURE_ROOT, FAMILY, name);
  const cfg = JSON.parse(readFileSync(join(dir, "config.json"), "utf8")) as CaseConfig;
  const init = loadStateDict(join(dir, "weights.safetensors"));
  const steps = readSafetensors(join(dir, "steps.safetensors")).tensors;
  const need = (k: string): StTensor => {
    const t = steps.get(k);
    assert.ok(t, `${name}: steps.safetensors lacks '${k}'`);
    return t;
  };
  return { cfg, init, need, config: configFromKwargs(cfg.dit_kwargs) };
}

function batchOf(need: (k: string) => StTensor, i: number, numClasses: number): MicroBatch {
  const x = need(`step${i}.x`);
  const y = toInt32(need(`step${i}.y`).data);
  const drop = toInt32(need(`step${i}.drop`).data);
  return {
    x: new Tensor(toFloat32(x.data), x.shape),
    t: toInt32(need(`step${i}.t`).data),
    noise: new Tensor(toFloat32(need(`step${i}.noise`).data), need(`step${i}.noise`).shape),
    y: y.map((v, n) => (drop[n] ? numClasses : v)), // LabelEmbedder.token_drop with force_drop_ids
  };
}



function updateErr(got: Tensor, want: Float32Array, init: Tensor): number {
  const g = got.data as Float32Array;
  const i0 = init.data as Float32Array;
  return relErr(
    g.map((v, j) => v - i0[j]!),
    want.map((v, j) => v - i0[j]!),
  );
}

const cases = fixtureCases(FAMILY);
const CASE_FILES = ["config.json", "weights.safetensors", "steps.safetensors"];
/** false when the case holds every file it reads, else a reason naming the absent ones. */
const caseSkip = (name: string) => fixtureSkip(...CASE_FILES.map((f) => `${FAMILY}/${name}/${f}`));
/** Both executions of the step: one fused graph, and block by block (gradient checkpointing). */
const RUNNERS = [
  ["", StepRunner],
  [" (staged)", StagedStepRunner],
] as const;

describe("training-step parity with the official train.py (train-reference)", () => {
  before(setupJax);
  if (!familyPresent(FAMILY) || cases.length === 0) {
    it(`${FAMILY}: absent under ${FIXTURE_ROOT}`, { skip: `no ${FAMILY} fixtures under ${FIXTURE_ROOT}` }, () => undefined);
    return;
  }
  for (const name of cases.filter(caseSkip)) it(name, { skip: caseSkip(name) }, () => undefined);
  for (const [suffix, Runner] of RUNNERS) {
    for (const name of cases.filter((c) => !caseSkip(c))) describe(name + suffix, () => {
      const { cfg, init, need, config } = load(name);
      const adamw: AdamWOptions = { lr: cfg.optimizer.lr, betas: cfg.optimizer.betas, eps: cfg.optimizer.eps, weightDecay: cfg.optimizer.weight_decay };
      const diffusion = createDiffusion("");
      const names = trainedNames(config);
      const state = freshState(init, names);
      const runner = new Runner(config, diffusion, adamw, state);
      after(() => runner.dispose());

      for (let i = 0; i < cfg.steps; i++) {
        it(`step ${i}: loss ≤ ${LOSS}, every parameter's update ≤ ${UPDATE}, pos_embed unchanged`, async () => {
          const stats = await runner.step([batchOf(need, i, config.numClasses)], adamw.lr, cfg.ema_decay);
          const wantLoss = toFloat32(need(`step${i}.loss`).data)[0]!;
          assert.ok(Math.abs(stats.loss - wantLoss) <= LOSS * Math.abs(wantLoss), `${name} step ${i}: loss ${stats.loss} vs ${wantLoss}`);
          const wantMse = toFloat32(need(`step${i}.mse`).data);
          const wantVb = toFloat32(need(`step${i}.vb`).data);
          const meanOf = (a: Float32Array) => a.reduce((s, v) => s + v, 0) / a.length;
          assert.ok(Math.abs(stats.mse - meanOf(wantMse)) <= 1e-5 * Math.abs(meanOf(wantMse)), `${name} step ${i}: mse ${stats.mse} vs ${meanOf(wantMse)}`);
          assert.ok(Math.abs(stats.vb - meanOf(wantVb)) <= 1e-4 * Math.abs(meanOf(wantVb)) + 1e-7, `${name} step ${i}: vb ${stats.vb} vs ${meanOf(wantVb)}`);
          assert.ok(Number.isFinite(stats.gradNorm) && stats.gradNorm > 0);
          let worst = 0;
          let worstName = "";
          for (const k of names) {
            const e = updateErr(state.model.get(k)!, toFloat32(need(`step${i}.param.${k}`).data), init.get(k)!);
            if (e > worst) [worst, worstName] = [e, k];
          }
          assert.ok(worst <= UPDATE, `${name} step ${i}: update of '${worstName}' off by ${worst.toExponential(2)} (bound ${UPDATE})`);
          assert.deepEqual(state.model.get("pos_embed")!.data, init.get("pos_embed")!.data, "pos_embed must not change");
          assert.deepEqual(toFloat32(need(`step${i}.param.pos_embed`).data), init.get("pos_embed")!.data);
        });
      }

      it(`after step ${cfg.steps - 1}: EMA change and Adam moments ≤ ${UPDATE}`, () => {
        assert.equal(state.step, cfg.steps);
        for (const k of names) {
          const ema = updateErr(state.ema.get(k)!, toFloat32(need(`ema.${k}`).data), init.get(k)!);
          assert.ok(ema <= UPDATE, `${name}: EMA of '${k}' off by ${ema.toExponential(2)}`);
          const m = relErr(state.adam.expAvg.get(k)!.data, toFloat32(need(`adam.exp_avg.${k}`).data));
          assert.ok(m <= UPDATE, `${name}: exp_avg of '${k}' off by ${m.toExponential(2)}`);
          const v = relErr(state.adam.expAvgSq.get(k)!.data, toFloat32(need(`adam.exp_avg_sq.${k}`).data));
          assert.ok(v <= UPDATE, `${name}: exp_avg_sq of '${k}' off by ${v.toExponential(2)}`);
        }
        assert.deepEqual(state.ema.get("pos_embed")!.data, init.get("pos_embed")!.data);
      });

      const odd = cfg.batch % 2 !== 0 && `batch ${cfg.batch} is odd: no two equal halves`;
      it(`step 0 as two accumulated half batches (--grad-accum 2) matches the same reference`, { skip: odd }, async () => {
        const acc = freshState(init, names);
        const r2 = new Runner(config, diffusion, adamw, acc);
        try {
          const b = batchOf(need, 0, config.numClasses);
          const stats = await r2.step([rows(b, 0, cfg.batch / 2), rows(b, cfg.batch / 2, cfg.batch)], adamw.lr, cfg.ema_decay);
          const wantLoss = toFloat32(need("step0.loss").data)[0]!;
          assert.ok(Math.abs(stats.loss - wantLoss) <= LOSS * Math.abs(wantLoss), `${name}: accumulated loss ${stats.loss} vs ${wantLoss}`);
          for (const k of names) {
            const e = updateErr(acc.model.get(k)!, toFloat32(need(`step0.param.${k}`).data), init.get(k)!);
            assert.ok(e <= UPDATE, `${name}: accumulated update of '${k}' off by ${e.toExponential(2)}`);
          }
        } finally {
          await r2.dispose();
        }
      });
    });
  }
});
