/** The machine and software a study ran on (recorded in `study.json` with the exact command). */
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { availableParallelism, cpus, totalmem } from "node:os";

export interface MachineInfo {
  /** os.cpus()[0].model */
  cpu: string;
  /** Logical cores (os.availableParallelism()). */
  cores: number;
  memory_gib: number;
  node: string;
  platform: string;
  dit_ts: string;
  /** HEAD of the checkout (null outside a git checkout). */
  git_commit: string | null;
  /** Uncommitted changes in the checkout (null outside one). */
  git_dirty: boolean | null;
}

/** The dit-ts version (package.json two levels above this file, in src/ and dist/ alike). */
export function ditVersion(): string {
  return (JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as { version: string }).version;
}

function git(args: string[]): string | null {
  try {
    return execFileSync("git", args, { cwd: new URL("../..", import.meta.url), encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] }).trim();
  } catch {
    return null;
  }
}

/** Describe this machine. */
export function machineInfo(): MachineInfo {
  const commit = git(["rev-parse", "HEAD"]);
  const status = commit === null ? null : git(["status", "--porcelain", "--untracked-files=no"]);
  return {
    cpu: cpus()[0]?.model ?? "unknown",
    cores: availableParallelism(),
    memory_gib: Math.round((totalmem() / 2 ** 30) * 10) / 10,
    node: process.version,
    platform: `${process.platform}-${process.arch}`,
    dit_ts: ditVersion(),
    git_commit: commit,
    git_dirty: status === null ? null : status.length > 0,
  };
}
