/** `dit export`: the standalone ONNX graph runs in a plain ONNX Runtime session and matches the fixture. */
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import * as ort from "onnxruntime-node";
import { readSafetensors, toFloat32, toInt32 } from "../../src/io/safetensors.js";
import { configFromKwargs } from "../../src/model/config.js";
import { exportModel } from "../../src/io/export-model.js";
import { loadStateDict } from "../../src/io/state-dict.js";
import { FIXTURE_ROOT, fixtureCases } from "../fixture-root.js";
import { relErr, setupJax } from "../helpers.js";

const FAMILY = "dit-reference/models";
const cases = fixtureCases(FAMILY).filter((c) => c === "tiny_p2" || c === "p4_in16");

describe("ONNX export of a whole model", { skip: cases.length === 0 ? "no model fixtures" : false }, () => {
  const tmp = mkdtempSync(join(tmpdir(), "dit-export-"));
  before(setupJax);
  after(() => rmSync(tmp, { recursive: true, force: true }));
  for (const name of cases) {
    for (const external of [false, true]) {
      it(`${name}${external ? " (external data)" : ""}: exported graph matches out.forward`, async () => {
        const dir = join(FIXTURE_ROOT, FAMILY, name);
        const config = configFromKwargs((JSON.parse(readFileSync(join(dir, "config.json"), "utf8")) as { dit_kwargs: object }).dit_kwargs);
        const io = readSafetensors(join(dir, "io.safetensors")).tensors;
        const x = io.get("input.x")!;
        const path = join(tmp, `${name}${external ? "-ext" : ""}.onnx`);
        const files = await exportModel(config, loadStateDict(join(dir, "weights.safetensors")), path, { batch: x.shape[0]!, externalData: external });
        assert.equal(files.length, external ? 2 : 1);
        assert.equal(existsSync(`${path}.data`), external);
        const session = await ort.InferenceSession.create(path);
        assert.deepEqual([...session.inputNames].sort(), ["t", "x", "y"]);
        const res = await session.run({
          x: new ort.Tensor("float32", toFloat32(x.data), x.shape),
          t: new ort.Tensor("float32", toFloat32(io.get("input.t")!.data), io.get("input.t")!.shape),
          y: new ort.Tensor("int32", toInt32(io.get("input.y")!.data), io.get("input.y")!.shape),
        });
        const out = res.out!;
        assert.deepEqual([...out.dims], io.get("out.forward")!.shape);
        const err = relErr(out.data as Float32Array, toFloat32(io.get("out.forward")!.data));
        assert.ok(err <= 1e-5, `relative error ${err}`);
        await session.release();
      });
    }
  }
});
