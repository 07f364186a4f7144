/**
 * Fuzz target: raw IDX files (MNIST / Fashion-MNIST images and labels) read by src/data/idx.ts;
 * seeds and lies in ../idx-seeds.ts.
 */
import { idxLie, idxSeeds, loadIdx } from "../idx-seeds.js";
import type { FuzzTarget } from "../target.js";

const target: FuzzTarget = {
  format: "idx",
  ext: "-ubyte",
  seeds: idxSeeds,
  lie: idxLie,
  load: loadIdx,
};

export default target;
