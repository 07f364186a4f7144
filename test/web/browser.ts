/**
 * Headless Chromium for the browser tests and `npm run bench:web`: Debian's
 * `chromium` (never a downloaded browser) driven by playwright-core over
 * the DevTools pipe.
 *
 * Playwright's own default switches are dropped (ignoreDefaultArgs), so the
 * browser runs with exactly the flags below plus what the connection needs
 * (--headless, --remote-debugging-pipe) and a new empty --user-data-dir in a
 * temp folder that `close()` removes.
 */
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium, type Browser, type BrowserContext, type Page } from "playwright-core";

/** The browser binary: $CHROMIUM_PATH or Debian's /usr/bin/chromium. */
export const CHROMIUM_PATH: string = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";

/** Every launch gets these. */
export const BASE_FLAGS: readonly string[] = [
  "--no-sandbox",
  "--disable-gpu",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  "--no-first-run",
];

/** Added for WebGPU: SwiftShader's Vulkan gives a CPU adapter headless. */
export const WEBGPU_FLAGS: readonly string[] = ["--enable-unsafe-webgpu", "--enable-unsafe-swiftshader"];

/** Why the browser tests cannot run here (no Chromium), or undefined when they can. */
export function chromiumMissing(): string | undefined {
  if (existsSync(CHROMIUM_PATH)) return undefined;
  return `no Chromium at ${CHROMIUM_PATH}: install Debian's package (\`apt-get install chromium\`, as .ci/run does) or set CHROMIUM_PATH`;
}

export interface LaunchOptions {
  /** Add the WebGPU flags (default false). */
  webgpu?: boolean;
  /** Forward the page's console to stderr (default false). */
  console?: boolean;
  /** More command-line switches (e.g. V8's `--js-flags=…` for a benchmark). */
  extraArgs?: readonly string[];
  /** Viewport (default 1100×900). */
  viewport?: { width: number; height: number };
}

export interface ChromiumSession {
  browser: Browser;
  context: BrowserContext;
  page: Page;
  /** The flags the browser was started with (for reports). */
  args: readonly string[];
  /** The page's uncaught errors and console errors so far (for failure messages). */
  errors: string[];
  /** Close the browser and remove its profile folder. */
  close(): Promise<void>;
}

/** Start headless Chromium with a fresh profile and open one page. */
export async function launchChromium(opts: LaunchOptions = {}): Promise<ChromiumSession> {
  const missing = chromiumMissing();
  if (missing) throw new Error(missing);
  const profile = mkdtempSync(join(tmpdir(), "dit-chromium-profile-"));
  const args = [
    "--headless",
    "--remote-debugging-pipe",
    `--user-data-dir=${profile}`,
    ...BASE_FLAGS,
    ...(opts.webgpu ? WEBGPU_FLAGS : []),
    ...(opts.extraArgs ?? []),
  ];
  let browser: Browser | undefined;
  try {
    browser = await chromium.launch({ executablePath: CHROMIUM_PATH, headless: true, ignoreDefaultArgs: true, args, timeout: 60_000 });
    const context = await browser.newContext({ viewport: opts.viewport ?? { width: 1100, height: 900 } });
    const page = await context.newPage();
    const errors: string[] = [];
    page.on("console", (m) => {
      if (m.type() === "error") errors.push(m.text());
      if (opts.console) process.stderr.write(`[page ${m.type()}] ${m.text()}\n`);
    });
    page.on("pageerror", (e) => {
      errors.push(e.message);
      if (opts.console) process.stderr.write(`[page error] ${e.message}\n`);
    });
    const b = browser;
    return {
      browser: b,
      context,
      page,
      args,
      errors,
      close: async () => {
        await b.close().catch(() => undefined);
        rmSync(profile, { recursive: true, force: true });
      },
    };
  } catch (e) {
    await browser?.close().catch(() => undefined);
    rmSync(profile, { recursive: true, force: true });
    throw e;
  }
}

/** What `navigator.gpu.requestAdapter()` gives in the page: its info, or why there is none. */
export async function probeWebGpu(page: Page): Promise<{ adapter: { vendor: string; architecture: string; device: string; description: string } | null; reason?: string }> {
  return page.evaluate(async () => {
    const gpu = (globalThis as unknown as { navigator: { gpu?: { requestAdapter(): Promise<any> } } }).navigator.gpu;
    if (!gpu) return { adapter: null, reason: "navigator.gpu is undefined (WebGPU not exposed: needs a secure context and --enable-unsafe-webgpu)" };
    let a: any;
    try {
      a = await gpu.requestAdapter();
    } catch (e) {
      return { adapter: null, reason: `navigator.gpu.requestAdapter() threw: ${String(e)}` };
    }
    if (!a) return { adapter: null, reason: "navigator.gpu.requestAdapter() returned null (no WebGPU adapter on this machine)" };
    const i = a.info ?? {};
    return { adapter: { vendor: String(i.vendor ?? ""), architecture: String(i.architecture ?? ""), device: String(i.device ?? ""), description: String(i.description ?? "") } };
  });
}
