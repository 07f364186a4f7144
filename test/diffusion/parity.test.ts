/**
 * Diffusion parity with the official PyTorch `diffusion/` package: every file
 * under <fixture root>/dit-reference/diffusion/ is one case, named after the
 * file; its run settings come from the safetensors `__metadata__` (respacing,
 * clip_denoised, model, model_fn) and every tensor it holds is compared.
 * A case whose model (named in its metadata, e.g. dit-reference/models/tiny_p2)
 * or sibling input file is absent from the fixture root is skipped by name.
 *
 * Bounds: ‖got − want‖₂/‖want‖₂ ≤ 1e-5 per tensor for single passes and
 * float32 results, 1e-12 for the float64 schedule arrays; sampling loops: at
 * every step max|got − want| ≤ 1e-4 · max|want at that step|.
 */
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { valueAndGrad } from "@jax-js/jax";
import { createDiffusion, ditModelFn, spaceTimesteps, trainingLossFn, trainingLossInputs, type GaussianDiffusion } from "../../src/diffusion/index.js";
import { readSafetensors, SafetensorsFile, toFloat32, toInt32, type StTensor } from "../../src/io/safetensors.js";
import { configFromKwargs } from "../../src/model/config.js";
import { DiT } from "../../src/model/runner.js";
import { subtree } from "../../src/io/state-dict.js";
import { timestepFrequencies } from "../../src/model/embeddings.js";
import { loadStateDict } from "../../src/io/state-dict.js";
import { compile } from "../../src/runtime/compile.js";
import { Tensor } from "../../src/runtime/tensor.js";
import { FIXTURE_ROOT, familyPresent, fixtureSkip } from "../fixture-root.js";
import { relErr, setupJax } from "../helpers.js";

const FAMILY = "dit-reference/diffusion";
const DIR = join(FIXTURE_ROOT, FAMILY);
const files = familyPresent(FAMILY)
  ? readdirSync(DIR)
      .filter((f) => f.endsWith(".safetensors") || f.endsWith(".json"))
      .sort()
  : [];

/** The `__metadata__` of a fixture file (header only); {} when it cannot be read (the case then fails by name). */
function metadataOf(file: string): Record<string, string> {
  try {
    const f = SafetensorsFile.open(join(DIR, file));
    f.close();
    return f.metadata;
  } catch {
    return {};
  }
}

/**
 * What a case reads beyond its own file, relative to the fixture root: the
 * model its metadata names (config.json, weights.safetensors) and, for a
 * `*_grads` case, the sibling file holding its inputs. A root may lack them
 * (another model family, a subset of the diffusion files): the case is then
 * skipped, naming the absent files.
 */
function caseSkip(name: string): string | false {
  if (!name.endsWith(".safetensors")) return false;
  let md = metadataOf(name);
  const needs: string[] = [];
  if (name.startsWith("training_losses_grads")) {
    const src = name.replace("_grads", "");
    needs.push(`${FAMILY}/${src}`);
    md = { ...metadataOf(src), ...md };
  }
  if (md.model) needs.push(`${md.model}/config.json`, `${md.model}/weights.safetensors`);
  const absent = fixtureSkip(...needs);
  return absent && `files it reads are absent: ${absent}`;
}

const SINGLE = 1e-5;
const F64 = 1e-12;
const LOOP = 1e-4;

const f32 = (t: StTensor) => new Tensor(toFloat32(t.data), t.shape);
const i32 = (t: StTensor) => new Tensor(toInt32(t.data), t.shape);

type Fixture = { tensors: Map<string, StTensor>; metadata: Record<string, string> };

function need(fx: Fixture, name: string, k: string): StTensor {
  const t = fx.tensors.get(k);
  assert.ok(t, `${name}: fixture lacks '${k}'`);
  return t;
}

/** The respacing of "create_diffusion('50')" or {"timestep_respacing": "50"}. */
function respacingOf(md: Record<string, string>, name: string): string {
  if (md.create_diffusion_args) return (JSON.parse(md.create_diffusion_args) as { timestep_respacing: string }).timestep_respacing;
  const m = /create_diffusion\('([^']*)'\)/.exec(md.diffusion ?? "");
  assert.ok(m, `${name}: metadata names no diffusion (${JSON.stringify(md)})`);
  return m[1]!;
}

