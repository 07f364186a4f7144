/**
 * The page's check of a user's `dit export` graph (web/src/graph-check.ts),
 * on the metadata ONNX Runtime reports for real exported graphs of tiny DiTs
 * (whole-model lowering, as `dit export`), and on hand-made metadata for what
 * the exporter never writes.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import * as ort from "onnxruntime-node";
import type { DiTConfig } from "../../src/model/config.js";
import { initParams } from "../../src/model/params.js";
import { lowerWholeModel } from "../../src/model/runner.js";
import { checkDiTGraph, ModelError, type IoMeta } from "../../web/src/graph-check.js";
import { setupJax } from "../helpers.js";

/** The bundled model's VAE: 4 latent channels, 8×8 latents. */
const VAE = { latentChannels: 4, latentSize: 8 };

const BASE: DiTConfig = { inputSize: 8, patchSize: 4, inChannels: 4, hiddenSize: 16, depth: 1, numHeads: 2, mlpRatio: 2, classDropoutProb: 0.1, numClasses: 10, learnSigma: true, block: "adaLN-Zero" };

/** The metadata ONNX Runtime gives for a tiny DiT exported at `batch`. */
async function exportedMeta(over: Partial<DiTConfig>, batch: number): Promise<{ inputs: IoMeta[]; outputs: IoMeta[] }> {
  const c = { ...BASE, ...over };
  const graph = await lowerWholeModel(c, initParams(c, 0), batch);
  const s = await ort.InferenceSession.create(graph.encode());
  const meta = (ms: readonly ort.InferenceSession.ValueMetadata[]) => ms.map((m) => ({ name: m.name, isTensor: m.isTensor, type: m.isTensor ? m.type : undefined, shape: m.isTensor ? [...m.shape] : undefined }));
  const r = { inputs: meta(s.inputMetadata), outputs: meta(s.outputMetadata) };
  await s.release();
  return r;
}

const REFUSED: { name: string; over: Partial<DiTConfig>; message: RegExp }[] = [
  { name: "16×16 latents for an 8×8 VAE", over: { inputSize: 16 }, message: /latents are 16×16, the VAE's are 8×8/ },
  { name: "3 latent channels for a 4-channel VAE", over: { inChannels: 3 }, message: /takes 3 latent channels, the VAE makes 4/ },
  { name: "no learned sigma (out has C channels)", over: { learnSigma: false }, message: /learn_sigma model/ },
];

describe("checkDiTGraph on exported graphs", () => {
  it("accepts the bundled geometry at any batch (batch and conditioning read from the graph)", async () => {
    await setupJax();
    const { inputs, outputs } = await exportedMeta({}, 3);
    assert.deepEqual(checkDiTGraph(inputs, outputs, VAE), { batch: 3, inChannels: 4, inputSize: 8, outChannels: 8, conditional: true });
  });

  it("accepts an unconditional model (no y input)", async () => {
    const { inputs, outputs } = await exportedMeta({ numClasses: 1, classDropoutProb: 0 }, 1);
    assert.deepEqual(inputs.map((m) => m.name), ["x", "t"]);
    assert.equal(checkDiTGraph(inputs, outputs, VAE).conditional, false);
  });

  for (const c of REFUSED) {
    it(`refuses ${c.name}, naming the graph's inputs and outputs`, async () => {
      const { inputs, outputs } = await exportedMeta(c.over, 1);
      assert.throws(() => checkDiTGraph(inputs, outputs, VAE), (e: unknown) => e instanceof ModelError && c.message.test(e.message) && /this graph has inputs x: float32\[1, /.test(e.message));
    });
  }
});

describe("checkDiTGraph on graphs the exporter does not write", () => {
  const x: IoMeta = { name: "x", isTensor: true, type: "float32", shape: [2, 4, 8, 8] };
  const t: IoMeta = { name: "t", isTensor: true, type: "float32", shape: [2] };
  const y: IoMeta = { name: "y", isTensor: true, type: "int32", shape: [2] };
  const out: IoMeta = { name: "out", isTensor: true, type: "float32", shape: [2, 8, 8, 8] };
  const cases: { name: string; inputs: IoMeta[]; outputs: IoMeta[]; message: RegExp }[] = [
    { name: "a symbolic batch", inputs: [{ ...x, shape: ["N", 4, 8, 8] }, t, y], outputs: [out], message: /symbolic dimension 'N'.*--batch-size/ },
    { name: "another output name", inputs: [x, t, y], outputs: [{ ...out, name: "logits" }], message: /output is named logits, not out/ },
    { name: "an extra input", inputs: [x, t, y, { ...t, name: "cfg_scale" }], outputs: [out], message: /unexpected input cfg_scale/ },
    { name: "no t", inputs: [x, y], outputs: [out], message: /no input named t/ },
    { name: "int64 labels", inputs: [x, t, { ...y, type: "int64" }], outputs: [out], message: /y must be int32 \(2\)/ },
    { name: "x of rank 3", inputs: [{ ...x, shape: [2, 4, 64] }, t, y], outputs: [out], message: /x has rank 3, expected 4/ },
  ];
  for (const c of cases) {
    it(`refuses ${c.name}`, () => {
      assert.throws(() => checkDiTGraph(c.inputs, c.outputs, VAE), (e: unknown) => e instanceof ModelError && c.message.test(e.message));
    });
  }
  it("accepts the same metadata when nothing is changed (the cases above differ in one thing each)", () => {
    assert.equal(checkDiTGraph([x, t, y], [out], VAE).batch, 2);
  });
});
