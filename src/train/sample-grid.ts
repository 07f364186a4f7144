/**
 * The EMA sample grid written while training (`--sample-every K`): the same
 * classes and the same noise every time (fixed seed), so grids of one run
 * compare over time. Rows are classes (up to 10), columns samples.
 */
import { writeFileAtomic } from "../io/atomic-file.js";
import type { StateDict } from "../io/state-dict-tree.js";
import type { DiTConfig } from "../model/config.js";
import { encodePng, gridImage, gridLayout } from "../sample/png.js";
import { sample } from "../sample/sample.js";

export interface GridOptions {
  config: DiTConfig;
  classNames?: string[];
  /** A VAE folder or file, or "none" (pixel space). */
  vae: string;
  /** Samples per class (default 4). */
  perClass?: number;
  seed?: number;
  /** DPM-Solver++ steps (default 25). */
  steps?: number;
  cfgScale?: number;
}

/** Sample the EMA weights and write the grid to `path` (PNG, atomically). */
export async function writeSampleGrid(ema: StateDict, path: string, o: GridOptions): Promise<void> {
  const conditional = o.config.numClasses > 1;
  const classes = conditional ? Array.from({ length: Math.min(10, o.config.numClasses) }, (_, i) => i) : undefined;
  const perClass = o.perClass ?? 4;
  const res = await sample({
    model: { config: o.config, weights: ema, classNames: o.classNames },
    vae: o.vae,
    classes,
    numSamples: (classes?.length ?? 4) * perClass,
    sampler: "dpm++",
    numSamplingSteps: o.steps ?? 25,
    cfgScale: conditional ? (o.cfgScale ?? 4) : 1,
    seed: o.seed ?? 0,
  });
  const g = gridImage(res.images, res.shape, gridLayout(res.shape[0], res.classes));
  writeFileAtomic(path, encodePng(g.pixels, g.height, g.width, res.shape[3]));
}
