/**
 * Training a small VAE from scratch: datasets (IDX, gzipped IDX, PGM/PPM
 * folders, clear errors), the PyTorch-default initialisation, the compiled
 * gradient against jax-js eager, the loss going down, determinism, and the
 * saved weights + config reloading into AutoencoderKL.
 */
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { gzipSync } from "node:zlib";
import { Command } from "commander";
import { PNG } from "pngjs";
import { registerVaeTrain } from "../../src/cli/vae-train.js";
import { encodeIdxImages, loadImageDataset, padToMultiple, readIdxImages, type ImageDataset } from "../../src/io/datasets.js";
import { subtree } from "../../src/io/state-dict.js";
import { compile } from "../../src/runtime/compile.js";
import { Tensor } from "../../src/runtime/tensor.js";
import { Rng } from "../../src/util/rng.js";
import { AutoencoderKL } from "../../src/vae/autoencoder.js";
import { SCALING_FACTOR, vaeConfigFromDiffusers, type VaeConfig } from "../../src/vae/config.js";
import { initVaeParams } from "../../src/vae/init.js";
import { saveVae, trainVae, vaeLossFn, vaeStepFn, type TrainVaeResult } from "../../src/vae/train.js";
import { loadVaeStateDict, vaeParamShapes } from "../../src/vae/weights.js";
import { relErr, setupJax } from "../helpers.js";

const ARCH = { blockOutChannels: [8, 16], layersPerBlock: 1, latentChannels: 4, normNumGroups: 4, scalingFactor: SCALING_FACTOR };
const CONFIG: VaeConfig = { ...ARCH, inChannels: 1, outChannels: 1 };

/** n images S×S of filled squares and discs at varying places and sizes (uint8, MNIST-like: white on black). */
function shapes(n: number, S: number): Uint8Array {
  const px = new Uint8Array(n * S * S);
  for (let k = 0; k < n; k++) {
    const cx = 3 + ((k * 5) % (S - 6));
    const cy = 3 + ((k * 3) % (S - 6));
    const r = 2 + (k % 3);
    for (let y = 0; y < S; y++) {
      for (let x = 0; x < S; x++) {
        const inside = k % 2 === 0 ? Math.abs(x - cx) <= r && Math.abs(y - cy) <= r : (x - cx) ** 2 + (y - cy) ** 2 <= r * r;
        px[k * S * S + y * S + x] = inside ? 255 : 0;
      }
    }
  }
  return px;
}

function batchOf(ds: ImageDataset, n: number): Tensor {
  const per = ds.data.length / ds.shape[0];
  return new Tensor(ds.data.slice(0, n * per), [n, ...ds.shape.slice(1)]);
}

function leaf(t: unknown, name: string): Tensor {
  let node = t;
  for (const p of name.split(".")) node = (node as Record<string, unknown>)[p];
  assert.ok(node instanceof Tensor, `no gradient for ${name}`);
  return node;
}

