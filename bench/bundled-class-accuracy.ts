/**
 * Class accuracy of the bundled Fashion-MNIST DiT: sample `--per-class` images
 * of each class with the default sampling settings, classify them with the
 * shipped Fashion-MNIST classifier and print the fraction classified as the
 * class they were sampled for, overall and per class.
 *
 *   node --import tsx bench/bundled-class-accuracy.ts
 */
import { parseArgs } from "node:util";
import { FASHION_MNIST_CLASSES } from "../src/data/dataset.js";
import { classify, classifierAccuracy, FMNIST_CLASSIFIER_PATH, loadFmnistClassifier } from "../src/eval/fmnist-classifier.js";
import { BUNDLED_MODEL_DIR } from "../src/sample/model-source.js";
import { sample } from "../src/sample/sample.js";

const HELP = `usage: node --import tsx bench/bundled-class-accuracy.ts [options]
  --per-class N    samples per class (default 20)
  --seed N         sampling seed (default: sample()'s default)
  --classifier P   classifier weights (default ${FMNIST_CLASSIFIER_PATH})
  -h, --help       this text`;

const { values } = parseArgs({
  options: {
    "per-class": { type: "string", default: "20" },
    seed: { type: "string" },
    classifier: { type: "string", default: FMNIST_CLASSIFIER_PATH },
    help: { type: "boolean", short: "h", default: false },
  },
});
if (values.help) {
  console.log(HELP);
  process.exit(0);
}
const perClass = Number(values["per-class"]);
if (!Number.isInteger(perClass) || perClass < 1) throw new Error(`--per-class: expected a positive integer, got '${values["per-class"]}'`);
const seed = values.seed === undefined ? undefined : Number(values.seed);
if (seed !== undefined && !Number.isInteger(seed)) throw new Error(`--seed: expected an integer, got '${values.seed}'`);

const clf = loadFmnistClassifier(values.classifier);
const classes = [...Array(10).keys()];
const t0 = performance.now();
const res = await sample({ model: BUNDLED_MODEL_DIR, classes, numSamples: 10 * perClass, ...(seed === undefined ? {} : { seed }) });
const [n, h, w, c] = res.shape;
if (h !== 32 || w !== 32 || c !== 1) throw new Error(`expected (N, 32, 32, 1) samples, got (${res.shape.join(", ")})`);
const x = new Float32Array(n * h * w);
for (let i = 0; i < x.length; i++) x[i] = res.images[i]! / 127.5 - 1; // NHWC with C = 1 is NCHW
const { logits } = await classify(clf, x, n);
const acc = classifierAccuracy(logits, res.labels);
console.log(`bundled DiT (${BUNDLED_MODEL_DIR}): ${n} samples, sampler ${res.sampler} ${res.steps} steps, cfg ${res.cfgScale}, seed ${res.seed} (${((performance.now() - t0) / 1000).toFixed(1)} s)`);
console.log(`classifier: ${values.classifier} (test accuracy ${clf.metadata.test_accuracy ?? "?"})`);
console.log(`class accuracy: ${(acc.accuracy * 100).toFixed(1)} % (${Math.round(acc.accuracy * n)}/${n})`);
for (let k = 0; k < 10; k++) console.log(`  ${String(k)} ${FASHION_MNIST_CLASSES[k]!.padEnd(12)} ${(acc.perClass[k]! * 100).toFixed(1).padStart(5)} % (${Math.round(acc.perClass[k]! * acc.counts[k]!)}/${acc.counts[k]})`);
