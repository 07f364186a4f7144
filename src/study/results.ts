/**
 * A study's folders: the results folder (`docs/studies/<study>/`: study.json,
 * runs/<run>.jsonl, grids/<run>.png — committed) and the work folder
 * (`<work>/<study>/`: a settings file and one training folder per run).
 *
 * A run's rows file is written atomically once the run is finished, so a file
 * present means the run is done, on any machine that has the results. A
 * folder made with other settings is refused, naming the setting that differs.
 */
import { execFileSync } from "node:child_process";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { writeFileAtomic } from "../io/atomic-file.js";
import { StudyError, StudySettingsError } from "./errors.js";
import type { MachineInfo } from "./machine.js";
import { rowsToJsonl, type StudyRow } from "./rows.js";
import type { PresetName, StudyName, StudySettings } from "./settings.js";

/** One sitting of a study: the command and the machine. */
export interface Sitting {
  command: string;
  machine: MachineInfo;
  started: string;
}

/** `docs/studies/<study>/study.json`. */
export interface StudyFile {
  study: StudyName;
  preset: PresetName;
  settings: StudySettings;
  /** The latest sitting's command and machine. */
  command: string;
  machine: MachineInfo;
  /** Every sitting that ran this study into this folder, oldest first. */
  sittings: Sitting[];
}

/** The first path at which two JSON values differ ("" when equal): e.g. `recipe.steps`, `configs[3].hidden_size`. */
export function settingsDiff(a: unknown, b: unknown, path = ""): string | undefined {
  if (a === b) return undefined;
  if (Array.isArray(a) && Array.isArray(b)) {
    if (a.length !== b.length) return `${path || "(root)"}.length`;
    for (let i = 0; i < a.length; i++) {
      const d = settingsDiff(a[i], b[i], `${path}[${i}]`);
      if (d !== undefined) return d;
    }
    return undefined;
  }
  if (a && b && typeof a === "object" && typeof b === "object" && !Array.isArray(a) && !Array.isArray(b)) {
    const keys = [...new Set([...Object.keys(a), ...Object.keys(b)])].sort();
    for (const k of keys) {
      const d = settingsDiff((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k], path ? `${path}.${k}` : k);
      if (d !== undefined) return d;
    }
    return undefined;
  }
  return path || "(root)";
}

/** The value at a settingsDiff path (for the error message). */
function valueAt(v: unknown, path: string): unknown {
  for (const part of path.replace(/\[(\d+)\]/g, ".$1").split(".").filter((p) => p !== "" && p !== "(root)")) {
    if (part === "length" && Array.isArray(v)) return v.length;
    if (v === null || typeof v !== "object") return undefined;
    v = (v as Record<string, unknown>)[part];
  }
  return v;
}

/** Refuse `stored` settings that differ from `wanted`. */
export function checkSameSettings(folder: string, stored: StudySettings, wanted: StudySettings): void {
  const d = settingsDiff(stored, wanted);
  if (d !== undefined) throw new StudySettingsError(folder, d, valueAt(stored, d), valueAt(wanted, d));
}

function readJson<T>(path: string): T {
  try {
    return JSON.parse(readFileSync(path, "utf8")) as T;
  } catch (e) {
    throw new StudyError(`${path}: cannot read it as JSON (${(e as Error).message}); delete it to start over`);
  }
}

/** The results folder of one study: `<results>/<study>/`. */
export class ResultsFolder {
  constructor(readonly dir: string) {}

  get studyFile(): string {
    return join(this.dir, "study.json");
  }
  runFile(run: string): string {
    return join(this.dir, "runs", `${run}.jsonl`);
  }
  gridFile(run: string): string {
    return join(this.dir, "grids", `${run}.png`);
  }
  /** A grid's path as the rows record it (relative to this folder). */
  gridRef(run: string): string {
    return `grids/${run}.png`;
  }

  /**
   * Check the settings against study.json (refusing others, naming the
   * setting), then record this sitting. Creates the folder and file when new.
   */
  open(settings: StudySettings, sitting: Sitting): StudyFile {
    let file: StudyFile;
    if (existsSync(this.studyFile)) {
      const old = readJson<StudyFile>(this.studyFile);
      checkSameSettings(this.dir, old.settings, settings);
      file = { ...old, command: sitting.command, machine: sitting.machine, sittings: [...(old.sittings ?? []), sitting] };
    } else {
      file = { study: settings.study, preset: settings.preset, settings, command: sitting.command, machine: sitting.machine, sittings: [sitting] };
    }
    writeFileAtomic(this.studyFile, JSON.stringify(file, null, 2) + "\n");
    return file;
  }

  /** Check only (workers): the folder's settings must be these. */
  check(settings: StudySettings): void {
    if (!existsSync(this.studyFile)) throw new StudyError(`${this.studyFile}: missing (the parent process writes it before starting workers)`);
    checkSameSettings(this.dir, readJson<StudyFile>(this.studyFile).settings, settings);
  }

  /** Ids of the finished runs (a rows file present = done). */
  doneRuns(): Set<string> {
    const dir = join(this.dir, "runs");
    if (!existsSync(dir)) return new Set();
    return new Set(readdirSync(dir).filter((f) => f.endsWith(".jsonl") && !f.startsWith(".")).map((f) => f.slice(0, -".jsonl".length)));
  }

  /** Write a finished run's rows, atomically. */
  writeRun(run: string, rows: readonly StudyRow[]): string {
    const path = this.runFile(run);
    writeFileAtomic(path, rowsToJsonl(rows));
    return path;
  }

  /** Read a finished run's rows. */
  readRun(run: string): StudyRow[] {
    return readFileSync(this.runFile(run), "utf8")
      .split("\n")
      .filter((l) => l.trim() !== "")
      .map((l) => JSON.parse(l) as StudyRow);
  }
}

/** The work folder of one study: `<work>/<study>/` with `settings.json` and one folder per run. */
export class WorkFolder {
  constructor(readonly dir: string) {}

  runDir(run: string): string {
    return join(this.dir, run);
  }

  /** Check (or record) the settings the run folders were trained with. */
  open(settings: StudySettings): void {
    const path = join(this.dir, "settings.json");
    if (existsSync(path)) checkSameSettings(this.dir, readJson<StudySettings>(path), settings);
    else writeFileAtomic(path, JSON.stringify(settings, null, 2) + "\n");
  }
}

/**
 * `--git-commit`: commit just these files (a finished run's rows and grid, and
 * study.json) in the repository that holds them. Retries while another git
 * process holds the index lock.
 */
export function gitCommitFiles(files: readonly string[], message: string): void {
  const abs = files.filter((f) => existsSync(f)).map((f) => resolve(f));
  if (abs.length === 0) return;
  const cwd = dirname(abs[0]!);
  const top = execFileSync("git", ["rev-parse", "--show-toplevel"], { cwd, encoding: "utf8" }).trim();
  const rel = abs.map((f) => relative(top, f));
  const run = (args: string[]) => {
    for (let attempt = 0; ; attempt++) {
      try {
        return execFileSync("git", args, { cwd: top, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
      } catch (e) {
        const msg = String((e as { stderr?: string }).stderr ?? (e as Error).message);
        if (attempt < 20 && /index\.lock/.test(msg)) {
          Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 500); // another git process: wait and retry
          continue;
        }
        throw new StudyError(`--git-commit: git ${args.join(" ")} failed: ${msg.trim()}`);
      }
    }
  };
  run(["add", "--", ...rel]);
  const staged = run(["diff", "--cached", "--name-only", "--", ...rel]);
  if (staged?.trim()) run(["commit", "-m", message, "--", ...rel]);
}
