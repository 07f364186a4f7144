import { strict as assert } from "node:assert";
import { existsSync } from "node:fs";
import { test } from "node:test";
import { FASHION_MNIST_DIR, openDataset } from "../../src/data/dataset.js";
import { classifierAccuracy, classify, FMNIST_CLASSIFIER_PATH, loadFmnistClassifier, predictedClasses } from "../../src/eval/fmnist-classifier.js";

test("classifierAccuracy counts argmax hits overall and per class", () => {
  const logits = new Float32Array(3 * 10);
  logits[0 * 10 + 2] = 1; // predicts 2, label 2
  logits[1 * 10 + 5] = 1; // predicts 5, label 2
  logits[2 * 10 + 9] = 3; // predicts 9, label 9
  assert.deepEqual([...predictedClasses(logits)], [2, 5, 9]);
  const acc = classifierAccuracy(logits, [2, 2, 9]);
  assert.equal(acc.accuracy, 2 / 3);
  assert.equal(acc.perClass[2], 0.5);
  assert.equal(acc.perClass[9], 1);
  assert.equal(acc.counts[2], 2);
  assert.throws(() => classifierAccuracy(logits, [2, 2]), /3 labels|2 labels need 20 logits/);
});

test("shipped classifier: logits/features shapes", { skip: existsSync(FMNIST_CLASSIFIER_PATH) ? false : `no weights at ${FMNIST_CLASSIFIER_PATH}` }, async () => {
  const clf = loadFmnistClassifier();
  const n = 3;
  const x = new Float32Array(n * 32 * 32).fill(-1);
  const out = await classify(clf, x, n, { batch: 2 });
  assert.equal(out.logits.length, n * 10);
  assert.equal(out.features.length, n * 128);
  assert.ok(out.logits.every(Number.isFinite));
  assert.ok(out.features.every((v) => v >= 0), "features are ReLU outputs");
  // identical inputs (across the padded last batch) give identical outputs
  assert.deepEqual([...out.logits.subarray(0, 10)], [...out.logits.subarray(20, 30)]);
  await assert.rejects(classify(clf, x, n + 1), /expected 4 images/);
});

const haveData = existsSync(FASHION_MNIST_DIR);
// The shipped weights reach 91.47 % on all 10000 test images (below the 92 % target) and
// 92.8 % on the first 1000; this guards against a regression, not the target.
test("shipped classifier: accuracy ≥ 0.91 on the first 1000 test images", { skip: !existsSync(FMNIST_CLASSIFIER_PATH) ? `no weights at ${FMNIST_CLASSIFIER_PATH}` : !haveData ? `no Fashion-MNIST at ${FASHION_MNIST_DIR}` : false }, async () => {
  const ds = openDataset(FASHION_MNIST_DIR, { split: "test" });
  const n = 1000;
  const { logits } = await classify(loadFmnistClassifier(), ds.images.subarray(0, n * 32 * 32), n);
  const acc = classifierAccuracy(logits, ds.labels.subarray(0, n));
  assert.ok(acc.accuracy >= 0.91, `accuracy ${acc.accuracy}`);
});
