/**
 * Options shared by the `dit` commands: one set of number validators, and the
 * model options (`--model NAME` or `--config FILE`). Where the official DiT
 * scripts have a name for an option it is used (`--ckpt`, `--batch-size`,
 * `--image-size`, `--cfg-scale`, `--num-sampling-steps`, `--ckpt-every`,
 * `--log-every`, `--seed`); older names stay as aliases (`--weights`, `--batch`,
 * `--resolution`), written first in the flags so commander takes the official
 * name for the option's key ("--batch, --batch-size <n>" → `batchSize`).
 */
import type { Command } from "commander";
import { OFFICIAL_MODELS, officialConfig, type DiTConfig } from "../model/config.js";
import { loadConfigFile } from "./common.js";
import { checkInput } from "./paths.js";
import { UsageError } from "./usage-error.js";

/** A number option parser: `check` decides, `expected` says what was expected in the error. */
export function numberOption(name: string, check: (x: number) => boolean, expected: string): (v: string) => number {
  return (v: string) => {
    const x = v.trim() === "" ? NaN : Number(v);
    if (!Number.isFinite(x) || !check(x)) throw new UsageError(`--${name} must be ${expected}, got '${v}'`);
    return x;
  };
}

/** An integer > 0 (and ≤ 2^53 − 1). */
export const positiveInt = (name: string) => numberOption(name, (x) => Number.isSafeInteger(x) && x > 0, "a positive integer");
/** An integer ≥ 0 (seeds, counts that may be zero). */
export const nonNegativeInt = (name: string) => numberOption(name, (x) => Number.isSafeInteger(x) && x >= 0, "an integer ≥ 0");
/** Any integer (|x| ≤ 2^53 − 1). */
export const integer = (name: string) => numberOption(name, Number.isSafeInteger, "an integer");
/** A finite number > 0. */
export const positiveNumber = (name: string) => numberOption(name, (x) => x > 0, "a positive number");
/** A finite number ≥ 0. */
export const nonNegativeNumber = (name: string) => numberOption(name, (x) => x >= 0, "a number ≥ 0");
/** Any finite number. */
export const finiteNumber = (name: string) => numberOption(name, () => true, "a number");

/** An official model name (`DiT-XL/2` or `XL/2`), as `DiT-XL/2`. */
export function modelName(v: string): string {
  const name = v.trim().startsWith("DiT-") ? v.trim() : `DiT-${v.trim()}`;
  if (!OFFICIAL_MODELS.includes(name)) throw new UsageError(`--model: unknown model '${v}', expected one of ${OFFICIAL_MODELS.join(", ")}`);
  return name;
}

/** A multiple of 8 pixels (the VAE downsamples by 8). */
export const imageSize = numberOption("image-size", (x) => Number.isSafeInteger(x) && x > 0 && x % 8 === 0, "a positive multiple of 8 (the VAE downsamples by 8)");

export interface ModelOptions {
  model?: string;
  config?: string;
  imageSize: number;
}

/** `--model NAME` or `--config FILE`, and `--image-size` (alias `--resolution`) for official names. */
export function addModelOptions(cmd: Command, opts: { defaultModel?: string } = {}): Command {
  return cmd
    .option("--model <name>", `official model name (e.g. DiT-XL/2)${opts.defaultModel ? ` when no --config is given (default ${opts.defaultModel})` : ""}`, modelName)
    .option("--config <file>", 'model config JSON instead of --model (a fixture config.json with dit_kwargs, official kwargs, or {"model": "DiT-XL/2", …})')
    .option("--resolution, --image-size <px>", "with --model: image size in pixels (latent = px / 8)", imageSize, 256);
}

/** The config `addModelOptions`' options name: exactly one of --model and --config (or the default model). */
export function modelFromOptions(o: ModelOptions, defaultModel?: string): { name: string; config: DiTConfig } {
  if (o.model && o.config) throw new UsageError("give one of --model or --config, not both");
  if (o.config) {
    checkInput("--config", o.config, "file");
    return { name: o.config, config: loadConfigFile(o.config) };
  }
  const name = o.model ?? defaultModel;
  if (!name) throw new UsageError("give --model NAME (e.g. DiT-XL/2) or --config FILE");
  return { name: name.startsWith("DiT-") ? name : `DiT-${name}`, config: officialConfig(name, { inputSize: o.imageSize / 8 }) };
}
