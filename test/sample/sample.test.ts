/** sample(): per-image noise, labels, class names, guidance batching, validation before work, checkpoint formats. */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { configFromKwargs, DiT, officialToDiffusers, planSample, resolveClass, sample, SampleError, sampleLabels, type SamplingOptions } from "../../src/index.js";
import { saveStateDict } from "../../src/io/state-dict.js";
import { Tensor } from "../../src/runtime/tensor.js";
import { Rng } from "../../src/util/rng.js";
import { initVaeParams } from "../../src/vae/init.js";
import { saveVae } from "../../src/vae/train.js";
import { TINY_CLASS_NAMES, TINY_CONFIG, TINY_KWARGS, TINY_VAE, tinyWeights, writeTinyModel } from "./tiny.js";

const tmp = mkdtempSync(join(tmpdir(), "dit-sample-"));
after(() => rmSync(tmp, { recursive: true, force: true }));
const model = writeTinyModel(join(tmp, "model"));

/** The batch sizes DiT.forward is called with during `fn`. */
async function forwardBatches<T>(fn: () => Promise<T>): Promise<{ result: T; batches: number[] }> {
  const orig = DiT.prototype.forward;
  const batches: number[] = [];
  DiT.prototype.forward = function (this: DiT, ...args: Parameters<typeof orig>) {
    batches.push(args[0].shape[0]!);
    return orig.apply(this, args);
  };
  try {
    return { result: await fn(), batches };
  } finally {
    DiT.prototype.forward = orig;
  }
}

describe("sample: noise per image index", () => {
  for (const sampler of ["ddpm", "ddim", "dpm++"] as const) {
    it(`${sampler}: image i is the same with batch size 1 and 3 (guided)`, async () => {
      const o: SamplingOptions = { model, sampler, numSamplingSteps: 4, classes: [0, 1, 2], numSamples: 3, cfgScale: 2, seed: 7 };
      const a = await sample({ ...o, batchSize: 1 });
      const b = await sample({ ...o, batchSize: 3 });
      assert.deepEqual(a.shape, [3, 8, 8, 1]);
      assert.deepEqual(Array.from(a.labels), [0, 1, 2]);
      assert.deepEqual(a.images, b.images);
      // and the images differ from one another and across seeds (the noise matters)
      const per = 64;
      assert.notDeepEqual(a.images.subarray(0, per), a.images.subarray(per, 2 * per));
      const c = await sample({ ...o, batchSize: 3, seed: 8 });
      assert.notDeepEqual(c.images, a.images);
    });
  }

  it("ddpm: an image's result does not depend on the other images in its batch", async () => {
    const o: SamplingOptions = { model, sampler: "ddpm", numSamplingSteps: 3, classes: [2], cfgScale: 1, seed: 3 };
    const two = await sample({ ...o, numSamples: 2, batchSize: 2 });
    const five = await sample({ ...o, numSamples: 5, batchSize: 4 });
    assert.deepEqual(five.images.subarray(0, 128), two.images);
  });
});

describe("sample: labels", () => {
  it("cycle through the given classes", () => {
    assert.deepEqual(Array.from(sampleLabels(7, 10, [3, 5], 0)), [3, 5, 3, 5, 3, 5, 3]);
    assert.deepEqual(Array.from(sampleLabels(4, 10, [3], 0)), [3, 3, 3, 3]);
  });
  it("are uniform random over all classes without classes, fixed by the seed", () => {
    const a = sampleLabels(2000, 10, undefined, 1);
    assert.deepEqual(a, sampleLabels(2000, 10, undefined, 1));
    assert.notDeepEqual(a, sampleLabels(2000, 10, undefined, 2));
    const counts = new Array(10).fill(0);
    for (const v of a) counts[v]++;
    for (const c of counts) assert.ok(c > 140 && c < 260, `class counts ${counts}`);
  });
  it("--num-samples with one class gives that many images of it; no classes → random labels; neither → every class", async () => {
    assert.deepEqual(Array.from((await planSample({ model, classes: ["Trouser"], numSamples: 5 })).labels), [1, 1, 1, 1, 1]);
    const r = await planSample({ model, numSamples: 50, seed: 4 });
    assert.equal(r.classes, undefined);
    assert.ok(new Set(r.labels).size === 3);
    const all = await planSample({ model });
    assert.deepEqual(all.classes, [0, 1, 2]);
    assert.deepEqual(Array.from(all.labels), [0, 1, 2, 0, 1, 2, 0, 1, 2, 0, 1, 2]);
  });
});

