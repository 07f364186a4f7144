/**
 * REFERENCE_FIXTURES: a root holding none of the known families fails the run
 * with a message (it does not skip everything); a root holding one family
 * runs that family's tests. Checked by running a test file in a child
 * `node --test` with the variable set.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { cpSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { after, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { checkFixtureRoot, FixtureRootError, KNOWN_FAMILIES, REPO_FIXTURE_ROOT } from "./fixture-root.js";

const REPO = dirname(dirname(fileURLToPath(import.meta.url)));
const PROBE = "test/model/posembed.test.ts"; // small, reads one file of one family
const POSEMBED = "dit-reference/posembed/pos_embed.safetensors";

/** Run PROBE in a child test runner with REFERENCE_FIXTURES=root. */
function runProbe(root: string): { status: number | null; output: string } {
  const env: NodeJS.ProcessEnv = { ...process.env, REFERENCE_FIXTURES: root };
  delete env.NODE_TEST_CONTEXT; // else the child reports to this runner instead of running as a top-level run
  const r = spawnSync(process.execPath, ["--import", "tsx", "--test", "--test-reporter=spec", PROBE], { cwd: REPO, env, encoding: "utf8", timeout: 120_000 });
  return { status: r.status, output: `${r.stdout}${r.stderr}` };
}

describe("fixture root (REFERENCE_FIXTURES)", () => {
  const tmp = mkdtempSync(join(tmpdir(), "dit-fixture-root-"));
  after(() => rmSync(tmp, { recursive: true, force: true }));

  it("checkFixtureRoot: the repository's copy holds every known family; an empty, a missing or an unrelated folder is an error", () => {
    assert.deepEqual(checkFixtureRoot(REPO_FIXTURE_ROOT), [...KNOWN_FAMILIES]);
    const empty = join(tmp, "empty");
    mkdirSync(empty);
    assert.throws(() => checkFixtureRoot(empty), (e: Error) => e instanceof FixtureRootError && e.message.includes("holds none of the known fixture families"));
    const other = join(tmp, "other");
    mkdirSync(join(other, "dit-reference", "unrelated"), { recursive: true });
    writeFileSync(join(other, "README.md"), "not fixtures\n");
    assert.throws(() => checkFixtureRoot(other), /holds none of the known fixture families/);
    assert.throws(() => checkFixtureRoot(join(tmp, "missing")), (e: Error) => e instanceof FixtureRootError && /missing is not a folder/.test(e.message));
  });

  it("a test run with REFERENCE_FIXTURES at an empty folder fails and says why", () => {
    const empty = join(tmp, "empty-run");
    mkdirSync(empty);
    const r = runProbe(empty);
    assert.notEqual(r.status, 0, `the run passed:\n${r.output}`);
    assert.match(r.output, new RegExp(`REFERENCE_FIXTURES=${empty.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")} holds none of the known fixture families`));
    assert.doesNotMatch(r.output, /ℹ pass [1-9]/);
  });

  it("a test run with REFERENCE_FIXTURES at a root holding one family runs it", () => {
    const root = join(tmp, "posembed-only");
    mkdirSync(dirname(join(root, POSEMBED)), { recursive: true });
    cpSync(join(REPO_FIXTURE_ROOT, POSEMBED), join(root, POSEMBED));
    const r = runProbe(root);
    assert.equal(r.status, 0, r.output);
    assert.match(r.output, /ℹ pass [1-9]/);
    assert.match(r.output, /ℹ fail 0/);
  });
});
