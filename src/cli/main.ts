/** The `dit` command line. */
import { readFileSync } from "node:fs";
import { Command, CommanderError } from "commander";
import { registerBench } from "./bench.js";
import { registerConvert } from "./convert.js";
import { registerEval } from "./eval.js";
import { registerExport } from "./export.js";
import { registerExtractLatents } from "./extract-latents.js";
import { registerFidStats } from "./fid-stats.js";
import { registerFlops } from "./flops.js";
import { registerForward } from "./forward.js";
import { registerPlotLog } from "./plot-log.js";
import { registerVaeTrain } from "./vae-train.js";
import { registerSample } from "./sample.js";
import { registerStudy } from "./study.js";
import { registerTrain } from "./train.js";

const program = new Command();
program
  .name("dit")
  .description("Diffusion Transformers (DiT) in TypeScript: run, train and measure DiT models")
  .version((JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as { version: string }).version) // src/cli and dist/cli both sit two levels below it
  .showHelpAfterError()
  .exitOverride();

registerFlops(program);
registerForward(program);
registerConvert(program);
registerBench(program);
registerExport(program);
registerVaeTrain(program);
registerTrain(program);
registerSample(program);
registerExtractLatents(program);
registerPlotLog(program);
registerFidStats(program);
registerEval(program);
registerStudy(program);

try {
  await program.parseAsync(process.argv);
} catch (e) {
  if (e instanceof CommanderError) process.exit(e.exitCode);
  process.stderr.write(`dit: ${e instanceof Error ? e.message : String(e)}\n`);
  process.exit(1);
}
