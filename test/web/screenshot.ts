/**
 * The README's screenshot of the page: build the site if needed, serve it,
 * sample through the page's hook in headless Chromium and save the page as a
 * PNG (written atomically). Not a test: run it by hand after the page changes.
 *
 *   node --import tsx test/web/screenshot.ts [--out docs/web/screenshot.png] [--backend wasm|webgpu]
 *        [--class 7] [--images 8] [--steps 25] [--seed 0]
 */
import { writeFileAtomicWith } from "../../src/io/atomic-file.js";
import { writeSync } from "node:fs";
import { join } from "node:path";
import { serveStatic } from "../../web/serve.js";
import { launchChromium } from "./browser.js";
import { openPage, samplePage, type WebBackend } from "./page-hook.js";
import { ensureSite, REPO_ROOT } from "./site.js";

const HELP = `usage: node --import tsx test/web/screenshot.ts [--out FILE] [--backend wasm|webgpu] [--class K] [--images N] [--steps N] [--seed S]

Sample on the built page in headless Chromium and save a screenshot (default docs/web/screenshot.png).
`;

async function main(argv: string[]): Promise<void> {
  const o = { out: join(REPO_ROOT, "docs", "web", "screenshot.png"), backend: "wasm" as WebBackend, classId: 7, numImages: 8, steps: 25, seed: 0 };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const v = (): string => {
      const x = argv[++i];
      if (x === undefined) throw new Error(`${a} needs a value`);
      return x;
    };
    const int = (): number => {
      const x = v();
      if (!/^\d+$/.test(x)) throw new Error(`${a} needs a non-negative integer, got '${x}'`);
      return Number(x);
    };
    if (a === "--help" || a === "-h") return void process.stdout.write(HELP);
    else if (a === "--out") o.out = v();
    else if (a === "--backend") {
      const b = v();
      if (b !== "wasm" && b !== "webgpu") throw new Error(`--backend must be wasm or webgpu, got '${b}'`);
      o.backend = b;
    } else if (a === "--class") o.classId = int();
    else if (a === "--images") o.numImages = int();
    else if (a === "--steps") o.steps = int();
    else if (a === "--seed") o.seed = int();
    else throw new Error(`unknown option '${a}' (see --help)`);
  }
  const server = await serveStatic(ensureSite());
  const b = await launchChromium({ webgpu: o.backend === "webgpu", viewport: { width: 1100, height: 800 } });
  try {
    await openPage(b.page, server.url, o.backend);
    const r = await samplePage(b.page, { classId: o.classId, cfgScale: 4, sampler: "dpm++", steps: o.steps, seed: o.seed, numImages: o.numImages });
    const png = await b.page.screenshot({ fullPage: true });
    writeFileAtomicWith(o.out, (fd) => writeSync(fd, png));
    process.stdout.write(`${o.out}: ${png.length} bytes (${r.backend}, ${r.msPerStep.toFixed(1)} ms/step)\n`);
  } finally {
    await b.close();
    await server.close();
  }
}

main(process.argv.slice(2)).catch((e: unknown) => {
  process.stderr.write(`screenshot: ${e instanceof Error ? e.message : String(e)}\n`);
  process.exit(1);
});
