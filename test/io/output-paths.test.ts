/**
 * Writers create missing parent folders of an output path (users pass
 * `--out new/dir/model.onnx`), write atomically, and leave no temp files.
 * Regression test: `dit export --out out/new/model.onnx` failed with ENOENT on its temp file.
 */
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { readSafetensors, writeSafetensors } from "../../src/io/safetensors.js";
import { Graph } from "../../src/runtime/onnx-graph.js";
import { saveOnnx } from "../../src/io/onnx-file.js";

const tmp = mkdtempSync(join(tmpdir(), "dit-out-paths-"));
after(() => rmSync(tmp, { recursive: true, force: true }));

describe("output paths", () => {
  it("writeSafetensors creates missing folders", () => {
    const path = join(tmp, "a", "b", "w.safetensors");
    writeSafetensors(path, { w: { shape: [2], data: Float32Array.of(1, 2) } });
    assert.deepEqual([...(readSafetensors(path).tensors.get("w")!.data as Float32Array)], [1, 2]);
    assert.deepEqual(readdirSync(join(tmp, "a", "b")), ["w.safetensors"]);
  });

  it("saveOnnx creates missing folders (inline and external data)", () => {
    for (const external of [false, true]) {
      const g = new Graph();
      g.inputs.push({ name: "x", dtype: "float32", shape: [4] });
      const w = g.addInitializer("w", "float32", [4], Float32Array.of(1, 2, 3, 4));
      g.outputs.push({ name: g.op("Add", ["x", w]), dtype: "float32", shape: [4] });
      const path = join(tmp, `c${external ? "ext" : "in"}`, "d", "m.onnx");
      const files = saveOnnx(g, path, { externalData: external, minExternalBytes: 1 });
      for (const f of files) assert.ok(existsSync(f), f);
      assert.deepEqual(readdirSync(join(tmp, `c${external ? "ext" : "in"}`, "d")).sort(), external ? ["m.onnx", "m.onnx.data"] : ["m.onnx"]);
    }
  });
});
