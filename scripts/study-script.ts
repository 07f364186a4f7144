/**
 * What the study scripts (study-eval-noise.ts, study-extend.ts) share: their
 * usage text (the script's own header comment) and the committed study's
 * settings, refused unless they are this code's full preset.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { checkSameSettings } from "../src/study/results.js";
import { studyWeights } from "../src/study/runner.js";
import { studySettings, type StudySettings, type TrainStudySettings } from "../src/study/settings.js";

/** Print the header comment of the script at `moduleUrl` as its usage and exit (0 for --help, 2 for a missing option). */
export function exitWithUsage(moduleUrl: string, asked: boolean): never {
  process.stdout.write(readFileSync(new URL(moduleUrl), "utf8").split("*/")[0]!.replace(/^\/\*\*?\n?/, "").replace(/^ \* ?/gm, ""));
  process.exit(asked ? 0 : 2);
}

/** The full preset's settings of `study`, checked (weights included) against `<results>/<study>/study.json` as the study runner checks them. */
export async function committedStudySettings(results: string, study: "scaling" | "ablation"): Promise<TrainStudySettings> {
  const s = studySettings(study, "full") as TrainStudySettings;
  const stored = JSON.parse(readFileSync(join(results, study, "study.json"), "utf8")) as { settings: StudySettings };
  checkSameSettings(join(results, study), stored.settings, { ...s, weights: await studyWeights(s) });
  return s;
}
