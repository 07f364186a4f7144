/**
 * The cost of the safetensors data SHA-256 (`dit_ts_sha256`): a ~500 MB file written with
 * `writeSafetensors`, read with `readSafetensors` with and without `verify`, interleaved,
 * medians of `--runs` (default 3). Prints ms per GB of data for the check.
 *
 *   node --import tsx bench/safetensors-sha.ts [--mb 500] [--runs 3]
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { readSafetensors, writeSafetensors } from "../src/io/safetensors.js";

const { values } = parseArgs({ options: { mb: { type: "string", default: "500" }, runs: { type: "string", default: "3" } } });
const mb = Number(values.mb);
const runs = Number(values.runs);
const dir = mkdtempSync(join(tmpdir(), "dit-bench-sha-"));
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
try {
  const path = join(dir, "big.safetensors");
  const n = Math.floor((mb * 1e6) / 4 / 8); // 8 tensors of float32
  const tensors = new Map<string, { data: Float32Array; shape: number[] }>();
  for (let i = 0; i < 8; i++) tensors.set(`t${i}`, { data: new Float32Array(n).fill(i + 0.5), shape: [n] });
  const bytes = 8 * n * 4;
  let t0 = performance.now();
  writeSafetensors(path, tensors, {}, { sha256: false });
  const writePlain = performance.now() - t0;
  t0 = performance.now();
  writeSafetensors(path, tensors, {});
  const writeSha = performance.now() - t0;
  tensors.clear();
  const on: number[] = [];
  const off: number[] = [];
  readSafetensors(path, { verify: false }); // warm the page cache
  for (let r = 0; r < runs; r++) {
    t0 = performance.now();
    readSafetensors(path, { verify: false });
    off.push(performance.now() - t0);
    t0 = performance.now();
    readSafetensors(path);
    on.push(performance.now() - t0);
  }
  const gb = bytes / 1e9;
  console.log(`data ${(bytes / 1e6).toFixed(0)} MB; write ${writePlain.toFixed(0)} ms without the hash, ${writeSha.toFixed(0)} ms with it`);
  console.log(`read (page cache warm), medians of ${runs}: verify off ${median(off).toFixed(0)} ms, on ${median(on).toFixed(0)} ms`);
  console.log(`verify cost: ${((median(on) - median(off)) / gb).toFixed(0)} ms per GB (read itself: ${(median(off) / gb).toFixed(0)} ms per GB)`);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
