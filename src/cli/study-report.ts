/** `dit study report`: regenerate the studies' plots, REPORT.md files and index from the raw results (src/study/report.ts). */
import { Option, type Command } from "commander";
import { STUDY_NAMES, type StudyName } from "../study/report-rows.js";
import { studyReport } from "../study/report.js";
import { log, printJson } from "./output.js";
import { checkInput } from "./paths.js";

export function registerStudyReport(study: Command): void {
  study
    .command("report")
    .description("regenerate, from the raw results alone (<results>/<study>/runs/*.jsonl, study.json), each study's plots (SVG + PNG) and REPORT.md, and the index <results>/README.md")
    .option("--results <dir>", "results root holding <study>/runs/*.jsonl", "docs/studies")
    .addOption(new Option("--study <name>", "which study to report (the index always covers all)").choices([...STUDY_NAMES, "all"]).default("all"))
    .option("--font <file>", "a TrueType/OpenType font for the PNG text (default: a common system font)")
    .option("--json", 'print one JSON line {"results", "index", "studies": [{"study", "status", "report", "plots", "hypotheses"}], "written"} on stdout')
    .addHelpText("after", "\nA study without results is skipped (said so on stderr and in the index). A malformed row is refused, naming its file and line, before anything is written.\nThe human analysis of a failed hypothesis goes in <results>/<study>/analysis.md: the report includes it verbatim and never overwrites it.")
    .action(async (o: { results: string; study: StudyName | "all"; font?: string; json?: boolean }) => {
      checkInput("--font", o.font, "file");
      const r = await studyReport({ results: o.results, study: o.study, fontFile: o.font });
      for (const s of r.studies) {
        for (const n of s.notes) log(`dit study report: ${n}`);
        if (s.status === "no-results") continue;
        const hs = s.summary && "hypotheses" in s.summary ? s.summary.hypotheses : [];
        if (!o.json) process.stdout.write(`${s.study}: ${s.report}${hs.map((h) => `; hypothesis ${h.id} ${h.verdict}`).join("")} (${s.plots.length} plot${s.plots.length === 1 ? "" : "s"})\n`);
      }
      if (o.json)
        printJson({
          results: r.results,
          index: r.index,
          studies: r.studies.map((s) => ({ study: s.study, status: s.status, report: s.report, plots: s.plots.map((p) => p.png), hypotheses: s.summary && "hypotheses" in s.summary ? s.summary.hypotheses.map((h) => ({ id: h.id, verdict: h.verdict })) : [] })),
          written: r.written,
        });
      else process.stdout.write(`index: ${r.index}\n`);
    });
}
