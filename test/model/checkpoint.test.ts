/** Running an official-style train.py checkpoint (.pt) directly: the ema entry by default, as sample.py does. */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { before, describe, it } from "node:test";
import { readSafetensors, toFloat32, toInt32 } from "../../src/io/safetensors.js";
import { configFromKwargs } from "../../src/model/config.js";
import { DiT } from "../../src/model/dit.js";
import { loadStateDict } from "../../src/model/weights.js";
import { Tensor } from "../../src/runtime/tensor.js";
import { relErr, setupJax } from "../helpers.js";

const FIX = fileURLToPath(new URL("../fixtures/", import.meta.url));

describe("DiT from a PyTorch train.py checkpoint", () => {
  before(setupJax);
  it("dit_tiny_p2_train.pt: the ema entry reproduces the official tiny_p2 forward; the model entry differs", async () => {
    const dir = join(FIX, "dit-reference/models/tiny_p2");
    const config = configFromKwargs((JSON.parse(readFileSync(join(dir, "config.json"), "utf8")) as { dit_kwargs: object }).dit_kwargs);
    const io = readSafetensors(join(dir, "io.safetensors")).tensors;
    const x = new Tensor(toFloat32(io.get("input.x")!.data), io.get("input.x")!.shape);
    const t = new Tensor(toFloat32(io.get("input.t")!.data), io.get("input.t")!.shape);
    const y = new Tensor(toInt32(io.get("input.y")!.data), io.get("input.y")!.shape);
    const want = toFloat32(io.get("out.forward")!.data);
    const pt = join(FIX, "torch/dit_tiny_p2_train.pt");
    const ema = await new DiT(config, loadStateDict(pt)).forward(x, t, y);
    assert.ok(relErr(ema.data as Float32Array, want) <= 1e-5);
    const model = await new DiT(config, loadStateDict(pt, "model")).forward(x, t, y);
    assert.ok(relErr(model.data as Float32Array, want) > 1e-2, "the model entry (weights × 2) must give another output");
  });
});
