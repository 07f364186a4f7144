/**
 * The studies' training data: the bundled VAE's latents of Fashion-MNIST's
 * train split, extracted once into the work folder (resumable) and shared
 * by every run and study that uses the same data settings.
 */
import { createHash } from "node:crypto";
import { mkdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { FASHION_MNIST_DIR, openImageSource, type ImageSource } from "../data/dataset.js";
import { extractLatents } from "../data/latents.js";
import { StudyError } from "./errors.js";
import type { StudyData } from "./settings.js";

/** An absolute path of a file that ships with the package (e.g. the bundled VAE), from its path relative to the package root. */
export function packagePath(rel: string): string {
  return fileURLToPath(new URL(`../../${rel}`, import.meta.url)); // src/study and dist/study both sit two levels below the root
}

/** The first n images of a source (same order, labels and preprocessing). */
export function firstImages(src: ImageSource, n: number): ImageSource {
  if (!Number.isInteger(n) || n < 1 || n > src.numImages) throw new StudyError(`data.images must be an integer in 1..${src.numImages}, got ${n}`);
  if (n === src.numImages) return src;
  const fingerprint = createHash("sha256").update(`${src.fingerprint}:first ${n}`).digest("hex");
  return {
    numImages: n,
    imageShape: src.imageShape,
    labels: src.labels.subarray(0, n),
    numClasses: src.numClasses,
    classNames: src.classNames,
    source: src.source,
    description: `the first ${n} images of ${src.description}`,
    fingerprint,
    getImage: (i: number) => {
      if (i < 0 || i >= n) throw new RangeError(`image ${i} is outside the first ${n}`);
      return src.getImage(i);
    },
  };
}

/** Where the latent file of these data settings lives in a work folder. */
export function latentPath(work: string, d: StudyData): string {
  return join(work, "latents", `${d.dataset}-${d.split}-${d.images ?? "all"}.latents`);
}

/**
 * Extract the latents once (resuming an interrupted extraction; returning at
 * once when the file is done) and return the file's path.
 */
export async function prepareLatents(work: string, d: StudyData, opts: { datasetDir?: string; onProgress?: (done: number, total: number) => void; signal?: AbortSignal } = {}): Promise<string> {
  const out = latentPath(work, d);
  mkdirSync(dirname(out), { recursive: true });
  const full = openImageSource(opts.datasetDir ?? FASHION_MNIST_DIR, { split: d.split, imageSize: 32, classNames: "fashion-mnist" });
  const src = d.images === null ? full : firstImages(full, d.images);
  const r = await extractLatents({ dataset: src, vae: packagePath(d.vae), out, batchSize: 64, onProgress: opts.onProgress, signal: opts.signal });
  if (!r.complete) throw new StudyError(`latent extraction stopped at ${r.resumedFrom} of ${r.count} images; the same command resumes it`);
  return out;
}
