/** `dit flops`: parameters and forward Gflops of every official config and conditioning block, or of one config file. */
import type { Command } from "commander";
import { BLOCK_TYPES, OFFICIAL_MODELS, officialConfig, type BlockType } from "../model/config.js";
import { flopsRow, flopsTable } from "../model/flops.js";
import { loadConfigFile } from "./common.js";
import { imageSize } from "./options.js";
import { printJson, table } from "./output.js";

export function registerFlops(program: Command): void {
  program
    .command("flops")
    .description("parameters and forward Gflops (fvcore multiply-accumulates) of the official DiT configs")
    .option("--resolution, --image-size <px>", "image size in pixels (latent = px / 8)", imageSize, 256)
    .option("--model <name>", "only this model (e.g. DiT-XL/2)")
    .option("--config <file>", "count this model config JSON instead (its own latent size and block)")
    .option("--block <type>", `only this conditioning block (${BLOCK_TYPES.join(", ")})`)
    .option("--json", "print one JSON line (an array of rows) on stdout")
    .action((opts: { imageSize: number; model?: string; config?: string; block?: string; json?: boolean }) => {
      if (opts.block && !BLOCK_TYPES.includes(opts.block as BlockType)) {
        throw new Error(`unknown block '${opts.block}': expected one of ${BLOCK_TYPES.join(", ")}`);
      }
      if (opts.model && opts.config) throw new Error("give one of --model or --config, not both");
      let rows;
      if (opts.config) {
        const c = loadConfigFile(opts.config);
        rows = [flopsRow(opts.config, opts.block ? { ...c, block: opts.block as BlockType } : c)];
      } else {
        const models = opts.model ? [officialConfig(opts.model) && normalizeName(opts.model)] : OFFICIAL_MODELS;
        rows = flopsTable(opts.imageSize, models, opts.block ? [opts.block as BlockType] : BLOCK_TYPES);
      }
      if (opts.json) return printJson(rows);
      process.stdout.write(
        table(
          ["model", "block", "resolution", "params", "Gflops"],
          rows.map((r) => [r.model, r.block, r.resolution, r.params.toLocaleString("en-US"), r.gflops.toFixed(2)]),
        ) + "\n",
      );
    });
}

function normalizeName(name: string): string {
  return name.startsWith("DiT-") ? name : `DiT-${name}`;
}