const models = new Map<string, DiT>();
function modelOf(md: Record<string, string>, name: string): DiT {
  assert.ok(md.model, `${name}: metadata names no model`);
  let m = models.get(md.model);
  if (!m) {
    const dir = join(FIXTURE_ROOT, md.model);
    const cfg = JSON.parse(readFileSync(join(dir, "config.json"), "utf8")) as { dit_kwargs: Record<string, unknown> };
    m = new DiT(configFromKwargs(cfg.dit_kwargs), loadStateDict(join(dir, "weights.safetensors")));
    models.set(md.model, m);
  }
  return m;
}

/** Compare got against want with the relative L2 bound; returns the error. */
function check(name: string, key: string, got: ArrayLike<number>, want: StTensor, bound = SINGLE): void {
  const w = want.dtype === "F64" ? (want.data as Float64Array) : toFloat32(want.data);
  const err = relErr(got, w);
  assert.ok(err <= bound, `${name}: ${key} relative error ${err.toExponential(2)} > ${bound}`);
}

function compareAll(name: string, fx: Fixture, got: Map<string, ArrayLike<number>>, inputs: string[], bound = SINGLE): void {
  let compared = 0;
  for (const [k, want] of fx.tensors) {
    if (inputs.includes(k)) continue;
    const g = got.get(k);
    assert.ok(g, `${name}: no computed value for fixture tensor '${k}'`);
    assert.equal(g.length, want.data.length, `${name}: ${k} size`);
    check(name, k, g, want, bound);
    compared++;
  }
  assert.ok(compared > 0, `${name}: nothing compared`);
}

function scheduleCase(name: string, fx: Fixture): void {
  const d = createDiffusion({ timestepRespacing: respacingOf(fx.metadata, name) });
  if (fx.metadata.num_timesteps) assert.equal(d.numTimesteps, Number(fx.metadata.num_timesteps), `${name}: num_timesteps`);
  let compared = 0;
  for (const [k, want] of fx.tensors) {
    if (k === "timestep_map") {
      assert.deepEqual([...d.timestepMap], [...toInt32(want.data)], `${name}: timestep_map`);
    } else if (k === "betas_linear_named") {
      check(name, k, createNamedLinear(want.data.length), want, F64);
    } else {
      const camel = k.replace(/_([a-z0-9])/g, (_, c: string) => c.toUpperCase()) as keyof GaussianDiffusion;
      const got = d[camel];
      assert.ok(got instanceof Float64Array, `${name}: no schedule array '${k}' (${String(camel)})`);
      check(name, k, got, want, want.dtype === "F64" ? F64 : SINGLE);
    }
    compared++;
  }
  assert.ok(compared > 0);
}

async function createNamedLinearAsync(): Promise<(n: number) => Float64Array> {
  const { getNamedBetaSchedule } = await import("../../src/diffusion/schedules.js");
  return (n) => getNamedBetaSchedule("linear", n);
}
let createNamedLinear: (n: number) => Float64Array;

function spaceTimestepsCase(name: string): void {
  const j = JSON.parse(readFileSync(join(DIR, name), "utf8")) as { num_timesteps: number; results: Record<string, number[]> };
  const specs = Object.keys(j.results);
  assert.ok(specs.length > 0, `${name}: no specs`);
  for (const spec of specs) assert.deepEqual(spaceTimesteps(j.num_timesteps, spec), j.results[spec], `${name}: spec ${JSON.stringify(spec)}`);
}

function qSampleCase(name: string, fx: Fixture): void {
  const d = createDiffusion({ timestepRespacing: respacingOf(fx.metadata, name) });
  const xs = f32(need(fx, name, "x_start"));
  const t = toInt32(need(fx, name, "t").data);
  const got = new Map<string, ArrayLike<number>>();
  got.set("x_t", d.qSample(xs, t, f32(need(fx, name, "noise"))).data as Float32Array);
  const q = d.qMeanVariance(xs, t);
  got.set("q_mean", q.mean.data as Float32Array);
  got.set("q_variance", q.variance.data as Float32Array);
  got.set("q_log_variance", q.logVariance.data as Float32Array);
  compareAll(name, fx, got, ["x_start", "t", "noise"]);
}

