/**
 * Writing a sampling run to disk: the grid PNG, one PNG per image
 * (`000000.png`, as sample_ddp.py) and optionally the ADM evaluation `.npz`.
 * (Sharded sets are written image by image by shard.ts and merged by merge.ts.)
 * Every file is written atomically (temp file, fsync, rename). A manifest
 * (`.dit-sample.json`) records what a run wrote, so the next run into the same
 * folder removes exactly those files and nothing else.
 */
import { existsSync, mkdirSync, readFileSync, rmSync } from "node:fs";
import { writeFileAtomic } from "../io/atomic-file.js";
import { basename, join, resolve } from "node:path";
import { writeNpz } from "../io/npz.js";
import { encodePng, gridImage, gridLayout } from "./png.js";
import { toRgb } from "./pixels.js";
import type { SampleResult } from "./sample.js";

export const MANIFEST = ".dit-sample.json";

export interface WrittenOutputs {
  dir: string;
  grid: string;
  images: string[];
  npz?: string;
  /** Files of an earlier run that were removed. */
  removed: string[];
}


/** Files listed by the previous run's manifest in `dir` (plain names inside `dir` only). */
function previousOutputs(dir: string): string[] {
  const m = join(dir, MANIFEST);
  if (!existsSync(m)) return [];
  try {
    const files = (JSON.parse(readFileSync(m, "utf8")) as { files?: unknown }).files;
    if (!Array.isArray(files)) return [];
    return files.filter((f): f is string => typeof f === "string" && f === basename(f) && f !== "" && f !== "." && f !== "..");
  } catch {
    return []; // an unreadable manifest: remove nothing
  }
}

/**
 * Write a result into `dir`: first remove what the previous run recorded in
 * the manifest, then the images, the grid (`grid.png`), the manifest; and the
 * `.npz` (`arr_0`: N×H×W×3 uint8, grayscale replicated; `arr_1`: N int32
 * labels) when `npz` is given.
 */
export function writeSampleOutputs(result: SampleResult, dir: string, opts: { npz?: string } = {}): WrittenOutputs {
  const out = resolve(dir);
  mkdirSync(out, { recursive: true });
  const removed: string[] = [];
  for (const f of previousOutputs(out)) {
    const p = join(out, f);
    if (existsSync(p)) {
      rmSync(p, { force: true });
      removed.push(p);
    }
  }
  const [N, H, W, C] = result.shape;
  const names: string[] = [];
  for (let i = 0; i < N; i++) {
    const name = `${String(i).padStart(6, "0")}.png`;
    writeFileAtomic(join(out, name), encodePng(result.images.subarray(i * H * W * C, (i + 1) * H * W * C), H, W, C));
    names.push(name);
  }
  const g = gridImage(result.images, result.shape, gridLayout(N, result.classes));
  writeFileAtomic(join(out, "grid.png"), encodePng(g.pixels, g.height, g.width, C));
  names.push("grid.png");
  const labels = Array.from(result.labels);
  writeFileAtomic(
    join(out, MANIFEST),
    JSON.stringify({ files: names, labels, classes: result.classes ?? null, sampler: result.sampler, steps: result.steps, cfg_scale: result.cfgScale, seed: result.seed }, null, 1) + "\n",
  );
  let npz: string | undefined;
  if (opts.npz) {
    npz = resolve(opts.npz);
    // arr_1: the labels, as ADM's sampler writes them for class-conditional models (mergeShards writes the same bytes)
    writeNpz(npz, { arr_0: { dtype: "uint8", shape: [N, H, W, 3], data: toRgb(result.images, result.shape) }, arr_1: { dtype: "int32", shape: [N], data: Int32Array.from(result.labels) } });
  }
  return { dir: out, grid: join(out, "grid.png"), images: names.slice(0, N).map((n) => join(out, n)), npz, removed };
}
