/** The fmnist FeatureNetwork: agrees with classify on real images; grey / RGB / 28 / 32 handling; errors. */
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { after, describe, it } from "node:test";
import { FASHION_MNIST_DIR } from "../../src/data/dataset.js";
import { readIdxImageFile, readIdxLabelFile } from "../../src/data/idx.js";
import { toChannels } from "../../src/data/image.js";
import { EvalInputError } from "../../src/eval/errors.js";
import { classify, FMNIST_CLASSIFIER_PATH, loadFmnistClassifier } from "../../src/eval/fmnist-classifier.js";
import { fmnistInput, loadFmnistNetwork } from "../../src/eval/fmnist-network.js";
import { weightsKey } from "../../src/io/weights-key.js";
import { openFeatureNetwork } from "../../src/eval/networks.js";
import { randomImages } from "./stub-network.js";

const skip = !existsSync(FMNIST_CLASSIFIER_PATH) ? `no weights at ${FMNIST_CLASSIFIER_PATH}` : !existsSync(FASHION_MNIST_DIR) ? `no Fashion-MNIST at ${FASHION_MNIST_DIR}` : false;

describe("fmnist feature network", { skip }, () => {
  const n = 6;
  const raw = skip ? undefined : readIdxImageFile(`${FASHION_MNIST_DIR}/t10k-images-idx3-ubyte.gz`);
  const images28 = raw ? raw.pixels.subarray(0, n * 28 * 28) : new Uint8Array(0); // (n, 28, 28), = (n, 28, 28, 1)
  const net = skip ? undefined : loadFmnistNetwork();
  after(() => net?.dispose());

  /** The classifier's own input, built here: 28×28 on a black 32×32 canvas at offset 2, v / 255 · 2 − 1. */
  function padded(): Float32Array {
    const x = new Float32Array(n * 32 * 32).fill(-1);
    for (let i = 0; i < n; i++) for (let y = 0; y < 28; y++) for (let c = 0; c < 28; c++) x[i * 1024 + (y + 2) * 32 + c + 2] = (images28[i * 784 + y * 28 + c]! / 255) * 2 - 1;
    return x;
  }

  it("name, dims, weightsKey = the weights file's tensor key (io/weights-key.ts)", () => {
    assert.equal(net!.name, "fmnist");
    assert.equal(net!.featureDim, 128);
    assert.equal(net!.spatialDim, null);
    assert.equal(net!.numClasses, 10);
    assert.equal(net!.weightsKey, weightsKey(FMNIST_CLASSIFIER_PATH));
  });

  it("on real test images: logits and features equal classify's; predictions match the labels mostly", async () => {
    const want = await classify(loadFmnistClassifier(), padded(), n);
    const got = await net!.extract(images28, [n, 28, 28, 1], { batch: 4 });
    assert.deepEqual([...got.logits], [...want.logits]);
    assert.deepEqual([...got.features], [...want.features]);
    const labels = readIdxLabelFile(`${FASHION_MNIST_DIR}/t10k-labels-idx1-ubyte.gz`).subarray(0, n);
    let hits = 0;
    for (let i = 0; i < n; i++) {
      const row = [...got.logits.subarray(i * 10, i * 10 + 10)];
      if (row.indexOf(Math.max(...row)) === labels[i]) hits++;
    }
    assert.ok(hits >= n - 1, `${hits}/${n} correct`);
  });

  it("28 px grey, 32 px padded grey and RGB with equal channels give the same features", async () => {
    const a = await net!.extract(images28, [n, 28, 28, 1]);
    const x32 = new Uint8Array(n * 32 * 32);
    for (let i = 0; i < n; i++) for (let y = 0; y < 28; y++) for (let c = 0; c < 28; c++) x32[i * 1024 + (y + 2) * 32 + c + 2] = images28[i * 784 + y * 28 + c]!;
    const b = await net!.extract(x32, [n, 32, 32, 1]);
    const rgb = new Uint8Array(n * 32 * 32 * 3);
    for (let p = 0; p < n * 1024; p++) rgb.fill(x32[p]!, p * 3, p * 3 + 3);
    const c = await net!.extract(rgb, [n, 32, 32, 3]);
    assert.deepEqual([...b.features], [...a.features]);
    assert.deepEqual([...c.features], [...a.features]);
    assert.deepEqual([...c.logits], [...a.logits]);
  });

  it("the registry opens it by name", async () => {
    const byName = await openFeatureNetwork("fmnist");
    assert.equal(byName.weightsKey, net!.weightsKey);
    await byName.dispose();
    await assert.rejects(openFeatureNetwork("vgg"), (e: Error) => e instanceof EvalInputError && /unknown feature network 'vgg'; expected one of fmnist, inception/.test(e.message));
  });
});

describe("fmnist input preprocessing", () => {
  it("colour RGB becomes grey by ITU-R 601 luma (as the data layer's toChannels)", () => {
    const rgb = randomImages(1, 32, 32, 3, 9); // (1, 32, 32, 3), channels differ
    const planar = new Uint8Array(3 * 1024);
    for (let p = 0; p < 1024; p++) for (let ch = 0; ch < 3; ch++) planar[ch * 1024 + p] = rgb[p * 3 + ch]!;
    const grey = toChannels({ channels: 3, height: 32, width: 32, data: planar }, 1).data;
    const x = fmnistInput(rgb, [1, 32, 32, 3]);
    for (let p = 0; p < 1024; p++) assert.equal(x[p], Math.fround((grey[p]! / 255) * 2 - 1), `pixel ${p}`);
  });

  it("refuses other sizes and channel counts, saying what it expects", () => {
    const bad = (shape: [number, number, number, number], re: RegExp) =>
      assert.throws(() => fmnistInput(new Uint8Array(shape.reduce((a, b) => a * b, 1)), shape), (e: Error) => e instanceof EvalInputError && re.test(e.message));
    bad([1, 30, 30, 1], /expected 28×28 or 32×32 images.*got 30×30/);
    bad([1, 64, 64, 3], /got 64×64; use --net inception/);
    bad([1, 32, 28, 1], /got 32×28/);
    bad([1, 32, 32, 2], /expected 1 \(grey\) or 3 \(RGB\) channels, got 2/);
    assert.throws(() => fmnistInput(new Uint8Array(10), [1, 32, 32, 1]), /needs 1024 bytes, got 10/);
  });
});
