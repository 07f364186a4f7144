/**
 * The cost of CRC-32 verification when loading a `.pt` zip: a checkpoint with DiT-XL/2's real
 * state-dict names and shapes (675 M float32, ≈ 2.7 GB; `--scale` < 1 shrinks every tensor's
 * first dimension for a smaller file) is written with saveTorchCheckpoint, then loaded with
 * loadTorchStateDict with and without `verifyCrc`, interleaved, `--runs` times each (default 3);
 * an untimed load goes first (right after writing, the page cache is still flushing); the file is
 * deleted at the end.
 *
 *   node --expose-gc --import tsx bench/pt-crc.ts [--model DiT-XL/2] [--scale 1] [--runs 3] [--dir /tmp]
 *
 * Prints one JSON line: { model, params, file_gb, write_s, load_s: { crc, nocrc } (medians),
 * overhead_s, overhead_pct, crc_gbps (zlib.crc32 alone on a 256 MiB buffer), runs, all_s (every run) }.
 */
import { mkdtempSync, rmSync, statSync } from "node:fs";
import { cpus, tmpdir } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { parseArgs } from "node:util";
import { crc32 } from "node:zlib";
import { officialConfig } from "../src/model/config.js";
import { paramShapes } from "../src/model/params.js";
import { loadTorchStateDict } from "../src/io/torch-checkpoint.js";
import { saveTorchCheckpoint, TorchOrderedDict, TorchTensor } from "../src/io/torch-save.js";

const { values } = parseArgs({
  options: { model: { type: "string", default: "DiT-XL/2" }, scale: { type: "string", default: "1" }, runs: { type: "string", default: "3" }, dir: { type: "string", default: tmpdir() }, help: { type: "boolean", short: "h" } },
});
if (values.help) {
  console.log("usage: node --expose-gc --import tsx bench/pt-crc.ts [--model DiT-XL/2] [--scale 1] [--runs 3] [--dir DIR]");
  process.exit(0);
}
const scale = Number(values.scale);
const runs = Number(values.runs);
const gc = (globalThis as { gc?: () => void }).gc ?? (() => {});
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

const dir = mkdtempSync(join(values.dir, "dit-pt-crc-bench-"));
const path = join(dir, "dit.pt");
try {
  const shapes = paramShapes(officialConfig(values.model));
  let params = 0;
  const tensors = new Map<string, TorchTensor>();
  for (const [name, shape] of shapes) {
    const s = scale < 1 && shape.length ? [Math.max(1, Math.round(shape[0]! * scale)), ...shape.slice(1)] : shape;
    const n = s.reduce((a, b) => a * b, 1);
    const data = new Float32Array(n);
    for (let i = 0; i < n; i += 997) data[i] = i; // not all zeros, cheaply
    tensors.set(name, new TorchTensor("float32", s, data));
    params += n;
  }
  let t0 = performance.now();
  saveTorchCheckpoint(path, new TorchOrderedDict(tensors));
  const writeS = (performance.now() - t0) / 1000;
  tensors.clear();
  gc();
  const fileBytes = statSync(path).size;

  // one untimed load first: the file's pages are still being flushed right after the write
  loadTorchStateDict(path, undefined, { verifyCrc: false });
  gc();
  const times = { crc: [] as number[], nocrc: [] as number[] };
  for (let r = 0; r < runs; r++) {
    for (const mode of r % 2 ? (["crc", "nocrc"] as const) : (["nocrc", "crc"] as const)) {
      gc();
      t0 = performance.now();
      const { stateDict } = loadTorchStateDict(path, undefined, { verifyCrc: mode === "crc" });
      times[mode].push((performance.now() - t0) / 1000);
      if (stateDict.size !== shapes.size) throw new Error("wrong tensor count");
    }
  }
  const buf = new Uint8Array(256 << 20).fill(7);
  t0 = performance.now();
  crc32(buf);
  const crcGbps = buf.length / 1e9 / ((performance.now() - t0) / 1000);
  const crc = median(times.crc);
  const nocrc = median(times.nocrc);
  console.log(
    JSON.stringify({
      model: values.model,
      scale,
      params,
      file_gb: +(fileBytes / 1e9).toFixed(3),
      write_s: +writeS.toFixed(2),
      load_s: { crc: +crc.toFixed(2), nocrc: +nocrc.toFixed(2) },
      all_s: times,
      overhead_s: +(crc - nocrc).toFixed(2),
      overhead_pct: +((100 * (crc - nocrc)) / nocrc).toFixed(1),
      crc_gbps: +crcGbps.toFixed(2),
      runs,
      node: process.version,
      cpu: cpus()[0]?.model,
    }),
  );
} finally {
  rmSync(dir, { recursive: true, force: true });
}
