/** A tiny DiT and synthetic data set for the training tests (also run as a child process by the SIGKILL test). */
import { validateConfig, type DiTConfig } from "../../src/model/config.js";
import { imageArrayData, type TrainData } from "../../src/train/data.js";
import { Rng } from "../../src/util/rng.js";

export const TINY: DiTConfig = validateConfig({
  inputSize: 4,
  patchSize: 2,
  inChannels: 2,
  hiddenSize: 16,
  depth: 2,
  numHeads: 2,
  mlpRatio: 2,
  classDropoutProb: 0.1,
  numClasses: 3,
  learnSigma: true,
  block: "adaLN-Zero",
});

/** 24 samples of 2×4×4, three classes with different means. */
export function tinyData(poison = false): TrainData {
  const rng = new Rng(7);
  const N = 24;
  const per = 2 * 4 * 4;
  const x = new Float32Array(N * per);
  const y = new Int32Array(N);
  for (let i = 0; i < N; i++) {
    y[i] = i % 3;
    for (let j = 0; j < per; j++) x[i * per + j] = 0.5 * (y[i]! - 1) + 0.3 * rng.normal();
  }
  if (poison) x.fill(NaN);
  return imageArrayData(x, [N, 2, 4, 4], y, 3, "tiny synthetic set");
}
