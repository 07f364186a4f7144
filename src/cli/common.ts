/** Helpers shared by the `dit` subcommands: config files, weights, progress bars. */
import { readFileSync } from "node:fs";
import cliProgress from "cli-progress";
import { isDitError } from "../errors.js";
import { configFromJson, type DiTConfig } from "../model/config.js";
import { UsageError } from "./usage-error.js";

/** Read a model config from a JSON file (the forms `configFromJson` accepts); a bad file is a `UsageError` naming it. */
export function loadConfigFile(path: string): DiTConfig {
  let json: Record<string, unknown>;
  try {
    json = JSON.parse(readFileSync(path, "utf8")) as Record<string, unknown>;
  } catch (e) {
    throw new UsageError(`--config: ${path}: cannot read a JSON config (${e instanceof Error ? e.message : String(e)})`, { cause: e });
  }
  if (json === null || typeof json !== "object" || Array.isArray(json)) throw new UsageError(`--config: ${path}: expected a JSON object, got ${json === null ? "null" : Array.isArray(json) ? "an array" : typeof json}`);
  try {
    return configFromJson(json, path);
  } catch (e) {
    // configFromJson refuses a bad config with a plain Error (its message names the file): that is the user's file, not a bug
    if (isDitError(e) || !(e instanceof Error) || e.constructor !== Error) throw e;
    throw new UsageError(`--config: ${e.message}`, { cause: e });
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
