/** The DiT beyond the fixtures: every block type, counts, init, unconditional models, errors. */
import assert from "node:assert/strict";
import { before, describe, it } from "node:test";
import { BLOCK_TYPES, officialConfig, validateConfig, DEFAULTS, type DiTConfig } from "../../src/model/config.js";
import { DiT } from "../../src/model/runner.js";
import { countParams } from "../../src/model/flops.js";
import { initParams, paramShapes, resizeLabelTable } from "../../src/model/params.js";
import { Tensor } from "../../src/runtime/tensor.js";
import { Rng, relErr, setupJax } from "../helpers.js";

const tiny = (over: Partial<DiTConfig> = {}): DiTConfig =>
  validateConfig({ ...DEFAULTS, inputSize: 8, patchSize: 2, hiddenSize: 32, depth: 2, numHeads: 4, numClasses: 10, ...over });

/** Official init, then every tensor but pos_embed randomised so every path matters. */
function randomWeights(c: DiTConfig, seed: number) {
  const w = initParams(c, seed);
  const rng = new Rng(seed + 100);
  for (const [k, t] of w) if (k !== "pos_embed") (t.data as Float32Array).set(rng.normals(t.data.length, 0.1));
  return w;
}

function inputs(c: DiTConfig, N: number, seed: number) {
  const rng = new Rng(seed);
  const S = c.inputSize;
  return {
    x: new Tensor(rng.normals(N * c.inChannels * S * S), [N, c.inChannels, S, S]),
    t: new Tensor(Float32Array.from({ length: N }, (_, i) => [0, 999, 500, 17][i % 4]!), [N]),
    y: new Tensor(Int32Array.from({ length: N }, (_, i) => (i * 3) % (c.numClasses + 1)), [N]),
  };
}