describe("sample: class names", () => {
  it("resolve by the model's names (case-insensitive, unique substring) and by id", () => {
    assert.equal(resolveClass("trouser", 3, TINY_CLASS_NAMES), 1);
    assert.equal(resolveClass("sneak", 3, TINY_CLASS_NAMES), 2);
    assert.equal(resolveClass("t shirt/top", 3, TINY_CLASS_NAMES), 0);
    assert.equal(resolveClass("2", 3, TINY_CLASS_NAMES), 2);
    assert.equal(resolveClass(0, 3, TINY_CLASS_NAMES), 0);
  });
  it("an unknown name lists the nearest names by edit distance", () => {
    assert.throws(() => resolveClass("Trousr", 3, TINY_CLASS_NAMES), (e: Error) => e instanceof SampleError && /unknown class name "Trousr"\. Nearest: 1: Trouser;/.test(e.message));
    assert.throws(() => resolveClass("Sneakers", 3, TINY_CLASS_NAMES), /Nearest: 2: Sneaker/);
  });
  it("ImageNet names for 1000-class models without names; ids out of range are rejected", () => {
    assert.equal(resolveClass("golden retriever", 1000), 207);
    assert.throws(() => resolveClass("golden retreiver dog", 1000), (e: Error) => e instanceof SampleError && /Closest: 207: golden retriever/.test(e.message));
    assert.throws(() => resolveClass(3, 3, TINY_CLASS_NAMES), /out of range: the model has 3 classes/);
    assert.throws(() => resolveClass("shoe", 10), /no class names/);
  });
});

describe("sample: guidance", () => {
  it("cfg scale 1 runs the batch as is; > 1 doubles it ([y; null]) and changes the images", async () => {
    const o: SamplingOptions = { model, sampler: "dpm++", numSamplingSteps: 3, classes: [1], numSamples: 3, batchSize: 2 };
    const one = await forwardBatches(() => sample({ ...o, cfgScale: 1 }));
    const four = await forwardBatches(() => sample({ ...o, cfgScale: 4 }));
    assert.deepEqual(one.batches, [2, 2, 2, 1, 1, 1]);
    assert.deepEqual(four.batches, [4, 4, 4, 2, 2, 2]);
    assert.notDeepEqual(one.result.images, four.result.images);
    assert.equal(four.result.cfgScale, 4);
  });
  it("the default scale is 4.0 for models with a null class", async () => {
    assert.equal((await planSample({ model })).cfgScale, 4);
  });
});

describe("sample: bad input fails before any model call", () => {
  const cases: [string, Partial<SamplingOptions>, RegExp][] = [
    ["unknown class name", { classes: ["Trousers!"] }, /unknown class name .*Nearest: 1: Trouser/],
    ["ddim steps without an integer stride", { sampler: "ddim", numSamplingSteps: 600 }, /ddim cannot run 600 steps.*integer stride/],
    ["steps beyond the diffusion", { sampler: "ddpm", numSamplingSteps: 2000 }, /1\.\.1000/],
    ["dpm++ with one step", { sampler: "dpm++", numSamplingSteps: 1 }, /at least 2 steps/],
    ["cfg scale below 1", { cfgScale: 0.5 }, /cfg scale must be ≥ 1/],
    ["image size that the model cannot make", { imageSize: 16 }, /image size 16 does not match the model: latent size 4 × VAE factor 2 = 8/],
    ["pixel space for a 4-channel model", { vae: "none" }, /pixel space, which needs 1 or 3 channels/],
    ["unknown sampler", { sampler: "euler" as never }, /unknown sampler 'euler'/],
    ["zero samples", { numSamples: 0 }, /positive integer/],
  ];
  for (const [name, o, re] of cases) {
    it(name, async () => {
      const { batches } = await forwardBatches(() => assert.rejects(sample({ model, numSamplingSteps: 4, ...o }), (e: Error) => e instanceof SampleError && re.test(e.message)));
      assert.deepEqual(batches, []);
    });
  }
  it("a VAE whose latent channels differ from the model's in_channels", async () => {
    const vc = { ...TINY_VAE, latentChannels: 3 };
    saveVae(join(tmp, "vae3"), vc, initVaeParams(vc, 0), 8);
    await assert.rejects(sample({ model, vae: join(tmp, "vae3") }), /VAE has 3 latent channels but the model takes 4/);
  });
  it("guidance on a model without a null class", async () => {
    const kw = { ...TINY_KWARGS, class_dropout_prob: 0 };
    const dir = writeTinyModel(join(tmp, "nonull"), { kwargs: kw });
    await assert.rejects(sample({ model: dir, cfgScale: 4 }), /no null class/);
    assert.equal((await planSample({ model: dir })).cfgScale, 1);
  });
});

