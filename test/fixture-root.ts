/**
 * Where parity fixtures live: `test/fixtures` (copied from the official code's
 * reference run), or the folder named by REFERENCE_FIXTURES (same layout; it
 * may hold any subset of the families, and other cases of them).
 *
 * A REFERENCE_FIXTURES folder that holds none of the known families is an
 * error (importing this module throws), not a run where everything skips.
 * Tests skip an absent family or file by name: `fixtureSkip(...)`.
 *
 * `test/fixtures/torch` is not a reference family: those files are the
 * project's own, made from the repository's copies (see their generators), so
 * tests read them from REPO_FIXTURE_ROOT whatever REFERENCE_FIXTURES says.
 */
import { existsSync, readdirSync, statSync } from "node:fs";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

/** The repository's own copy of the fixtures (`test/fixtures`). */
export const REPO_FIXTURE_ROOT = join(fileURLToPath(new URL(".", import.meta.url)), "fixtures");

/**
 * The families (paths under a root) of the reference set; a root must hold at
 * least one. Add a family here when its tests land.
 */
export const KNOWN_FAMILIES: readonly string[] = [
  "dit-reference/models",
  "dit-reference/diffusion",
  "dit-reference/posembed",
  "dit-reference/official_configs.json",
  "vae-reference",
  "train-reference",
  "fid-math",
  "inception-reference",
];

/** Thrown (at import) when REFERENCE_FIXTURES names no usable fixture root. */
export class FixtureRootError extends Error {
  override name = "FixtureRootError";
}

/** Check that `root` holds at least one known family; returns the families it holds. */
export function checkFixtureRoot(root: string, what = root): string[] {
  if (!existsSync(root) || !statSync(root).isDirectory()) {
    throw new FixtureRootError(`${what} is not a folder: expected a fixture root laid out like test/fixtures`);
  }
  const present = KNOWN_FAMILIES.filter((f) => existsSync(join(root, f)));
  if (present.length === 0) {
    throw new FixtureRootError(
      `${what} holds none of the known fixture families (${KNOWN_FAMILIES.join(", ")}): ` +
        "every parity test would skip; point it at a folder laid out like test/fixtures",
    );
  }
  return present;
}

const ENV = process.env.REFERENCE_FIXTURES;

export const FIXTURE_ROOT = ENV ? resolve(ENV) : REPO_FIXTURE_ROOT;

if (ENV) checkFixtureRoot(FIXTURE_ROOT, `REFERENCE_FIXTURES=${ENV}`);

/** `rel` (a family, case or file path) under the fixture root. */
export function fixturePath(...rel: string[]): string {
  return join(FIXTURE_ROOT, ...rel);
}

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

/**
 * A `skip` option for node:test: false when every path (relative to the
 * fixture root) exists, otherwise a reason naming the absent ones.
 */
export function fixtureSkip(...rel: string[]): string | false {
  const absent = rel.filter((r) => !existsSync(join(FIXTURE_ROOT, r)));
  return absent.length === 0 ? false : `no ${absent.join(", ")} under ${FIXTURE_ROOT}`;
}

/**
 * A `skip` option for one case of a family: false when every file of the case
 * (`dir` absolute, `files` relative to it) exists, otherwise a reason naming
 * the absent ones, so a root holding half a case skips it by name instead of
 * crashing.
 */
export function caseSkip(dir: string, files: readonly string[]): string | false {
  const absent = files.filter((f) => !existsSync(join(dir, f)));
  return absent.length === 0 ? false : `incomplete case ${dir}: no ${absent.join(", ")}`;
}
