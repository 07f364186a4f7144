/**
 * The built page (web/dist) for the browser tests, `npm run bench:web` and
 * the screenshot script: built with `npm run web:build` when it is missing or
 * older than any of its sources, so the README's single test command covers
 * the browser too.
 *
 * DIT_WEB_SITE=DIR serves another folder as is (never built): a prebuilt
 * site, or a stub page while developing the harness.
 */
import { spawnSync } from "node:child_process";
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

export const REPO_ROOT: string = fileURLToPath(new URL("../..", import.meta.url)).replace(/\/$/, "");
export const SITE_DIR: string = join(REPO_ROOT, "web", "dist");

/** What the built site depends on: the page, the project's sampler code it bundles, the bundled models. */
const SOURCES = ["web/index.html", "web/src", "web/vite.config.ts", "web/build.ts", "src", "models/fashion-mnist", "package-lock.json"];

function newest(path: string): number {
  if (!existsSync(path)) return 0;
  const s = statSync(path);
  if (!s.isDirectory()) return s.mtimeMs;
  let m = 0;
  for (const e of readdirSync(path)) m = Math.max(m, newest(join(path, e)));
  return m;
}

/** Why web/dist must be (re)built, or undefined when it is current. */
export function siteStaleness(dir = SITE_DIR): string | undefined {
  const index = join(dir, "index.html");
  if (!existsSync(index)) return `${index} is missing`;
  const built = statSync(index).mtimeMs;
  const src = SOURCES.map((p) => [p, newest(join(REPO_ROOT, p))] as const).find(([, m]) => m > built);
  return src ? `${src[0]} changed after the last build` : undefined;
}

/** Whether package.json has the page's build script yet. */
export function hasBuildScript(): boolean {
  const pkg = JSON.parse(readFileSync(join(REPO_ROOT, "package.json"), "utf8")) as { scripts?: Record<string, string> };
  return typeof pkg.scripts?.["web:build"] === "string";
}

/**
 * The folder to serve: DIT_WEB_SITE as is, else web/dist, built first
 * (`npm run web:build`, its output on stderr) when missing or stale.
 */
export function ensureSite(log: (m: string) => void = (m) => process.stderr.write(m + "\n")): string {
  const override = process.env.DIT_WEB_SITE;
  if (override) {
    if (!existsSync(join(override, "index.html"))) throw new Error(`DIT_WEB_SITE=${override} has no index.html`);
    return override;
  }
  const why = siteStaleness();
  if (!why) return SITE_DIR;
  if (!hasBuildScript()) throw new Error(`${why}, and package.json has no web:build script to build it`);
  log(`building the page (${why}): npm run web:build`);
  const r = spawnSync("npm", ["run", "--silent", "web:build"], { cwd: REPO_ROOT, stdio: ["ignore", process.stderr, process.stderr], env: { ...process.env, ONNXRUNTIME_NODE_INSTALL: "skip" } });
  if (r.status !== 0) throw new Error(`npm run web:build failed (${r.error?.message ?? `exit ${r.status}`})`);
  const still = siteStaleness();
  if (still) throw new Error(`npm run web:build succeeded but the site is still not current: ${still}`);
  return SITE_DIR;
}
