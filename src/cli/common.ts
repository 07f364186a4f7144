/** Helpers shared by the `dit` subcommands: config files, weights, progress bars. */
import { readFileSync } from "node:fs";
import cliProgress from "cli-progress";
import { DEFAULTS, configFromKwargs, officialConfig, validateConfig, type DiTConfig, type DiTKwargs } from "../model/config.js";

/**
 * Read a model config from JSON. Accepted forms: a parity fixture's config
 * (`{"dit_kwargs": {…}}`), the official constructor kwargs (`{"input_size": …}`),
 * an official name with overrides (`{"model": "DiT-XL/2", "inputSize": 64}`),
 * or a full config in this library's field names.
 */
export function loadConfigFile(path: string): DiTConfig {
  let json: Record<string, unknown>;
  try {
    json = JSON.parse(readFileSync(path, "utf8")) as Record<string, unknown>;
  } catch (e) {
    throw new Error(`${path}: cannot read a JSON config (${e instanceof Error ? e.message : String(e)})`, { cause: e });
  }
  return configFromJson(json, path);
}

export function configFromJson(json: Record<string, unknown>, where = "config"): DiTConfig {
  if (json.dit_kwargs && typeof json.dit_kwargs === "object") return configFromKwargs(json.dit_kwargs as DiTKwargs);
  if (typeof json.model === "string") {
    const { model, ...rest } = json;
    return officialConfig(model, rest as Partial<DiTConfig>);
  }
  if ("input_size" in json || "hidden_size" in json || "patch_size" in json) return configFromKwargs(json as DiTKwargs);
  if ("hiddenSize" in json) return validateConfig({ ...DEFAULTS, ...(json as unknown as DiTConfig) });
  throw new Error(`${where}: not a DiT config (expected dit_kwargs, official kwargs, {"model": "DiT-XL/2"} or a full config)`);
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
