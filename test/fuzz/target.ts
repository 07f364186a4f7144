/**
 * What the fuzz harness needs to know about one file format the project reads.
 * Each format lives in test/fuzz/targets/<format>.ts and default-exports a FuzzTarget;
 * the harness (test/fuzz/harness.ts) finds them all, mutates each seed `cases` times
 * (seeded), writes each mutant to a temporary file and calls `load` on it in a worker
 * thread with a 5 s watchdog. A case passes when `load` resolves (the file loaded) or
 * throws a DitError (src/errors.ts) whose message names the file; anything else — another
 * error class, a hang, a crash, an oversized allocation — is a failure.
 */
export interface FuzzSeed {
  /** Short name for reports, e.g. "tiny-f32". */
  name: string;
  /** A valid file of this format. */
  bytes: Uint8Array;
  /** Byte offsets where the format's structures begin or end (header end, record starts, …): truncation points. */
  boundaries?: number[];
}

/** A mutant with a description of what was done to the seed. */
export interface FuzzMutant {
  bytes: Uint8Array;
  what: string;
}

export interface FuzzTarget {
  /** Format name for reports, e.g. "safetensors", "pt-zip", "idx-gz". */
  format: string;
  /** File name extension the loader expects (".safetensors", ".pt", ".gz", …). */
  ext: string;
  /** Valid seed files (built in memory with the project's writers or small fixtures). */
  seeds(): Promise<FuzzSeed[]> | FuzzSeed[];
  /**
   * Format-aware mutants ("headers that lie"): offsets past the end, overlapping ranges, shapes whose
   * product overflows, unknown dtypes, 1e12 element counts, deep nesting, huge declared lengths.
   * `rand()` is the harness's seeded uniform [0, 1) generator; return one mutant per call, either as
   * bytes or as `{ bytes, what }` where `what` says which lie it tells (shown in failure reports).
   */
  lie?(seed: FuzzSeed, rand: () => number): Uint8Array | FuzzMutant;
  /** Load `path` with the project's own loader, fully (read every tensor / pixel), and return a small summary. */
  load(path: string): Promise<unknown> | unknown;
}
