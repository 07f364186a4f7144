/**
 * Reading small JSON files that come from outside (model and VAE `config.json`) without
 * trusting them: a size cap before reading, strict UTF-8, a JSON object at the top, and a
 * bounded nesting depth, each refused with an error that names the file and what is wrong.
 * The caller chooses the error class (`fail`), so each loader keeps its own typed error.
 */
import { readFileSync, statSync } from "node:fs";

/** The largest config file read: 1 MiB (real ones are a few KiB). */
export const MAX_JSON_CONFIG_BYTES = 2 ** 20;
/** The deepest nesting accepted in a config (real ones nest 2 or 3 levels). */
export const MAX_JSON_DEPTH = 32;

/** Builds the caller's typed error from a message that already names the file. */
export type JsonFileError = (message: string, cause?: unknown) => Error;

/** Nesting depth of a parsed JSON value (iterative: no recursion on hostile input). */
export function jsonDepth(v: unknown): number {
  let max = 0;
  const stack: [unknown, number][] = [[v, 0]];
  while (stack.length) {
    const [x, d] = stack.pop()!;
    if (x === null || typeof x !== "object") continue;
    max = Math.max(max, d + 1);
    for (const y of Array.isArray(x) ? x : Object.values(x as Record<string, unknown>)) stack.push([y, d + 1]);
  }
  return max;
}

/** Read `path` as a JSON object (`what` names it in messages, e.g. "VAE config"). */
export function readJsonObjectFile(path: string, what: string, fail: JsonFileError): Record<string, unknown> {
  const cannot = (e: unknown) => fail(`${path}: cannot read the ${what} (${e instanceof Error ? e.message : String(e)})`, e);
  let size: number;
  try {
    size = statSync(path).size;
  } catch (e) {
    throw cannot(e);
  }
  if (size > MAX_JSON_CONFIG_BYTES) throw fail(`${path}: ${size} bytes is too large for a ${what} (at most ${MAX_JSON_CONFIG_BYTES})`);
  let bytes: Buffer;
  try {
    bytes = readFileSync(path);
  } catch (e) {
    throw cannot(e);
  }
  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch (e) {
    throw fail(`${path}: the ${what} is not valid UTF-8`, e);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw fail(`${path}: the ${what} is not valid JSON (${e instanceof Error ? e.message : String(e)})`, e);
  }
  if (json === null || typeof json !== "object" || Array.isArray(json)) {
    throw fail(`${path}: the ${what} must be a JSON object, got ${Array.isArray(json) ? "an array" : json === null ? "null" : `a ${typeof json}`}`);
  }
  const depth = jsonDepth(json);
  if (depth > MAX_JSON_DEPTH) throw fail(`${path}: the ${what} nests ${depth} levels deep (at most ${MAX_JSON_DEPTH})`);
  return json as Record<string, unknown>;
}
