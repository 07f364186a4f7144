/**
 * lowerVaeDecoder (vae/export.ts): the VAE decoder as one standalone ONNX
 * graph (input z, output image, weights as initializers), as the browser page
 * runs it. Checked against the jax-js eager decoder (the reference path) on a
 * tiny VAE with random weights.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import * as ort from "onnxruntime-node";
import { Tensor } from "../../src/runtime/tensor.js";
import { Rng } from "../../src/util/rng.js";
import { AutoencoderKL } from "../../src/vae/autoencoder.js";
import { downsampleFactor, SCALING_FACTOR, type VaeConfig } from "../../src/vae/config.js";
import { lowerVaeDecoder, VAE_DECODER_IO } from "../../src/vae/export.js";
import { initVaeParams } from "../../src/vae/init.js";
import { relErr, setupJax } from "../helpers.js";

const CONFIG: VaeConfig = { blockOutChannels: [8, 16], layersPerBlock: 1, latentChannels: 4, normNumGroups: 4, scalingFactor: SCALING_FACTOR, inChannels: 1, outChannels: 1 };

/** Random weights (the official init zeroes nothing we rely on, but random values make every layer count). */
function randomWeights(seed: number): Map<string, Tensor> {
  const rng = new Rng(seed);
  const w = initVaeParams(CONFIG, seed);
  for (const [k, t] of w) w.set(k, new Tensor(rng.normals(t.data.length, 0.2), t.shape));
  return w;
}

describe("lowerVaeDecoder", () => {
  it("a standalone graph z (N, 4, h, w) → image (N, C, h·f, w·f) that matches the eager decoder", async () => {
    await setupJax();
    const weights = randomWeights(5);
    const latent = 4;
    const N = 2;
    const graph = await lowerVaeDecoder(CONFIG, weights, latent, N);
    const f = downsampleFactor(CONFIG);
    assert.deepEqual(graph.inputs.map((io) => [io.name, io.dtype, io.shape]), [[VAE_DECODER_IO.input, "float32", [N, 4, latent, latent]]]);
    assert.deepEqual(graph.outputs.map((io) => [io.name, io.dtype, io.shape]), [[VAE_DECODER_IO.output, "float32", [N, 1, latent * f, latent * f]]]);

    const z = new Rng(9).normals(N * 4 * latent * latent);
    const session = await ort.InferenceSession.create(graph.encode());
    const out = await session.run({ z: new ort.Tensor("float32", z, [N, 4, latent, latent]) });
    await session.release();
    const got = out.image!.data as Float32Array;

    const ref = await new AutoencoderKL(CONFIG, weights, { backend: "eager" }).decode(new Tensor(z, [N, 4, latent, latent]));
    assert.deepEqual(ref.shape, [N, 1, latent * f, latent * f]);
    const err = relErr(got, ref.data as Float32Array);
    assert.ok(err <= 1e-5, `relative L2 error ${err} against the eager decoder`);
  });

  it("refuses a batch or latent size that is not a positive integer", async () => {
    await assert.rejects(lowerVaeDecoder(CONFIG, randomWeights(1), 4, 0), /batch must be a positive integer/);
    await assert.rejects(lowerVaeDecoder(CONFIG, randomWeights(1), 2.5, 1), /latent size must be a positive integer/);
  });
});