describe("DiT model", () => {
  before(setupJax);

  for (const block of BLOCK_TYPES) {
    it(`${block}: compiled forward (whole graph and staged) matches jax-js eager; parameter count matches countParams`, async () => {
      const c = tiny({ block });
      const w = randomWeights(c, 1);
      const total = [...w.values()].reduce((s, t) => s + t.data.length, 0);
      assert.equal(total, countParams(c));
      const { x, t, y } = inputs(c, 3, 2);
      const a = await new DiT(c, w).forward(x, t, y);
      const b = await new DiT(c, w, { backend: "eager" }).forward(x, t, y);
      const staged = await new DiT(c, w, { execution: "staged" }).forward(x, t, y);
      assert.ok(relErr(staged.data as Float32Array, b.data as Float32Array) < 1e-4, "staged execution");
      assert.deepEqual(a.shape, [3, 8, 8, 8]);
      const err = relErr(a.data as Float32Array, b.data as Float32Array);
      assert.ok(err < 1e-4, `relative error ${err}`);
      assert.ok(Math.max(...Array.from(a.data as Float32Array, Math.abs)) > 1e-3, "output is not trivially zero");
    });
  }

  it("unconditional model (numClasses 1): no label embedder, y ignored", async () => {
    const c = tiny({ numClasses: 1 });
    assert.ok(![...paramShapes(c).keys()].some((k) => k.startsWith("y_embedder")));
    const w = randomWeights(c, 3);
    const { x, t } = inputs(c, 2, 4);
    const a = await new DiT(c, w).forward(x, t);
    const b = await new DiT(c, w, { backend: "eager" }).forward(x, t);
    assert.ok(relErr(a.data as Float32Array, b.data as Float32Array) < 1e-4);
  });

  it("adaLN-Zero official init: every block is the identity and the output is zero", async () => {
    const c = tiny();
    const m = new DiT(c, initParams(c, 5));
    const { x, t, y } = inputs(c, 2, 6);
    const inter = new Map<string, Tensor>();
    const out = await m.forward(x, t, y, { intermediates: inter });
    assert.deepEqual(Array.from(inter.get("block1.out")!.data), Array.from(inter.get("x_tokens")!.data));
    assert.ok((out.data as Float32Array).every((v) => v === 0));
  });

  it("standard guidance mode guides all latent channels, official only the first 3", async () => {
    const c = tiny();
    const m = new DiT(c, randomWeights(c, 7));
    const { x, t } = inputs(c, 4, 8);
    const y = new Tensor(Int32Array.of(1, 2, 10, 10), [4]);
    const off = await m.forwardWithCfg(x, t, y, 4, "official");
    const std = await m.forwardWithCfg(x, t, y, 4, "standard");
    const plane = 64;
    const chan = (a: Tensor, n: number, ch: number) => Array.from((a.data as Float32Array).subarray((n * 8 + ch) * plane, (n * 8 + ch + 1) * plane));
    assert.deepEqual(chan(off, 0, 2), chan(std, 0, 2));
    assert.notDeepEqual(chan(off, 0, 3), chan(std, 0, 3));
    assert.deepEqual(chan(std, 0, 3), chan(std, 2, 3)); // guided channels are equal in both halves
    assert.deepEqual(chan(off, 0, 5), chan(std, 0, 5)); // variance channels are never guided
  });

  it("a state dict with missing, unexpected and mis-shaped keys gives one error listing all", () => {
    const c = tiny();
    const w = initParams(c, 0);
    w.delete("blocks.1.mlp.fc2.bias");
    w.set("extra.weight", new Tensor(new Float32Array(1), [1]));
    w.set("final_layer.linear.bias", new Tensor(new Float32Array(3), [3]));
    assert.throws(
      () => new DiT(c, w),
      (e: Error) => /missing keys \(1\): blocks\.1\.mlp\.fc2\.bias/.test(e.message) && /unexpected keys \(1\): extra\.weight/.test(e.message) && /final_layer\.linear\.bias: expected \[32\], got \[3\]/.test(e.message),
    );
  });

  it("bad inputs are rejected with the expected shapes named", async () => {
    const c = tiny();
    const m = new DiT(c, initParams(c, 0));
    const { x, t } = inputs(c, 2, 0);
    await assert.rejects(m.forward(new Tensor(new Float32Array(2 * 3 * 64), [2, 3, 8, 8]), t, new Tensor(Int32Array.of(1, 2), [2])), /x must be float32 \(N, 4, 8, 8\)/);
    await assert.rejects(m.forward(x, t, new Tensor(Int32Array.of(1, 11), [2])), /label 11 out of range/);
    await assert.rejects(m.forward(x, t), /y must be int32/);
    assert.throws(() => officialConfig("DiT-M/2"), /unknown model 'DiT-M\/2'/);
    assert.throws(() => tiny({ hiddenSize: 30 }), /not divisible by numHeads/);
  });

  it("resizing the label table keeps old rows and the null row, draws new rows", () => {
    const table = new Tensor(Float32Array.from({ length: 4 * 2 }, (_, i) => i), [4, 2]); // 3 classes + null
    const r = resizeLabelTable(table, 3, 5, true, 1);
    assert.deepEqual(r.shape, [6, 2]);
    assert.deepEqual(Array.from(r.data.subarray(0, 6)), [0, 1, 2, 3, 4, 5]);
    assert.deepEqual(Array.from(r.data.subarray(10, 12)), [6, 7]);
    assert.ok(Array.from(r.data.subarray(6, 10)).every((v) => Math.abs(v) < 0.2 && v !== 0));
    assert.throws(() => resizeLabelTable(table, 4, 5, true), /expected 5 for 4 classes/);
  });

  it("official config table: DiT-XL/2 has 675,129,632 parameters", () => {
    assert.equal(countParams(officialConfig("DiT-XL/2")), 675129632);
    const shapes = paramShapes(officialConfig("DiT-XL/2"));
    assert.equal([...shapes.values()].reduce((s, sh) => s + sh.reduce((a, b) => a * b, 1), 0), 675129632);
  });
});
