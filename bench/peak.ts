/**
 * The cores' float32 FMA peak, measured by `bench/fma-peak.c` (what
 * `npm run bench:peak` runs): compiled with `cc` into out/fma-peak on first
 * use, then run, so a benchmark can report its GFLOP/s as a fraction of what
 * the machine can do at all, measured in the same run.
 */
import { execFileSync } from "node:child_process";
import { mkdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

/** `fma-peak`'s JSON line (GFLOP/s). */
export interface FmaPeak {
  cpus: number;
  avx2_fma_gflops_1_thread: number;
  avx2_fma_gflops_all: number;
  avx512_fma_gflops_1_thread?: number;
  avx512_fma_gflops_all?: number;
  /** The widest vector FMA over every online CPU: the peak that fractions are taken of. */
  peak_gflops: number;
}

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..");

/** Compile (if needed) and run the FMA microbenchmark; null with the reason when it cannot run (no `cc`, no AVX2). */
export function measureFmaPeak(): { peak: FmaPeak | null; reason?: string } {
  const exe = join(ROOT, "out", "fma-peak");
  try {
    mkdirSync(dirname(exe), { recursive: true });
    execFileSync("cc", ["-O2", "-Wall", "-pthread", join(ROOT, "bench", "fma-peak.c"), "-o", exe], { stdio: ["ignore", "ignore", "pipe"] });
  } catch (e) {
    return { peak: null, reason: `cannot compile bench/fma-peak.c with cc: ${(e as Error).message.split("\n")[0]}` };
  }
  let line: string;
  try {
    line = execFileSync(exe, { encoding: "utf8" }).trim();
  } catch (e) {
    const out = (e as { stdout?: string }).stdout?.trim();
    return { peak: null, reason: `fma-peak failed: ${out || (e as Error).message.split("\n")[0]}` };
  }
  const r = JSON.parse(line) as Omit<FmaPeak, "peak_gflops">;
  return { peak: { ...r, peak_gflops: r.avx512_fma_gflops_all ?? r.avx2_fma_gflops_all } };
}
