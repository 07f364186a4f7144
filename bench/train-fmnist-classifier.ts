/**
 * Train the Fashion-MNIST evaluation classifier (src/eval/fmnist-classifier.ts),
 * report its accuracy on all 10000 test images and save
 * `<out>/classifier.safetensors` (weights + metadata) atomically.
 *
 *   node --import tsx bench/train-fmnist-classifier.ts --out models/fmnist-classifier/
 */
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { openDataset, FASHION_MNIST_DIR } from "../src/data/dataset.js";
import { classify, classifierAccuracy, FMNIST_CLASSIFIER_ARCH, saveFmnistClassifier, trainFmnistClassifier } from "../src/eval/fmnist-classifier.js";

const HELP = `usage: node --import tsx bench/train-fmnist-classifier.ts [options]
  --out DIR      where classifier.safetensors goes (default models/fmnist-classifier/)
  --data DIR     Fashion-MNIST IDX folder (default ${FASHION_MNIST_DIR})
  --steps N      training steps (default 9000, as the shipped weights)
  --batch N      batch size (default 128)
  --lr X         peak Adam learning rate, cosine-decayed (default 1e-3)
  --seed N       seed for init, batch order and flips (default 0)
  --no-save      train and evaluate only
  -h, --help     this text`;

const { values } = parseArgs({
  options: {
    out: { type: "string", default: "models/fmnist-classifier/" },
    data: { type: "string", default: FASHION_MNIST_DIR },
    steps: { type: "string", default: "9000" },
    batch: { type: "string", default: "128" },
    lr: { type: "string", default: "1e-3" },
    seed: { type: "string", default: "0" },
    "no-save": { type: "boolean", default: false },
    help: { type: "boolean", short: "h", default: false },
  },
});
if (values.help) {
  console.log(HELP);
  process.exit(0);
}
const num = (name: string, v: string, int: boolean): number => {
  const x = Number(v);
  if (!Number.isFinite(x) || (int && !Number.isInteger(x)) || x < 0) throw new Error(`--${name}: expected a ${int ? "non-negative integer" : "number"}, got '${v}'`);
  return x;
};
const steps = num("steps", values.steps, true);
const batch = num("batch", values.batch, true);
const lr = num("lr", values.lr, false);
const seed = num("seed", values.seed, true);

const train = openDataset(values.data, { split: "train" });
const test = openDataset(values.data, { split: "test" });
console.log(`train: ${train.description}\ntest: ${test.description}`);
const t0 = performance.now();
let last = t0;
const weights = await trainFmnistClassifier({
  images: train.images,
  labels: train.labels,
  steps,
  batch,
  lr,
  seed,
  onStep: (s, loss) => {
    const now = performance.now();
    if (s % 100 === 0 || s === 1 || s === steps) {
      console.log(`step ${s}/${steps} loss ${loss.toFixed(4)} (${((now - t0) / 1000).toFixed(1)} s, last ${((now - last) / 1000).toFixed(3)} s/step)`);
    }
    last = now;
  },
});
const trainSeconds = (performance.now() - t0) / 1000;
const { logits } = await classify(weights, test.images, test.labels.length);
const acc = classifierAccuracy(logits, test.labels);
console.log(`trained ${steps} steps × batch ${batch} in ${trainSeconds.toFixed(1)} s`);
console.log(`test accuracy (${test.labels.length} images): ${(acc.accuracy * 100).toFixed(2)} %`);
console.log(`per class: ${acc.perClass.map((a) => (a * 100).toFixed(1)).join(" ")}`);
if (!values["no-save"]) {
  mkdirSync(values.out, { recursive: true });
  const path = join(values.out, "classifier.safetensors");
  saveFmnistClassifier(path, weights, {
    architecture: FMNIST_CLASSIFIER_ARCH,
    steps: String(steps),
    batch: String(batch),
    lr: String(lr),
    lr_schedule: "cosine to 0",
    augmentation: "random horizontal flip",
    seed: String(seed),
    test_accuracy: acc.accuracy.toFixed(4),
    test_images: String(test.labels.length),
    train_seconds: trainSeconds.toFixed(1),
  });
  console.log(`saved ${path}`);
}
