/** Helpers shared by the `dit` subcommands: config files, weights, progress bars. */
import { readFileSync } from "node:fs";
import cliProgress from "cli-progress";
import { configFromJson, type DiTConfig } from "../model/config.js";

/** Read a model config from a JSON file (the forms `configFromJson` accepts). */
export function loadConfigFile(path: string): DiTConfig {
  let json: Record<string, unknown>;
  try {
    json = JSON.parse(readFileSync(path, "utf8")) as Record<string, unknown>;
  } catch (e) {
    throw new Error(`${path}: cannot read a JSON config (${e instanceof Error ? e.message : String(e)})`, { cause: e });
  }
  return configFromJson(json, path);
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