describe("sample: model sources", () => {
  it("a dit train checkpoint samples its ema.* weights (not model.*), with its config, class names and VAE", async () => {
    const ema = tinyWeights(TINY_CONFIG, 11);
    const raw = tinyWeights(TINY_CONFIG, 12);
    const all = new Map<string, Tensor>();
    for (const [k, t] of ema) all.set(`ema.${k}`, t);
    for (const [k, t] of raw) all.set(`model.${k}`, t);
    all.set("adam.exp_avg.pos_embed", new Tensor(new Rng(0).normals(ema.get("pos_embed")!.data.length), ema.get("pos_embed")!.shape));
    const file = join(tmp, "run", "checkpoints", "0000010.safetensors");
    saveVae(join(tmp, "run", "vae"), TINY_VAE, initVaeParams(TINY_VAE, 2), 8);
    mkdirSync(join(tmp, "run", "checkpoints"), { recursive: true });
    saveStateDict(file, all, { config: JSON.stringify(TINY_KWARGS), class_names: JSON.stringify(TINY_CLASS_NAMES), vae: "../vae" });
    const o: SamplingOptions = { sampler: "dpm++", numSamplingSteps: 3, classes: ["Sneaker"], numSamples: 2, model: file };
    const fromCkpt = await sample(o);
    const fromEma = await sample({ ...o, model: { config: TINY_CONFIG, weights: ema, classNames: TINY_CLASS_NAMES }, vae: join(tmp, "run", "vae") });
    const fromRaw = await sample({ ...o, model: { config: TINY_CONFIG, weights: raw, classNames: TINY_CLASS_NAMES }, vae: join(tmp, "run", "vae") });
    assert.deepEqual(fromCkpt.images, fromEma.images);
    assert.notDeepEqual(fromCkpt.images, fromRaw.images);
    assert.deepEqual(fromCkpt.classNames, TINY_CLASS_NAMES);
  });

  const TINY_P2 = fileURLToPath(new URL("../fixtures/dit-reference/models/tiny_p2/", import.meta.url));
  const TRAIN_PT = fileURLToPath(new URL("../fixtures/torch/dit_tiny_p2_train.pt", import.meta.url));
  it("an official train.py .pt: its ema entry, with --config", { skip: existsSync(TRAIN_PT) ? undefined : "test/fixtures/torch/dit_tiny_p2_train.pt is absent" }, async () => {
    const { loadStateDict } = await import("../../src/io/state-dict.js");
    const cfg = configFromKwargs(JSON.parse((await import("node:fs")).readFileSync(join(TINY_P2, "config.json"), "utf8")).dit_kwargs);
    const vae = join(model, "vae"); // 4 latent channels: 8×8 latents → 16×16 images
    const o: SamplingOptions = { model: TRAIN_PT, config: cfg, vae, sampler: "dpm++", numSamplingSteps: 3, classes: [7], numSamples: 2 };
    const fromPt = await sample(o);
    const fromWeights = await sample({ ...o, model: { config: cfg, weights: loadStateDict(join(TINY_P2, "weights.safetensors")) } });
    assert.deepEqual(fromPt.shape, [2, 16, 16, 1]);
    assert.deepEqual(fromPt.images, fromWeights.images);
    await assert.rejects(sample({ ...o, config: undefined }), /no model config; give --model/);
  });

  it("a diffusers transformer folder (diffusion_pytorch_model.safetensors + config.json) samples as the same weights in official names", async () => {
    const dir = join(tmp, "diffusers", "transformer");
    mkdirSync(dir, { recursive: true });
    const w = tinyWeights(TINY_CONFIG, 21);
    saveStateDict(join(dir, "diffusion_pytorch_model.safetensors"), officialToDiffusers(w, TINY_CONFIG.depth));
    writeFileSync(join(dir, "config.json"), JSON.stringify({ _class_name: "DiTTransformer2DModel", sample_size: 4, num_layers: 1, attention_head_dim: 16, num_attention_heads: 2, in_channels: 4, out_channels: 8, patch_size: 2, num_embeds_ada_norm: 3, norm_type: "ada_norm_zero" }));
    const o: SamplingOptions = { model: dir, vae: join(model, "vae"), sampler: "ddim", numSamplingSteps: 4, classes: [1, 2], numSamples: 2 };
    const a = await sample(o);
    const b = await sample({ ...o, model: { config: TINY_CONFIG, weights: w } });
    assert.equal((await planSample(o)).model.format, "diffusers");
    assert.deepEqual(a.images, b.images);
  });
});
