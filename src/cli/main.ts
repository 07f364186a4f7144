/** The `dit` command line. */
import { readFileSync, realpathSync } from "node:fs";
import { fileURLToPath } from "node:url";
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
import { errorMessage, errorStack } from "./error-line.js";
import { UsageError } from "./usage-error.js";

/** Where `runCli` writes (default: the process's stdout and stderr) and the environment it reads (`DIT_DEBUG`). */
export interface CliIo {
  stdout?: (text: string) => void;
  stderr?: (text: string) => void;
  env?: Record<string, string | undefined>;
}

/** The `dit` program with every command registered (a new one per call: commander keeps parsed values on it). */
export function buildProgram(): Command {
  const program = new Command();
  program
    .name("dit")
    .description("Diffusion Transformers (DiT) in TypeScript: run, train and measure DiT models")
    .version((JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as { version: string }).version) // src/cli and dist/cli both sit two levels below it
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

  // commander's own errors are printed by runCli as one `dit:` line (with a pointer to --help), not by commander
  const quiet = (c: Command): void => {
    c.configureOutput({ outputError: () => undefined });
    c.commands.forEach(quiet);
  };
  quiet(program);
  return program;
}

/** The subcommand path that `argv` names (`dit study report`), for the "see --help" pointer. */
function commandPath(program: Command, argv: readonly string[]): string {
  let cmd = program;
  const names = ["dit"];
  for (const a of argv) {
    if (a.startsWith("-")) continue;
    const sub = cmd.commands.find((c) => c.name() === a || c.aliases().includes(a));
    if (!sub) break;
    cmd = sub;
    names.push(sub.name());
  }
  return names.join(" ");
}

/**
 * Run `dit` with `argv` (the arguments after `dit`) and return its exit code.
 * A failure prints exactly one line on stderr, `dit: …` (with `DIT_DEBUG=1`,
 * the stack follows it); nothing is thrown. With `io.stdout` / `io.stderr`, what the
 * commands write to process.stdout / process.stderr goes there instead while it runs
 * (for running the command line in-process, as the tests do).
 */
export async function runCli(argv: readonly string[], io: CliIo = {}): Promise<number> {
  const env = io.env ?? process.env;
  const debug = !!env.DIT_DEBUG && env.DIT_DEBUG !== "0";
  const out = process.stdout.write;
  const err = process.stderr.write;
  const redirect = (f: (text: string) => void) =>
    ((chunk: string | Uint8Array, ...rest: unknown[]) => {
      f(typeof chunk === "string" ? chunk : Buffer.from(chunk).toString("utf8"));
      const cb = rest.find((r) => typeof r === "function") as (() => void) | undefined;
      cb?.();
      return true;
    }) as typeof process.stdout.write;
  if (io.stdout) process.stdout.write = redirect(io.stdout);
  if (io.stderr) process.stderr.write = redirect(io.stderr);
  const savedExitCode = process.exitCode;
  process.exitCode = undefined;
  const program = buildProgram();
  try {
    await program.parseAsync([...argv], { from: "user" });
    return Number(process.exitCode ?? 0); // e.g. 130 from an interrupted `dit train`
  } catch (e) {
    if (e instanceof CommanderError && (e.code === "commander.helpDisplayed" || e.code === "commander.version" || e.code === "commander.help")) {
      return e.exitCode; // help or version printed (`dit` alone prints the help on stderr and exits 1)
    }
    const usage = e instanceof CommanderError || e instanceof UsageError;
    const msg = e instanceof CommanderError ? e.message.replace(/^error: /, "").replace(/\s*\n\s*/g, " ") : errorMessage(e);
    process.stderr.write(`dit: ${msg}${usage ? ` (see '${commandPath(program, argv)} --help')` : ""}\n`);
    if (debug) process.stderr.write(errorStack(e) + "\n");
    return e instanceof CommanderError && e.exitCode !== 0 ? e.exitCode : 1;
  } finally {
    process.stdout.write = out;
    process.stderr.write = err;
    process.exitCode = savedExitCode;
  }
}

/** Run as the entry script (`node --import tsx src/cli/main.ts …`, `node dist/cli/main.js …`); bin/dit.mjs calls runCli itself. */
function isEntry(): boolean {
  try {
    return !!process.argv[1] && realpathSync(process.argv[1]) === realpathSync(fileURLToPath(import.meta.url));
  } catch {
    return false;
  }
}

if (isEntry()) {
  const code = await runCli(process.argv.slice(2));
  process.exitCode = code;
  if (code !== 0) process.exit(code); // a failed command may leave handles open (ONNX sessions, workers)
}
