#!/usr/bin/env node
// Launcher for the `dit` command.
// - In a checkout (src/cli/main.ts next to this file, not inside node_modules,
//   and tsx installed as a devDependency): run the TypeScript sources through
//   tsx, so edits take effect with no build step (`npm ci && npx dit …`).
// - In an installed package: run the compiled dist/ with plain Node.
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
if (tsx) {
  tsx.register();
  await import(src.href);
} else if (existsSync(dist)) {
  await import(dist.href);
} else {
  process.stderr.write(`dit: ${fileURLToPath(dist)} is missing: run \`npm run build\` (or \`npm install\` with devDependencies to run the sources through tsx)\n`);
  process.exit(1);
}