describe("VAE training", () => {
  const tmp = mkdtempSync(join(tmpdir(), "dit-vae-train-"));
  const idx = join(tmp, "train-images-idx3-ubyte");
  const N = 32;
  const S = 28;
  let trained: TrainVaeResult;
  before(async () => {
    await setupJax();
    writeFileSync(idx, encodeIdxImages(shapes(N, S), N, S, S));
  });
  after(() => rmSync(tmp, { recursive: true, force: true }));

  it("reads IDX files (plain and gzipped) into (N, 1, H, W) in [-1, 1]", () => {
    const ds = readIdxImages(idx);
    assert.deepEqual(ds.shape, [N, 1, S, S]);
    assert.equal(Math.min(...ds.data), -1);
    assert.equal(Math.max(...ds.data), 1);
    writeFileSync(`${idx}.gz`, gzipSync(readFileSync(idx)));
    assert.deepEqual(loadImageDataset(`${idx}.gz`).data, ds.data);
    const padded = padToMultiple(ds, 8);
    assert.deepEqual(padded.shape, [N, 1, 32, 32]);
    assert.equal(padded.data[0], -1);
    // pixel (y, x) moves to (y + 2, x + 2)
    assert.equal(padded.data[(2 + 5) * 32 + 2 + 6], ds.data[5 * S + 6]);
  });

  it("truncated, corrupt, mislabelled or missing dataset files give clear errors", () => {
    const buf = readFileSync(idx);
    const cut = join(tmp, "cut-idx3-ubyte");
    writeFileSync(cut, buf.subarray(0, buf.length - 100));
    assert.throws(() => loadImageDataset(cut), (e: Error) => e.message.includes(cut) && /truncated: the header declares 32 images of 28×28 \(25104 bytes\) but the file has 25004 bytes/.test(e.message));
    writeFileSync(`${cut}.gz`, gzipSync(buf).subarray(0, 200));
    assert.throws(() => loadImageDataset(`${cut}.gz`), /corrupt or truncated gzip/);
    writeFileSync(join(tmp, "short"), buf.subarray(0, 10));
    assert.throws(() => loadImageDataset(join(tmp, "short")), /too short for the 16-byte header/);
    const labels = Buffer.from(buf);
    labels.writeUInt32BE(0x801, 0);
    writeFileSync(join(tmp, "labels"), labels);
    assert.throws(() => loadImageDataset(join(tmp, "labels")), /IDX label file, not images/);
    assert.throws(() => loadImageDataset(join(tmp, "nope")), /no such dataset \(expected an IDX image file/);
  });

  it("reads a folder of binary PGM / PPM images; JPEG folders are refused with a reason", () => {
    const dir = join(tmp, "ppm");
    mkdirSync(dir);
    const rgb = Buffer.from([0, 255, 51, 255, 0, 0]); // 2×1 pixels
    writeFileSync(join(dir, "a.ppm"), Buffer.concat([Buffer.from("P6\n# a comment\n2 1\n255\n"), rgb]));
    writeFileSync(join(dir, "b.ppm"), Buffer.concat([Buffer.from("P6 2 1 255 "), rgb.reverse()]));
    const ds = loadImageDataset(dir);
    assert.deepEqual(ds.shape, [2, 3, 1, 2]);
    assert.deepEqual([...ds.data.subarray(0, 6)].map((v) => Math.round(v * 100) / 100), [-1, 1, 1, -1, -0.6, -1]);
    writeFileSync(join(dir, "c.ppm"), Buffer.from("P6 2 1 255 \x00\x01"));
    assert.throws(() => loadImageDataset(dir), /c\.ppm: truncated/);
    const jpg = join(tmp, "jpg");
    mkdirSync(jpg);
    writeFileSync(join(jpg, "x.jpg"), "");
    assert.throws(() => loadImageDataset(jpg), /cannot decode; convert them to PNG/);
  });

  it("reads a folder of PNG images (colour → 3 channels, grayscale → 1); a corrupt PNG is named", () => {
    const encode = (w: number, h: number, rgba: number[], colorType: 0 | 2 | 6) => {
      const png = new PNG({ width: w, height: h, colorType, inputColorType: 6, inputHasAlpha: true });
      png.data = Buffer.from(rgba);
      return PNG.sync.write(png, { colorType, inputColorType: 6, inputHasAlpha: true });
    };
    const dir = join(tmp, "png");
    mkdirSync(dir);
    writeFileSync(join(dir, "a.png"), encode(2, 1, [255, 0, 51, 255, 0, 255, 0, 128], 6));
    const ds = loadImageDataset(dir);
    assert.deepEqual(ds.shape, [1, 3, 1, 2]);
    assert.deepEqual([...ds.data].map((v) => Math.round(v * 100) / 100), [1, -1, -1, 1, -0.6, -1]); // planar R, G, B; alpha dropped
    const gray = join(tmp, "gray");
    mkdirSync(gray);
    writeFileSync(join(gray, "g.png"), encode(2, 1, [0, 0, 0, 255, 255, 255, 255, 255], 0));
    const g = loadImageDataset(gray);
    assert.deepEqual(g.shape, [1, 1, 1, 2]);
    assert.deepEqual([...g.data], [-1, 1]);
    writeFileSync(join(gray, "h.png"), Buffer.from("\x89PNG\r\n\x1a\nnot really"));
    assert.throws(() => loadImageDataset(gray), /h\.png: not a readable PNG/);
  });

  it("initialises like PyTorch: U(±1/√fan_in) weights and biases, GroupNorm 1 / 0, seeded", () => {
    const w = initVaeParams(CONFIG, 3);
    assert.deepEqual([...w.keys()], [...vaeParamShapes(CONFIG).keys()]);
    const conv = w.get("encoder.down_blocks.1.resnets.0.conv1.weight")!; // (16, 8, 3, 3): fan_in 72
    const bound = 1 / Math.sqrt(72);
    const maxAbs = Math.max(...[...conv.data].map(Math.abs));
    assert.ok(maxAbs <= bound && maxAbs > 0.95 * bound, `${maxAbs} vs ${bound}`);
    const bias = w.get("decoder.mid_block.attentions.0.to_q.bias")!; // linear 16 → 16
    assert.ok(Math.max(...[...bias.data].map(Math.abs)) <= 0.25);
    assert.ok([...w.get("encoder.conv_norm_out.weight")!.data].every((v) => v === 1));
    assert.ok([...w.get("decoder.mid_block.attentions.0.group_norm.bias")!.data].every((v) => v === 0));
    assert.deepEqual(initVaeParams(CONFIG, 3).get("quant_conv.weight")!.data, w.get("quant_conv.weight")!.data);
    assert.notDeepEqual(initVaeParams(CONFIG, 4).get("quant_conv.weight")!.data, w.get("quant_conv.weight")!.data);
  });

  it("the compiled loss gradient matches jax-js eager (every parameter, ≤ 1e-4 relative)", async () => {
    const ds = loadImageDataset(idx);
    const x = batchOf({ ...ds, data: ds.data }, 2);
    const eps = new Tensor(new Float32Array(2 * 4 * 14 * 14).map((_, i) => Math.sin(i)), [2, 4, 14, 14]);
    const params = subtree(initVaeParams(CONFIG, 1), "");
    for (const recon of ["l1", "l2"] as const) {
      const onnx = vaeStepFn(CONFIG, recon, 0.01, "onnx");
      const ref = vaeStepFn(CONFIG, recon, 0.01, "eager");
      type Out = [[Tensor, { recon: Tensor; kl: Tensor }], unknown];
      const [[l1, p1], g1] = (await onnx(params, x, eps)) as unknown as Out;
      const [[l2, p2], g2] = (await ref(params, x, eps)) as unknown as Out;
      assert.ok(relErr(l1.data, l2.data) <= 1e-5, `${recon} loss`);
      assert.ok(relErr(p1.kl.data, p2.kl.data) <= 1e-5, `${recon} kl`);
      assert.ok(Math.abs(l1.data[0]! - (p1.recon.data[0]! + 0.01 * p1.kl.data[0]!)) <= 1e-5 * l1.data[0]!);
      // to_k.bias has an analytically zero gradient (softmax ignores a shift shared by every key): its
      // error is measured against a floor of 1e-3 × the mean gradient norm instead of its own ~0 norm
      const norm = (t: Tensor) => Math.sqrt((t.data as Float32Array).reduce((s, v) => s + v * v, 0));
      const keys = [...vaeParamShapes(CONFIG).keys()];
      const floor = (1e-3 * keys.reduce((s, k) => s + norm(leaf(g2, k)), 0)) / keys.length;
      for (const k of keys) {
        const want = leaf(g2, k);
        const err = relErr(leaf(g1, k).data, want.data) * (norm(want) / Math.max(norm(want), floor));
        assert.ok(err <= 1e-4, `${recon} grad ${k}: relative error ${err.toExponential(2)}`);
      }
      await onnx.dispose();
    }
  });

  it("30 Adam steps on 28×28 shapes: the loss falls below half its initial value", async () => {
    trained = await trainVae({ data: idx, config: ARCH, steps: 30, batch: 8, lr: 3e-3, klWeight: 1e-6, seed: 0 });
    const h = trained.history;
    assert.equal(h.length, 30);
    const last5 = h.slice(-5).reduce((s, r) => s + r.loss, 0) / 5;
    assert.ok(last5 < 0.5 * h[0]!.loss, `loss ${h[0]!.loss} → ${last5} (mean of the last 5 steps)`);
    // reported numbers are consistent
    for (const r of h) assert.ok(Math.abs(r.loss - (r.recon + 1e-6 * r.kl)) <= 1e-5 * r.loss);
  });

  it("is deterministic given the seed", async () => {
    const a = await trainVae({ data: idx, config: ARCH, steps: 3, batch: 4, seed: 5 });
    const b = await trainVae({ data: idx, config: ARCH, steps: 3, batch: 4, seed: 5 });
    assert.deepEqual(a.history, b.history);
    assert.deepEqual(a.weights.get("decoder.conv_out.weight")!.data, b.weights.get("decoder.conv_out.weight")!.data);
  });

  it("scaling_factor \"auto\" = 1/std of latent samples: scaled latents of the training images have unit std", async () => {
    const arch = { ...ARCH, scalingFactor: undefined };
    const r = await trainVae({ data: idx, config: arch, steps: 3, batch: 4, seed: 1 }); // all 32 images (fewer than scaleImages)
    assert.ok(r.latentStd !== undefined && r.latentStd > 0);
    assert.equal(r.config.scalingFactor, 1 / r.latentStd!);
    assert.notEqual(r.config.scalingFactor, SCALING_FACTOR);
    // independent check: encode the same 32 images, sample with other noise, scale
    const vae = new AutoencoderKL(r.config, r.weights);
    try {
      const z = (await vae.encode(batchOf(loadImageDataset(idx), 32))).sample(new Rng(77)).data as Float32Array;
      let s = 0;
      let s2 = 0;
      for (const v of z) {
        s += v * r.config.scalingFactor;
        s2 += (v * r.config.scalingFactor) ** 2;
      }
      const std = Math.sqrt(s2 / z.length - (s / z.length) ** 2);
      assert.ok(Math.abs(std - 1) < 0.03, `std of scaled latents ${std}`);
    } finally {
      await vae.dispose();
    }
    // a number or the config's own value is kept as given
    assert.equal((await trainVae({ data: idx, config: arch, steps: 1, batch: 4, scalingFactor: 0.5 })).config.scalingFactor, 0.5);
    assert.equal((await trainVae({ data: idx, config: ARCH, steps: 1, batch: 4 })).latentStd, undefined);
    await assert.rejects(trainVae({ data: idx, config: arch, steps: 1, batch: 4, scalingFactor: -1 }), /positive number/);
  });

  it("saved weights + config reload into AutoencoderKL and reproduce the trained reconstruction", async () => {
    const out = join(tmp, "vae-out");
    saveVae(out, trained.config, trained.weights, 28);
    const cfg = vaeConfigFromDiffusers(JSON.parse(readFileSync(join(out, "config.json"), "utf8")) as Record<string, unknown>);
    assert.deepEqual(cfg, trained.config);
    const reloaded = new AutoencoderKL(cfg, loadVaeStateDict(join(out, "vae.safetensors")));
    const inMemory = new AutoencoderKL(trained.config, trained.weights);
    const x = batchOf(loadImageDataset(idx), 4);
    try {
      const rec = await reloaded.decode((await reloaded.encode(x)).mode());
      const want = await inMemory.decode((await inMemory.encode(x)).mode());
      assert.deepEqual(rec.data, want.data);
      // the training loss's recon term with ε = 0 is mean|decode(mode) − x|
      const lossFn = compile(vaeLossFn(trained.config, "l1", 0) as never);
      const [, parts] = (await lossFn(subtree(trained.weights, ""), x, new Tensor(new Float32Array(4 * 4 * 14 * 14), [4, 4, 14, 14]))) as unknown as [Tensor, { recon: Tensor }];
      let l1 = 0;
      for (let i = 0; i < x.data.length; i++) l1 += Math.abs(rec.data[i]! - x.data[i]!);
      l1 /= x.data.length;
      assert.ok(Math.abs(l1 - parts.recon.data[0]!) <= 1e-5, `${l1} vs ${parts.recon.data[0]}`);
      assert.ok(l1 < 0.3, `reconstruction L1 ${l1}`);
      await lossFn.dispose();
    } finally {
      await reloaded.dispose();
      await inMemory.dispose();
    }
  });

  it("dit vae-train --json trains, saves atomically and prints one JSON line", async () => {
    const out = join(tmp, "cli-out");
    const program = new Command().exitOverride();
    registerVaeTrain(program);
    const lines: string[] = [];
    const write = process.stdout.write.bind(process.stdout);
    const errWrite = process.stderr.write.bind(process.stderr);
    // keep our JSON line; pass everything else (the test runner's own reports) through
    process.stdout.write = ((s: string | Uint8Array, ...rest: never[]) => {
      if (typeof s === "string" && s.startsWith('{"out":')) return (lines.push(s), true);
      return write(s, ...rest);
    }) as typeof process.stdout.write;
    process.stderr.write = (() => true) as typeof process.stderr.write;
    try {
      await program.parseAsync(["vae-train", "--data", idx, "--out", out, "--steps", "2", "--batch", "2", "--channels", "8,16", "--json"], { from: "user" });
    } finally {
      process.stdout.write = write;
      process.stderr.write = errWrite;
    }
    const mine = lines;
    assert.equal(mine.length, 1, lines.join(""));
    assert.ok(mine[0]!.endsWith("}\n"));
    const j = JSON.parse(mine[0]!) as { out: string; steps: number; loss: number; recon: number; kl: number; scaling_factor: number };
    assert.equal(j.out, out);
    assert.equal(j.steps, 2);
    assert.ok(Number.isFinite(j.loss) && Number.isFinite(j.recon) && Number.isFinite(j.kl));
    const cfg = vaeConfigFromDiffusers(JSON.parse(readFileSync(join(out, "config.json"), "utf8")) as Record<string, unknown>);
    assert.deepEqual(cfg.blockOutChannels, [8, 16]);
    assert.equal(cfg.normNumGroups, 8);
    // --scaling-factor auto (the default): config.json holds the printed 1/std, not DiT's 0.18215
    assert.equal(cfg.scalingFactor, j.scaling_factor);
    assert.ok(j.scaling_factor > 0 && j.scaling_factor !== SCALING_FACTOR);
    assert.equal(loadVaeStateDict(join(out, "vae.safetensors")).size, vaeParamShapes(cfg).size);
  });
});
