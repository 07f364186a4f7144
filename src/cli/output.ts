/**
 * Output conventions of the `dit` command: with `--json`, stdout carries exactly
 * one compact JSON line; tables, logs and progress bars go to stderr.
 */

/** Print one JSON line on stdout. */
export function printJson(value: unknown): void {
  process.stdout.write(JSON.stringify(value) + "\n");
}

/** Human-readable log line (stderr, so stdout stays machine-readable). */
export function log(message: string): void {
  process.stderr.write(message + "\n");
}

export { table } from "../util/table.js";

export { positiveInt } from "./options.js";
