/** `dit flops`: parameters and forward Gflops of every official config and conditioning block, or of one config file. */
import { Option, type Command } from "commander";
import { BLOCK_TYPES, OFFICIAL_MODELS, type BlockType } from "../model/config.js";
import { flopsRow, flopsTable } from "../model/flops.js";
import { loadConfigFile } from "./common.js";
import { imageSize, modelName } from "./options.js";
import { checkInput } from "./paths.js";
import { UsageError } from "./usage-error.js";
import { printJson, table } from "./output.js";

export function registerFlops(program: Command): void {
  program
    .command("flops")
    .description("parameters and forward Gflops (fvcore multiply-accumulates) of the official DiT configs")
    .option("--resolution, --image-size <px>", "image size in pixels (latent = px / 8)", imageSize, 256)
    .option("--model <name>", "only this model (e.g. DiT-XL/2)", modelName)
    .option("--config <file>", "count this model config JSON instead (its own latent size and block)")
    .addOption(new Option("--block <type>", "only this conditioning block").choices([...BLOCK_TYPES]))
    .option("--json", "print one JSON line (an array of rows) on stdout")
    .action((opts: { imageSize: number; model?: string; config?: string; block?: string; json?: boolean }) => {
      if (opts.model && opts.config) throw new UsageError("give one of --model or --config, not both");
      checkInput("--config", opts.config, "file");
      let rows;
      if (opts.config) {
        const c = loadConfigFile(opts.config);
        rows = [flopsRow(opts.config, opts.block ? { ...c, block: opts.block as BlockType } : c)];
      } else {
        const models = opts.model ? [opts.model] : OFFICIAL_MODELS; // modelName checked and normalised it
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