async function trainingLossesCase(name: string, fx: Fixture): Promise<void> {
  const d = createDiffusion({ timestepRespacing: respacingOf(fx.metadata, name) });
  const model = modelOf(fx.metadata, name);
  const y = i32(need(fx, name, "y"));
  const r = await d.trainingLosses(ditModelFn(model, y), f32(need(fx, name, "x_start")), toInt32(need(fx, name, "t").data), f32(need(fx, name, "noise")));
  const got = new Map<string, ArrayLike<number>>([
    ["x_t", r.xT.data as Float32Array],
    ["model_output", r.modelOutput.data as Float32Array],
    ["loss", r.loss],
  ]);
  if (r.mse) got.set("mse", r.mse);
  if (r.vb) got.set("vb", r.vb);
  const p = r.vbParts;
  if (p) {
    got.set("vb.true_mean", p.trueMean.data as Float32Array);
    got.set("vb.true_log_variance_clipped", p.trueLogVarianceClipped.data as Float32Array);
    got.set("vb.model_mean", p.modelMean.data as Float32Array);
    got.set("vb.model_log_variance", p.modelLogVariance.data as Float32Array);
    got.set("vb.pred_xstart", p.predXstart.data as Float32Array);
    got.set("vb.kl_bits", p.klBits);
    got.set("vb.decoder_nll_bits", p.decoderNllBits);
  }
  compareAll(name, fx, got, ["x_start", "t", "noise", "y"]);
}

async function trainingLossesGradsCase(name: string, fx: Fixture): Promise<void> {
  // the inputs are those of the sibling training_losses fixture
  const src = name.replace("_grads", "");
  const io = readSafetensors(join(DIR, src)) as Fixture;
  const md = { ...io.metadata, ...fx.metadata };
  const d = createDiffusion({ timestepRespacing: respacingOf(io.metadata, src) });
  const model = modelOf(md, name);
  const weights = new Map(model.weights);
  const pos = weights.get("pos_embed")!;
  weights.delete("pos_embed");
  const inputs = trainingLossInputs(d, f32(need(io, src, "x_start")), toInt32(need(io, src, "t").data), f32(need(io, src, "noise")), i32(need(io, src, "y")));
  const step = compile(valueAndGrad(trainingLossFn(model.config)) as never);
  try {
    const [value, grads] = (await step(subtree(weights, ""), pos, inputs as never, new Tensor(timestepFrequencies(), [128]))) as unknown as [Tensor, Record<string, unknown>];
    let compared = 0;
    for (const [k, want] of fx.tensors) {
      if (k === "__loss__") {
        check(name, k, value.data as Float32Array, want);
      } else {
        let node: unknown = grads;
        for (const part of k.split(".")) node = (node as Record<string, unknown>)?.[part];
        assert.ok(node instanceof Tensor, `${name}: no gradient for '${k}'`);
        assert.deepEqual(node.shape, want.shape, `${name}: ${k} shape`);
        check(name, `grad ${k}`, node.data as Float32Array, want);
      }
      compared++;
    }
    assert.ok(compared > 0);
  } finally {
    await step.dispose();
  }
}

async function pMeanVarianceCase(name: string, fx: Fixture): Promise<void> {
  const d = createDiffusion({ timestepRespacing: respacingOf(fx.metadata, name) });
  const model = modelOf(fx.metadata, name);
  const y = i32(need(fx, name, "y"));
  const x = f32(need(fx, name, "x"));
  const t = toInt32(need(fx, name, "t").data);
  if (fx.tensors.has("t_model")) assert.deepEqual([...t].map((i) => d.timestepMap[i]), [...toInt32(fx.tensors.get("t_model")!.data)], `${name}: t_model`);
  const got = new Map<string, ArrayLike<number>>();
  let seen: Tensor | undefined;
  const fn = ditModelFn(model, y);
  for (const clip of [true, false]) {
    const r = await d.pMeanVariance(
      async (xx, tt) => {
        seen = await fn(xx, tt);
        return seen;
      },
      x,
      t,
      { clipDenoised: clip },
    );
    const p = clip ? "clip" : "noclip";
    got.set(`${p}.mean`, r.mean.data as Float32Array);
    got.set(`${p}.variance`, r.variance.data as Float32Array);
    got.set(`${p}.log_variance`, r.logVariance.data as Float32Array);
    got.set(`${p}.pred_xstart`, r.predXstart.data as Float32Array);
  }
  got.set("model_output", seen!.data as Float32Array);
  compareAll(name, fx, got, ["x", "t", "t_model", "y"]);
}

