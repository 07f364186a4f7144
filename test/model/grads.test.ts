/**
 * Gradient parity: every model fixture with grads.safetensors / grads_io.safetensors
 * (loss = mean(forward(x, t, y)²), gradient w.r.t. every trainable parameter)
 * is differentiated through the compiled path (valueAndGrad lowered to ONNX).
 */
import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { before, describe, it } from "node:test";
import { numpy as np, valueAndGrad, type Array } from "@jax-js/jax";
import { readSafetensors, toFloat32, toInt32 } from "../../src/io/safetensors.js";
import { configFromKwargs } from "../../src/model/config.js";
import { ditForward, type DiTParams } from "../../src/model/dit.js";
import { subtree } from "../../src/io/state-dict.js";
import { timestepFrequencies } from "../../src/model/embeddings.js";
import { loadStateDict } from "../../src/io/state-dict.js";
import { compile } from "../../src/runtime/compile.js";
import { eager } from "../../src/runtime/eager.js";
import { Tensor } from "../../src/runtime/tensor.js";
import { caseSkip, FIXTURE_ROOT, fixtureCases } from "../fixture-root.js";
import { relErr, setupJax } from "../helpers.js";

const FAMILY = "dit-reference/models";
const cases = fixtureCases(FAMILY).filter((c) => existsSync(join(FIXTURE_ROOT, FAMILY, c, "grads.safetensors")));

describe(`model gradient parity: ${FAMILY}/*/grads`, { skip: cases.length === 0 ? `no gradient fixtures under ${join(FIXTURE_ROOT, FAMILY)}` : false }, () => {
  before(setupJax);
  for (const name of cases) {
    for (const backend of ["onnx", "eager"] as const) {
      const dir = join(FIXTURE_ROOT, FAMILY, name);
      it(`${name} (${backend}): loss and every parameter gradient`, { skip: caseSkip(dir, ["config.json", "weights.safetensors", "grads_io.safetensors", "grads.safetensors"]) }, async () => {
        const config = configFromKwargs((JSON.parse(readFileSync(join(dir, "config.json"), "utf8")) as { dit_kwargs: object }).dit_kwargs);
        const weights = loadStateDict(join(dir, "weights.safetensors"));
        const io = readSafetensors(join(dir, "grads_io.safetensors")).tensors;
        const want = readSafetensors(join(dir, "grads.safetensors")).tensors;
        // pos_embed is frozen (requires_grad=False): pass it outside the differentiated tree
        const pos = weights.get("pos_embed")!;
        weights.delete("pos_embed");
        const params = subtree(weights, "");
        const loss = (p: Omit<DiTParams, "pos_embed">, posEmbed: Array, x: Array, t: Array, y: Array, f: Array) => {
          const out = ditForward(config, { ...p, pos_embed: posEmbed } as DiTParams, x, t, y, f);
          return np.mean(out.ref.mul(out));
        };
        const step = (backend === "onnx" ? compile : eager)(valueAndGrad(loss) as never);
        const x = new Tensor(toFloat32(io.get("input.x")!.data), io.get("input.x")!.shape);
        const t = new Tensor(toFloat32(io.get("input.t")!.data), io.get("input.t")!.shape);
        const y = new Tensor(toInt32(io.get("input.y")!.data), io.get("input.y")!.shape);
        const freqs = new Tensor(timestepFrequencies(), [128]);
        const [value, grads] = (await step(params, pos, x, t, y, freqs)) as unknown as [Tensor, Record<string, unknown>];
        const bound = backend === "onnx" ? 1e-5 : 1e-4;
        const lossWant = toFloat32((io.get("loss") ?? want.get("__loss__"))!.data);
        const lossErr = relErr([value.data[0]!], [lossWant[0]!]);
        assert.ok(lossErr <= bound, `${name}: loss relative error ${lossErr.toExponential(2)}`);
        let compared = 0;
        for (const [k, w] of want) {
          if (k === "__loss__") continue;
          let node: unknown = grads;
          for (const part of k.split(".")) node = (node as Record<string, unknown>)?.[part];
          assert.ok(node instanceof Tensor, `${name}: no gradient for '${k}'`);
          assert.deepEqual(node.shape, w.shape, `${name}: ${k} shape`);
          const err = relErr(node.data as Float32Array, toFloat32(w.data));
          assert.ok(err <= bound, `${name}: grad ${k} relative error ${err.toExponential(2)} > ${bound}`);
          compared++;
        }
        assert.ok(compared > 0);
        await step.dispose();
      });
    }
  }
});
