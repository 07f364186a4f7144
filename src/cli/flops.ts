/** `dit flops`: parameters and forward Gflops of every official config and conditioning block. */
import type { Command } from "commander";
import { BLOCK_TYPES, OFFICIAL_MODELS, officialConfig, type BlockType } from "../model/config.js";
import { flopsTable } from "../model/flops.js";
import { positiveInt, printJson, table } from "./output.js";

export function registerFlops(program: Command): void {
  program
    .command("flops")
    .description("parameters and forward Gflops (fvcore multiply-accumulates) of the official DiT configs")
    .option("--resolution <px>", "image resolution in pixels", positiveInt("resolution"), 256)
    .option("--model <name>", "only this model (e.g. DiT-XL/2)")
    .option("--block <type>", `only this conditioning block (${BLOCK_TYPES.join(", ")})`)
    .option("--json", "print one JSON line (an array of rows) on stdout")
    .action((opts: { resolution: number; model?: string; block?: string; json?: boolean }) => {
      const models = opts.model ? [officialConfig(opts.model) && normalizeName(opts.model)] : OFFICIAL_MODELS;
      if (opts.block && !BLOCK_TYPES.includes(opts.block as BlockType)) {
        throw new Error(`unknown block '${opts.block}': expected one of ${BLOCK_TYPES.join(", ")}`);
      }
      const blocks = opts.block ? [opts.block as BlockType] : BLOCK_TYPES;
      const rows = flopsTable(opts.resolution, models, blocks);
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
