/**
 * `dit export`: the standalone ONNX graph runs in a plain ONNX Runtime session
 * and matches the fixture. Data-driven over every model case of the fixture
 * root (dit-reference/models/<case>/), each exported with the weights inline,
 * as external data, and for the browser (`web`: tanh-GELU and sin/cos spelled
 * out as plain ops); a case lacking one of its files is skipped by name.
 */
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import * as ort from "onnxruntime-node";
import onnxProto from "onnx-proto";
import { readSafetensors, toFloat32, toInt32 } from "../../src/io/safetensors.js";
import { configFromKwargs } from "../../src/model/config.js";
import { exportModel } from "../../src/io/export-model.js";
import { loadStateDict } from "../../src/io/state-dict.js";
import { FIXTURE_ROOT, fixtureCases, fixtureSkip } from "../fixture-root.js";
import { relErr, setupJax } from "../helpers.js";

const { onnx } = onnxProto;
const FAMILY = "dit-reference/models";
const cases = fixtureCases(FAMILY);
const FILES = ["config.json", "weights.safetensors", "io.safetensors"];

describe(`ONNX export of a whole model: ${FAMILY}`, () => {
  if (cases.length === 0) {
    it(`${FAMILY}: absent under ${FIXTURE_ROOT}`, { skip: `no model cases under ${join(FIXTURE_ROOT, FAMILY)}` }, () => undefined);
    return;
  }
  const tmp = mkdtempSync(join(tmpdir(), "dit-export-"));
  before(setupJax);
  after(() => rmSync(tmp, { recursive: true, force: true }));
  for (const name of cases) {
    const skip = fixtureSkip(...FILES.map((f) => `${FAMILY}/${name}/${f}`));
    for (const [external, web] of [[false, false], [true, false], [false, true]] as const) {
      it(`${name}${external ? " (external data)" : ""}${web ? " (web)" : ""}: exported graph matches out.forward`, { skip }, async () => {
        const dir = join(FIXTURE_ROOT, FAMILY, name);
        const config = configFromKwargs((JSON.parse(readFileSync(join(dir, "config.json"), "utf8")) as { dit_kwargs: object }).dit_kwargs);
        const tensors = readSafetensors(join(dir, "io.safetensors")).tensors;
        const io = { get: (k: string) => tensors.get(k) ?? assert.fail(`${name}: io.safetensors lacks '${k}'`) };
        const x = io.get("input.x");
        const path = join(tmp, `${name}${external ? "-ext" : ""}${web ? "-web" : ""}.onnx`);
        const files = await exportModel(config, loadStateDict(join(dir, "weights.safetensors")), path, { batch: x.shape[0]!, externalData: external, web });
        const ops = onnx.ModelProto.decode(readFileSync(path)).graph!.node!.map((n) => n.opType ?? "");
        if (web) assert.ok(!ops.some((o) => o === "Gelu" || o === "Sin" || o === "Cos"), `${name} (web): Gelu/Sin/Cos left: ${ops.join(" ")}`);
        else assert.ok(ops.includes("Gelu") && ops.includes("Sin"), `${name}: the plain export has Gelu and Sin nodes (so the web check above means something)`);
        assert.equal(files.length, external ? 2 : 1);
        assert.equal(existsSync(`${path}.data`), external);
        const session = await ort.InferenceSession.create(path);
        assert.deepEqual([...session.inputNames].sort(), ["t", "x", "y"]);
        const res = await session.run({
          x: new ort.Tensor("float32", toFloat32(x.data), x.shape),
          t: new ort.Tensor("float32", toFloat32(io.get("input.t").data), io.get("input.t").shape),
          y: new ort.Tensor("int32", toInt32(io.get("input.y").data), io.get("input.y").shape),
        });
        const out = res.out!;
        assert.deepEqual([...out.dims], io.get("out.forward").shape);
        const err = relErr(out.data as Float32Array, toFloat32(io.get("out.forward").data));
        assert.ok(err <= 1e-5, `${name}: relative error ${err}`);
        await session.release();
      });
    }
  }
});
