/**
 * A study worker (`runStudy` with `workers` > 1): one run in its own process.
 * Argument: a WorkerJob as JSON. Progress goes to stdout as JSON lines; the
 * run's rows file is written here, as in the single-process path. SIGINT:
 * the run writes a checkpoint and the worker exits.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { setOrt, type OrtModule } from "../runtime/ort.js";
import { StudyError } from "./errors.js";
import { ResultsFolder, WorkFolder } from "./results.js";
import { runOne, type WorkerJob } from "./runner.js";
import { studyRuns, type StudySettings } from "./settings.js";

const job = JSON.parse(process.argv[2] ?? "null") as WorkerJob | null;
if (!job) throw new StudyError("study worker: expected one argument, the job as JSON");
// fewer ONNX Runtime threads per process: k workers share the cores
setOrt((await import("onnxruntime-node")) as unknown as OrtModule, { threads: job.threads });
const settings = JSON.parse(readFileSync(join(job.work, "settings.json"), "utf8")) as StudySettings;
const results = new ResultsFolder(job.results);
results.check(settings);
const run = studyRuns(settings).find((r) => r.id === job.run);
if (!run) throw new StudyError(`study worker: no run '${job.run}' in ${join(job.work, "settings.json")}`);
const ctrl = new AbortController();
process.on("SIGINT", () => ctrl.abort());
const ok = await runOne({ settings, results, work: new WorkFolder(job.work), scalingWork: new WorkFolder(job.scalingWork), latents: job.latents, datasetDir: job.datasetDir, signal: ctrl.signal, onProgress: (e) => process.stdout.write(JSON.stringify(e) + "\n") }, run);
process.exitCode = ok ? 0 : 130;
