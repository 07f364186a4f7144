#!/usr/bin/env node
// Launcher for the `dit` command.
// - In a checkout (src/cli/main.ts next to this file, not inside node_modules,
//   and tsx installed as a devDependency): run the TypeScript sources through
//   tsx, so edits take effect with no build step (`npm ci && npx dit …`).
// - In an installed package: run the compiled dist/ with plain Node.
// Either way it calls the module's runCli, which prints any failure as one
// `dit: …` line (the stack only with DIT_DEBUG=1) and returns the exit code.
import { existsSync } from "node:fs";
import process from "node:process";
import { fileURLToPath, URL } from "node:url";

const src = new URL("../src/cli/main.ts", import.meta.url);
const dist = new URL("../dist/cli/main.js", import.meta.url);
const installed = /[\\/]node_modules[\\/]/.test(fileURLToPath(import.meta.url));

async function loadTsx() {
  if (installed || !existsSync(src)) return undefined;
  try {
    return await import("tsx/esm/api");
  } catch {
    return undefined; // a checkout installed without devDependencies: fall back to dist/
  }
}

const tsx = await loadTsx();
if (!tsx && !existsSync(dist)) {
  process.stderr.write(`dit: ${fileURLToPath(dist)} is missing: run \`npm run build\` (or \`npm install\` with devDependencies to run the sources through tsx)\n`);
  process.exit(1);
}
let main;
try {
  if (tsx) tsx.register();
  main = await import((tsx ? src : dist).href);
} catch (e) {
  // a broken install or checkout: still one line, the stack only with DIT_DEBUG=1
  process.stderr.write(`dit: internal error: cannot load the command line: ${String(e instanceof Error ? e.message : e).replace(/\s*\n\s*/g, " ")} (run with DIT_DEBUG=1 for the stack)\n`);
  if (process.env.DIT_DEBUG && process.env.DIT_DEBUG !== "0" && e instanceof Error) process.stderr.write(`${e.stack}\n`);
  process.exit(1);
}
const code = await main.runCli(process.argv.slice(2));
process.exitCode = code;
if (code !== 0) process.exit(code); // a failed command may leave handles open (ONNX sessions, workers)
