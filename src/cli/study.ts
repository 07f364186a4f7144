/**
 * `dit study scaling | ablation | sampling-compute`: the paper's studies at
 * laptop scale (the library's `runStudy`, src/study); this file only parses
 * arguments and prints. `dit study report` is registered below (see REPORT).
 */
import { Option, type Command } from "commander";
import { FASHION_MNIST_DIR } from "../data/dataset.js";
import { PRESET_NAMES, runStudy, studyRuns, studySettings, type PresetName, type StudyName, type StudyProgress } from "../study/index.js";
import { configCost } from "../study/settings.js";
import { log, positiveInt, printJson } from "./output.js";
import { checkInput, checkOutputFolder } from "./paths.js";
import { registerStudyReport } from "./study-report.js";

interface StudyCliOpts {
  preset: PresetName;
  work: string;
  results: string;
  workers: number;
  gitCommit?: boolean;
  data: string;
  json?: boolean;
}

const ABOUT: Record<Exclude<StudyName, never>, string> = {
  scaling: "train the scaling grid (sizes S/M/L × patch 4/2/1 on 8×8 Fashion-MNIST latents) with one recipe, FID-FMNIST of the EMA along training (the paper's Figs. 6, 8, 9)",
  ablation: "train the four conditioning blocks (adaLN-Zero, adaLN, cross-attention, in-context) on M/2, 2 seeds each, FID-FMNIST along training (the paper's Fig. 5)",
  "sampling-compute": "sample the scaling study's final EMA checkpoints with 8 … 256 DDPM steps (respaced): FID against sampling compute = Gflops × steps (the paper's Fig. 10)",
};

/** The progress display: runs done / total and the current runs' steps, on one stderr line (a log line per finished run). */
function progressDisplay(study: string, quiet: boolean): { on: (e: StudyProgress) => void; stop: () => void } {
  const tty = process.stderr.isTTY && !quiet;
  let done = 0;
  let total = 0;
  const current = new Map<string, string>();
  let last = 0;
  const draw = (force = false) => {
    if (!tty) return;
    const now = performance.now();
    if (!force && now - last < 250) return;
    last = now;
    const cur = [...current].map(([r, s]) => `${r} ${s}`).join(" | ");
    process.stderr.write(`\r\x1b[K${study}: ${done}/${total} runs done${cur ? ` | ${cur}` : ""}`.slice(0, (process.stderr.columns || 120) + 5));
  };
  const line = (msg: string) => {
    if (quiet) return;
    if (tty) process.stderr.write("\r\x1b[K");
    log(msg);
    draw(true);
  };
  return {
    on: (e) => {
      switch (e.kind) {
        case "plan":
          total = e.total;
          done = e.done;
          line(`${study}: ${e.total} runs, ${e.done} done already (results present)${e.pending.length ? `; to run: ${e.pending.join(", ")}` : ""}`);
          break;
        case "latents":
          if (tty) process.stderr.write(`\r\x1b[K${study}: latents ${e.done}/${e.total}`);
          break;
        case "run-start":
          current.set(e.run, "starting");
          draw(true);
          break;
        case "step":
          current.set(e.run, `step ${e.step}/${e.steps}`);
          draw();
          break;
        case "eval":
          line(`${study}: ${e.run} ${e.sampling_steps !== undefined ? `${e.sampling_steps} sampling steps` : `step ${e.step}`}: FID ${e.fid.toFixed(2)}`);
          break;
        case "run-done":
          done = e.done;
          current.delete(e.run);
          line(`${study}: ${e.run} done (${e.done}/${e.total}, ${e.seconds.toFixed(0)} s) → ${e.file}`);
          break;
        case "info":
          line(e.message);
          break;
      }
    },
    stop: () => {
      if (tty) process.stderr.write("\r\x1b[K");
    },
  };
}

function registerOne(study: Command, name: StudyName): void {
  study
    .command(name)
    .description(ABOUT[name])
    .addOption(new Option("--preset <name>", "study settings: full (the budgets on 2 cores) or smoke (minutes, for tests)").choices([...PRESET_NAMES]).default("full"))
    .option("--work <dir>", "work folder: latents and one training folder per run, <work>/<study>/<run>/ (resumable)", "out/studies")
    .option("--results <dir>", "results root: raw JSONL rows <results>/<study>/runs/<run>.jsonl, grids, study.json (a run with a rows file is done)", "docs/studies")
    .option("--workers <k>", "runs at once, each in a child process with cores/k ONNX Runtime threads", positiveInt("workers"), 1)
    .option("--git-commit", "after each finished run, git-commit its rows, grid and study.json (only those files)")
    .option("--data <dir>", "the Fashion-MNIST IDX folder (train split: training data; test split: the FID reference)", FASHION_MNIST_DIR)
    .option("--json", 'print one JSON line {"study", "preset", "results", "total", "skipped", "finished", "stopped"} on stdout')
    .addHelpText("after", () => {
      const s = studySettings(name, "full");
      const runs = studyRuns(s);
      return `\nThe full preset's runs: ${runs.map((r) => `${r.id} (${configCost(r.config).gflops.toFixed(4)} Gflops)`).join(", ")}.\nInterrupted (Ctrl-C or killed), the same command continues: finished runs are skipped, the run in progress resumes from its last checkpoint.`;
    })
    .action(async (o: StudyCliOpts, cmd: Command) => {
      if (cmd.getOptionValueSource("data") === "cli") checkInput("--data", o.data, "folder"); // the default is only read when a run is left to do
      checkOutputFolder("--work", o.work);
      checkOutputFolder("--results", o.results);
      const ctrl = new AbortController();
      const display = progressDisplay(name, !!o.json);
      const onSigint = () => {
        log(`\n${name}: interrupted; the runs in progress save a checkpoint (the same command resumes)`);
        ctrl.abort();
      };
      process.once("SIGINT", onSigint);
      let r;
      try {
        r = await runStudy(name, { preset: o.preset, work: o.work, results: o.results, workers: o.workers, gitCommit: o.gitCommit, datasetDir: o.data, signal: ctrl.signal, onProgress: display.on });
      } finally {
        process.removeListener("SIGINT", onSigint);
        display.stop();
      }
      if (r.stopped) process.exitCode = 130;
      if (o.json) printJson({ study: r.study, preset: r.preset, results: r.resultsDir, total: r.total, skipped: r.skipped, finished: r.finished, stopped: r.stopped });
      else process.stdout.write(`${name} (${r.preset}): ${r.skipped.length + r.finished.length}/${r.total} runs done (${r.finished.length} this time, ${r.skipped.length} already)${r.stopped ? ", stopped" : ""}; rows in ${r.resultsDir}/runs/\n`);
    });
}

export function registerStudy(program: Command): void {
  const study = program.command("study").description("the paper's studies at laptop scale on Fashion-MNIST latents: scaling, ablation, sampling-compute (resumable; raw JSONL results under docs/studies/)");
  registerOne(study, "scaling");
  registerOne(study, "ablation");
  registerOne(study, "sampling-compute");
  registerStudyReport(study); // `dit study report` (src/cli/study-report.ts)
}
