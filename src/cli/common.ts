/** Helpers shared by the `dit` subcommands: config files, weights, progress bars. */
import cliProgress from "cli-progress";
import { ModelConfigError, type DiTConfig } from "../model/config.js";
import { readModelConfigFile } from "../sample/model-source.js";
import { UsageError } from "./usage-error.js";

/**
 * Read a model config from a JSON file (`readModelConfigFile`: the forms `configFromJson` accepts or
 * a diffusers DiT config.json; size, UTF-8 and depth checked); a bad file is a `UsageError` naming it.
 */
export function loadConfigFile(path: string): DiTConfig {
  try {
    return readModelConfigFile(path);
  } catch (e) {
    if (e instanceof ModelConfigError) throw new UsageError(`--config: ${e.message}`, { cause: e });
    throw e;
  }
}

/** A progress bar on stderr (nothing when stderr is not a terminal or `quiet`). */
export function progressBar(label: string, total: number, quiet = false): { tick(n?: number): void; stop(): void } {
  if (quiet || !process.stderr.isTTY) return { tick: () => undefined, stop: () => undefined };
  const bar = new cliProgress.SingleBar(
    { format: `${label} [{bar}] {value}/{total} {duration_formatted}`, stream: process.stderr, hideCursor: true },
    cliProgress.Presets.shades_classic,
  );
  bar.start(total, 0);
  return { tick: (n = 1) => bar.increment(n), stop: () => bar.stop() };
}
