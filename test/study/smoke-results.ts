/**
 * The smoke studies' raw results, for tests of the study runner and the report:
 * `smokeStudies(root)` runs the three smoke presets into `root/work` and
 * `root/results` (scaling first: sampling-compute samples its checkpoints) and
 * returns the rows by study.
 *
 * `node --import tsx test/study/smoke-results.ts` rewrites the committed fixtures
 * test/study/fixtures/smoke-<study>.jsonl (every run's rows, in run order).
 */
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { runStudy, studyRuns, studySettings, type StudyName, type StudyRow, type StudyResult } from "../../src/study/index.js";

export const FIXTURES = fileURLToPath(new URL("./fixtures", import.meta.url));

/** Rows of every run of a finished study in `results` (runs in the study's order). */
export function studyRows(results: string, study: StudyName): StudyRow[] {
  return studyRuns(studySettings(study, "smoke")).flatMap((r) =>
    readFileSync(join(results, study, "runs", `${r.id}.jsonl`), "utf8")
      .split("\n")
      .filter((l) => l.trim())
      .map((l) => JSON.parse(l) as StudyRow),
  );
}

/** Run the three smoke studies into `root`; returns each study's result, rows and seconds. */
export async function smokeStudies(root: string, opts: { workers?: Partial<Record<StudyName, number>> } = {}): Promise<Record<StudyName, { result: StudyResult; rows: StudyRow[]; seconds: number }>> {
  const work = join(root, "work");
  const results = join(root, "results");
  const out = {} as Record<StudyName, { result: StudyResult; rows: StudyRow[]; seconds: number }>;
  for (const study of ["scaling", "sampling-compute", "ablation"] as const) {
    const t0 = performance.now();
    const result = await runStudy(study, { preset: "smoke", work, results, workers: opts.workers?.[study] ?? 1, command: `dit study ${study} --preset smoke` });
    out[study] = { result, rows: studyRows(results, study), seconds: (performance.now() - t0) / 1000 };
  }
  return out;
}

/** The committed fixture rows of a smoke study. */
export function smokeFixture(study: StudyName): StudyRow[] {
  return readFileSync(join(FIXTURES, `smoke-${study}.jsonl`), "utf8")
    .split("\n")
    .filter((l) => l.trim())
    .map((l) => JSON.parse(l) as StudyRow);
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const root = mkdtempSync(join(tmpdir(), "dit-study-smoke-"));
  const all = await smokeStudies(root);
  for (const [study, r] of Object.entries(all)) {
    writeFileSync(join(FIXTURES, `smoke-${study}.jsonl`), r.rows.map((x) => JSON.stringify(x) + "\n").join(""));
    process.stderr.write(`${study}: ${r.rows.length} rows, ${r.seconds.toFixed(0)} s → ${join(FIXTURES, `smoke-${study}.jsonl`)}\n`);
  }
}
