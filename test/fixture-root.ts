/**
 * Where parity fixtures live: `test/fixtures` (copied from the official code's
 * reference run), or the folder named by REFERENCE_FIXTURES (same layout).
 */
import { existsSync, readdirSync, statSync } from "node:fs";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

export const FIXTURE_ROOT = process.env.REFERENCE_FIXTURES
  ? resolve(process.env.REFERENCE_FIXTURES)
  : join(fileURLToPath(new URL(".", import.meta.url)), "fixtures");

/** Sub-folders of `family` (relative to the root), sorted; [] when the family is absent. */
export function fixtureCases(family: string): string[] {
  const dir = join(FIXTURE_ROOT, family);
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((d) => statSync(join(dir, d)).isDirectory())
    .sort();
}

export function familyPresent(family: string): boolean {
  return existsSync(join(FIXTURE_ROOT, family));
}
