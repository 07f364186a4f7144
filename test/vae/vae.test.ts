/**
 * The VAE without reference fixtures: the parameter list of the full SD VAE
 * against the recorded real layout, legacy attention names, and a small
 * non-square config (3 levels, H ≠ W) run compiled vs jax-js eager, in one
 * chunk and in chunks of one image.
 */
import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { before, describe, it } from "node:test";
import { Tensor } from "../../src/runtime/tensor.js";
import { AutoencoderKL } from "../../src/vae/autoencoder.js";
import { SD_VAE_CONFIG, vaeConfigFromDiffusers, type VaeConfig } from "../../src/vae/config.js";
import { normalizeVaeKeys, vaeParamShapes } from "../../src/vae/weights.js";
import { FIXTURE_ROOT } from "../fixture-root.js";
import { randn, Rng, setupJax } from "../helpers.js";

const SHAPES = join(FIXTURE_ROOT, "vae-reference", "vae_sd_ft_ema_param_shapes.json");

function maxRel(got: Tensor, want: Tensor): number {
  let err = 0;
  let scale = 0;
  for (let i = 0; i < want.data.length; i++) {
    err = Math.max(err, Math.abs(Number(got.data[i]) - Number(want.data[i])));
    scale = Math.max(scale, Math.abs(Number(want.data[i])));
  }
  return err / scale;
}

function randomWeights(c: VaeConfig, seed: number): Map<string, Tensor> {
  const rng = new Rng(seed);
  const out = new Map<string, Tensor>();
  for (const [k, shape] of vaeParamShapes(c)) {
    const t = randn(rng, shape, 0.1);
    if (/norm[^.]*\.weight$/.test(k)) for (let i = 0; i < t.data.length; i++) t.data[i]! += 1;
    out.set(k, t);
  }
  return out;
}

describe("VAE", () => {
  before(setupJax);

  it("the full SD VAE has the real file's 248 parameter names and shapes (83,653,863 parameters)", { skip: existsSync(SHAPES) ? false : `no ${SHAPES}` }, () => {
    const j = JSON.parse(readFileSync(SHAPES, "utf8")) as { params: Record<string, number[]>; legacy_attention_key_names: Record<string, string> };
    const got = vaeParamShapes(SD_VAE_CONFIG);
    assert.deepEqual([...got.keys()].sort(), Object.keys(j.params).sort());
    for (const [k, s] of got) assert.deepEqual(s, j.params[k], k);
    assert.equal([...got.values()].reduce((a, s) => a + s.reduce((x, y) => x * y, 1), 0), 83_653_863);
    // every legacy attention name maps back to its current name
    const legacy = new Map(Object.entries(j.legacy_attention_key_names).map(([, old]) => [old, new Tensor(new Float32Array(1), [1])]));
    const renamed = [...normalizeVaeKeys(legacy).keys()].sort();
    assert.deepEqual(renamed, Object.keys(j.legacy_attention_key_names).sort());
  });

  it("rejects configs it does not implement and weights that do not match", () => {
    assert.throws(() => vaeConfigFromDiffusers({ block_out_channels: [32], down_block_types: ["CrossAttnDownBlock2D"], up_block_types: ["UpDecoderBlock2D"] }), /DownEncoderBlock2D/);
    assert.throws(() => vaeConfigFromDiffusers({ block_out_channels: [30], norm_num_groups: 32 }), /divisible/);
    const c: VaeConfig = { ...SD_VAE_CONFIG, blockOutChannels: [8, 16], normNumGroups: 4, layersPerBlock: 1 };
    const w = randomWeights(c, 1);
    w.delete("quant_conv.bias");
    assert.throws(() => new AutoencoderKL(c, w), /missing \[quant_conv\.bias\]/);
  });

  it("small non-square 3-level VAE: compiled = jax-js eager (max|Δ| ≤ 1e-4·max), chunked = unchunked", async () => {
    const c: VaeConfig = { ...SD_VAE_CONFIG, blockOutChannels: [8, 16, 16], normNumGroups: 4, layersPerBlock: 1 };
    const w = randomWeights(c, 7);
    const rng = new Rng(8);
    const x = randn(rng, [3, 3, 12, 16]);
    const onnx = new AutoencoderKL(c, w, { chunkSize: 2 });
    const one = new AutoencoderKL(c, w, { chunkSize: 1 });
    const ref = new AutoencoderKL(c, w, { backend: "eager" });
    try {
      const m = await onnx.moments(x);
      assert.deepEqual(m.shape, [3, 8, 3, 4]);
      const mRef = await ref.moments(x);
      assert.ok(maxRel(m, mRef) <= 1e-4, `moments: ${maxRel(m, mRef)}`);
      const z = (await onnx.encode(x)).sample(new Rng(3));
      const d = await onnx.decode(z);
      assert.deepEqual(d.shape, [3, 3, 12, 16]);
      assert.ok(maxRel(d, await ref.decode(z)) <= 1e-4, "decoded vs eager");
      assert.ok(maxRel(await one.decode(z), d) <= 1e-6, "decoded in chunks of one");
    } finally {
      await Promise.all([onnx.dispose(), one.dispose(), ref.dispose()]);
    }
  });
});
