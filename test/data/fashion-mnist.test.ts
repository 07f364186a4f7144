/** The real Fashion-MNIST from Debian's dataset-fashion-mnist package, when installed (skipped otherwise, with the reason). */
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { FASHION_MNIST_CLASSES, FASHION_MNIST_DIR, openDataset } from "../../src/data/index.js";

const present = existsSync(join(FASHION_MNIST_DIR, "train-images-idx3-ubyte.gz"));
const skip = present ? false : `${FASHION_MNIST_DIR} is absent (apt-get install dataset-fashion-mnist)`;

describe("Fashion-MNIST (dataset-fashion-mnist)", () => {
  it("the default path: 60000 train images padded to 32×32, labels 0..9, 6000 per class", { skip }, () => {
    const ds = openDataset();
    assert.deepEqual(ds.shape, [60000, 1, 32, 32]);
    assert.equal(ds.numClasses, 10);
    assert.deepEqual(ds.classNames, FASHION_MNIST_CLASSES);
    const counts = new Array<number>(10).fill(0);
    for (const l of ds.labels) {
      assert.ok(l >= 0 && l <= 9, `label ${l}`);
      counts[l]!++;
    }
    assert.deepEqual(counts, new Array(10).fill(6000)); // Fashion-MNIST is balanced
    // the first training label is 9 (Ankle boot), as in the dataset's documentation
    assert.equal(ds.labels[0], 9);
    let min = Infinity;
    let max = -Infinity;
    for (const v of ds.images) {
      min = Math.min(min, v);
      max = Math.max(max, v);
    }
    assert.deepEqual([min, max], [-1, 1]);
    // the 2-pixel border is black in every image
    for (let i = 0; i < 60000; i += 997) {
      for (let k = 0; k < 32; k++) {
        for (const [y, x] of [[0, k], [1, k], [30, k], [31, k], [k, 0], [k, 1], [k, 30], [k, 31]] as const) assert.equal(ds.images[(i * 32 + y) * 32 + x], -1);
      }
    }
  });

  it("the test split: 10000 images", { skip }, () => {
    const ds = openDataset(FASHION_MNIST_DIR, { split: "test" });
    assert.deepEqual(ds.shape, [10000, 1, 32, 32]);
    assert.match(ds.description, /Fashion-MNIST IDX \(test split\): 10000 grey images 28×28 → padded to 32×32/);
  });
});
