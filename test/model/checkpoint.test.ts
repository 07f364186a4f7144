/**
 * Running an official-style train.py checkpoint (.pt) directly: the ema entry
 * by default, as sample.py does.
 *
 * `torch/dit_tiny_p2_train.pt` is the project's own file, made from the
 * repository's copy of `dit-reference/models/tiny_p2` (make_dit_checkpoint.py:
 * "ema" = those weights, "model" = 2×), so its entries are checked against
 * that copy. The forward pass is compared with the tiny_p2 case of the fixture
 * root (REFERENCE_FIXTURES), skipped by name when the root lacks that case or
 * holds another tiny_p2 than the one the checkpoint was made from.
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { before, describe, it } from "node:test";
import { configFromKwargs, DiT, loadStateDict, readSafetensors, Tensor } from "../../src/index.js";
import { toFloat32, toInt32 } from "../../src/io/safetensors.js";
import { FIXTURE_ROOT, fixturePath, fixtureSkip, REPO_FIXTURE_ROOT } from "../fixture-root.js";
import { relErr, setupJax } from "../helpers.js";

const CASE = "dit-reference/models/tiny_p2";
const PT = join(REPO_FIXTURE_ROOT, "torch/dit_tiny_p2_train.pt");
const SOURCE = join(REPO_FIXTURE_ROOT, CASE, "weights.safetensors");

describe("DiT from a PyTorch train.py checkpoint", () => {
  before(setupJax);

  it("dit_tiny_p2_train.pt: the ema entry is the weights it was made from, the model entry twice them", () => {
    const want = readSafetensors(SOURCE).tensors;
    const ema = loadStateDict(PT);
    const model = loadStateDict(PT, "model");
    assert.deepEqual([...ema.keys()].sort(), [...want.keys()].sort());
    assert.deepEqual([...model.keys()].sort(), [...want.keys()].sort());
    for (const [k, w] of want) {
      assert.deepEqual([...ema.get(k)!.shape], w.shape, `${k}: shape`);
      assert.deepEqual(ema.get(k)!.data, toFloat32(w.data), `ema ${k}`);
      assert.deepEqual(model.get(k)!.data, toFloat32(w.data).map((v) => 2 * v), `model ${k}`);
    }
  });

  const files = ["config.json", "io.safetensors", "weights.safetensors"].map((f) => `${CASE}/${f}`);
  it(`dit_tiny_p2_train.pt: the ema entry reproduces the official forward of ${CASE}; the model entry differs`, { skip: fixtureSkip(...files) }, async (t) => {
    const dir = fixturePath(CASE);
    if (FIXTURE_ROOT !== REPO_FIXTURE_ROOT && !readFileSync(join(dir, "weights.safetensors")).equals(readFileSync(SOURCE))) {
      t.skip(`${dir} is another tiny_p2 than the one dit_tiny_p2_train.pt was made from`);
      return;
    }
    const config = configFromKwargs((JSON.parse(readFileSync(join(dir, "config.json"), "utf8")) as { dit_kwargs: object }).dit_kwargs);
    const io = readSafetensors(join(dir, "io.safetensors")).tensors;
    const x = new Tensor(toFloat32(io.get("input.x")!.data), io.get("input.x")!.shape);
    const tt = new Tensor(toFloat32(io.get("input.t")!.data), io.get("input.t")!.shape);
    const y = new Tensor(toInt32(io.get("input.y")!.data), io.get("input.y")!.shape);
    const want = toFloat32(io.get("out.forward")!.data);
    const ema = await new DiT(config, loadStateDict(PT)).forward(x, tt, y);
    assert.ok(relErr(ema.data as Float32Array, want) <= 1e-5);
    const model = await new DiT(config, loadStateDict(PT, "model")).forward(x, tt, y);
    assert.ok(relErr(model.data as Float32Array, want) > 1e-2, "the model entry (weights × 2) must give another output");
  });
});