async function loopCase(name: string, fx: Fixture, ddim: boolean): Promise<void> {
  const md = fx.metadata;
  const d = createDiffusion({ timestepRespacing: respacingOf(md, name) });
  const model = modelOf(md, name);
  const y = i32(need(fx, name, "y"));
  const cfg = md.model_fn === "model.forward_with_cfg";
  const fn = ditModelFn(model, y, cfg ? { cfgScale: toFloat32(need(fx, name, "cfg_scale").data)[0]!, cfgMode: "official" } : {});
  const z = f32(need(fx, name, "z"));
  const clipDenoised = md.clip_denoised === "True";
  const opts = { noise: z, clipDenoised, ...(fx.tensors.has("step_noise") ? { stepNoise: f32(fx.tensors.get("step_noise")!) } : {}), ...(md.eta ? { eta: Number(md.eta) } : {}) };
  const steps = ddim ? d.ddimSampleLoopProgressive(fn, z.shape, opts) : d.pSampleLoopProgressive(fn, z.shape, opts);
  const want = { samples: fx.tensors.get("samples"), pred: fx.tensors.get("pred_xstart") };
  const tIndex = fx.tensors.has("t_index") ? toInt32(fx.tensors.get("t_index")!.data) : undefined;
  const tModel = fx.tensors.has("t_model") ? toInt32(fx.tensors.get("t_model")!.data) : undefined;
  const per = z.data.length;
  const stepCheck = (key: string, s: number, got: Float32Array, w: StTensor | undefined) => {
    if (!w) return;
    const wd = toFloat32(w.data).subarray(s * per, (s + 1) * per);
    let maxW = 0;
    let maxD = 0;
    for (let i = 0; i < per; i++) {
      maxW = Math.max(maxW, Math.abs(wd[i]!));
      maxD = Math.max(maxD, Math.abs(got[i]! - wd[i]!));
    }
    assert.ok(maxD <= LOOP * maxW, `${name}: ${key} step ${s}: max|got − want| ${maxD.toExponential(2)} > ${LOOP} × ${maxW.toExponential(2)}`);
  };
  let final: Float32Array | undefined;
  let n = 0;
  for await (const s of steps) {
    if (tIndex) assert.equal(s.t, tIndex[s.step], `${name}: t_index at step ${s.step}`);
    if (tModel) assert.equal(s.tModel, tModel[s.step], `${name}: t_model at step ${s.step}`);
    stepCheck("samples", s.step, s.sample.data as Float32Array, want.samples);
    stepCheck("pred_xstart", s.step, s.predXstart.data as Float32Array, want.pred);
    final = s.sample.data as Float32Array;
    n++;
  }
  if (fx.metadata.steps) assert.equal(n, Number(fx.metadata.steps), `${name}: number of steps`);
  if (want.samples) assert.equal(n, want.samples.shape[0], `${name}: number of steps`);
  if (fx.tensors.has("final")) stepCheck("final", 0, final!, fx.tensors.get("final"));
  const known = new Set(["y", "cfg_scale", "z", "step_noise", "t_index", "t_model", "samples", "pred_xstart", "final"]);
  for (const k of fx.tensors.keys()) assert.ok(known.has(k), `${name}: fixture tensor '${k}' is not compared`);
}

describe(`diffusion parity: ${FAMILY}`, () => {
  if (files.length === 0) {
    it(`${FAMILY}: absent under ${FIXTURE_ROOT}`, { skip: `no fixtures under ${DIR}` }, () => undefined);
    return;
  }
  before(async () => {
    await setupJax();
    createNamedLinear = await createNamedLinearAsync();
  });
  after(async () => {
    for (const m of models.values()) await m.dispose();
  });
  for (const name of files) {
    it(name, { skip: caseSkip(name) }, async () => {
      if (name === "space_timesteps.json") return spaceTimestepsCase(name);
      assert.ok(name.endsWith(".safetensors"), `${name}: no handler for this fixture`);
      const fx = readSafetensors(join(DIR, name));
      if (fx.metadata.create_diffusion_args !== undefined) return scheduleCase(name, fx);
      if (name.startsWith("q_sample")) return qSampleCase(name, fx);
      if (name.startsWith("training_losses_grads")) return trainingLossesGradsCase(name, fx);
      if (name.startsWith("training_losses")) return trainingLossesCase(name, fx);
      if (name.startsWith("p_mean_variance")) return pMeanVarianceCase(name, fx);
      if (name.startsWith("ddpm_loop")) return loopCase(name, fx, false);
      if (name.startsWith("ddim_loop")) return loopCase(name, fx, true);
      assert.fail(`${name}: no handler for this fixture`);
    });
  }
});
