/** The load of the image fuzz targets (png, jpeg): decode fully as image folders do, and summarize. */
import { readFileSync } from "node:fs";
import { decodeImage } from "../../src/data/image.js";

export function loadImageSummary(path: string): { channels: number; height: number; width: number; sum: number } {
  const img = decodeImage(readFileSync(path), path);
  let sum = 0;
  for (const p of img.data) sum += p;
  return { channels: img.channels, height: img.height, width: img.width, sum };
}
