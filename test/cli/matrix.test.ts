/**
 * The `dit` command line under bad arguments: every command, with missing
 * required options, unknown options, words where numbers go, zero and negative
 * counts, bad choices, input paths that do not exist or are of the wrong kind,
 * and outputs that cannot be written (a path under a regular file: ENOTDIR; an
 * injected EACCES, since CI runs as root and chmod proves nothing there).
 *
 * Each case must: exit non-zero; print nothing on stdout; print exactly one
 * line on stderr, starting `dit: `, that says what the case got wrong (its
 * regex); no stack trace and no "internal error"; and change nothing on disk
 * (the whole fixture folder is compared before and after).
 *
 * Most cases run in this process through `runCli` (milliseconds each); a
 * handful run the real bin/dit.mjs to prove the binary behaves the same,
 * including DIT_DEBUG=1 and the EACCES preload (test/cli/eacces-preload.mjs).
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { errorMessage, errorStack } from "../../src/cli/error-line.js";
import { runCli } from "../../src/cli/main.js";
import { UsageError } from "../../src/cli/usage-error.js";
import { injectEacces } from "./eacces-preload.mjs";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const BIN = join(ROOT, "bin/dit.mjs");
const PRELOAD = join(ROOT, "test/cli/eacces-preload.mjs");

const T = mkdtempSync(join(tmpdir(), "dit-cli-matrix-"));
const FILE = join(T, "file"); // a regular file
const DIR = join(T, "dir"); // an empty folder
const RO = join(T, "ro"); // writes under it fail with an injected EACCES
const OUTS = join(T, "outs"); // outputs go here (and must never appear)
const NOPE = join(T, "no-such-path");
const LOG = join(T, "log.jsonl");
const BAD_JSON = join(T, "bad.json");
const NOT_CONFIG = join(T, "not-config.json");
writeFileSync(FILE, "not a checkpoint\n");
mkdirSync(DIR);
mkdirSync(RO);
mkdirSync(OUTS);
writeFileSync(BAD_JSON, "{ not json");
writeFileSync(NOT_CONFIG, JSON.stringify({ colour: "blue" }));
writeFileSync(LOG, [1, 2, 3].map((s) => JSON.stringify({ step: s * 10, loss: 1 / s, mse: 1 / s, vb: 0.01, grad_norm: 1, lr: 1e-4, img_per_s: 10, wall_s: s })).join("\n") + "\n");

/** Every path under `dir` with its size and kind: the "nothing written" check. */
function snapshot(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
      const p = join(d, e.name);
      if (e.isDirectory()) {
        out.push(`${p}/`);
        walk(p);
      } else out.push(`${p} ${statSync(p).size}`);
    }
  };
  walk(dir);
  return out;
}
const BEFORE = snapshot(T);

interface Case {
  name: string;
  argv: string[];
  /** What the one stderr line must say. */
  expect: RegExp;
  /** Run with writes under RO refused (EACCES). */
  eacces?: boolean;
}

const esc = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");

/** `argv` with option `flag` set to `value` (replaced when present, else appended); `value` null removes it. */
function setOpt(argv: string[], flag: string, value: string | null, hasValue = true): string[] {
  const i = argv.indexOf(flag);
  const rest = i < 0 ? argv : [...argv.slice(0, i), ...argv.slice(i + (hasValue ? 2 : 1))];
  if (value === null) return rest;
  return [...rest, flag, value];
}

/** Bad values for each kind of number option. */
const BAD_NUMBERS = {
  count: ["abc", "0", "-2", "2.5", "Infinity", "1e300"], // an integer > 0
  int: ["abc", "1.5", ""], // any integer
  nonnegInt: ["abc", "-1", "0.5"], // an integer ≥ 0
  positive: ["abc", "0", "-1e-4", "Infinity"], // a number > 0
  nonneg: ["abc", "-0.5", "NaN"], // a number ≥ 0
  image8: ["abc", "0", "-8", "12"], // a positive multiple of 8
} as const;

interface Spec {
  /** The command's words (`["study", "report"]`). */
  cmd: string[];
  /** Arguments that pass every check on their own (each case breaks one thing). */
  base: string[];
  /** Required options, each left out in turn. */
  required?: string[];
  numbers?: [flag: string, kind: keyof typeof BAD_NUMBERS | string[]][];
  choices?: [flag: string, bad: string][];
  /** Inputs: [flag, kind, options to drop first]; a missing path, and a folder where a file goes (or a file where a folder goes). */
  inputs?: [flag: string, kind: "file" | "folder" | "any", drop?: string[]][];
  /** Outputs: [flag, kind]: under a regular file (ENOTDIR), under an EACCES folder, the wrong kind of path. */
  outputs?: [flag: string, kind: "file" | "folder"][];
  /** Hand-written cases. */
  extra?: Case[];
}

function casesOf(s: Spec): Case[] {
  const cases: Case[] = [];
  const argv = (a: string[]) => [...s.cmd, ...a];
  cases.push({ name: "unknown option", argv: argv([...s.base, "--bogus"]), expect: /^dit: unknown option '--bogus'/ });
  cases.push({ name: "unknown option with a value", argv: argv([...s.base, "--no-such-flag=3"]), expect: /^dit: unknown option '--no-such-flag=3'/ });
  for (const f of s.required ?? []) cases.push({ name: `missing ${f}`, argv: argv(setOpt(s.base, f, null)), expect: new RegExp(`^dit: required option '(--[a-z-]+, )?${esc(f)} <[^>]+>' not specified`) });
  for (const [f, kind] of s.numbers ?? []) {
    for (const v of typeof kind === "string" ? BAD_NUMBERS[kind] : kind) {
      cases.push({ name: `${f} '${v}'`, argv: argv(setOpt(s.base, f, v)), expect: new RegExp(`^dit: (${esc(f)}\\b.*(must be|expected)|option '${esc(f)}.*is invalid)`) });
    }
  }
  for (const [f, v] of s.choices ?? []) cases.push({ name: `${f} '${v}'`, argv: argv(setOpt(s.base, f, v)), expect: new RegExp(`^dit: option '${esc(f)} <[^>]*>' argument '${esc(v)}' is invalid\\. Allowed choices are`) });
  for (const [f, kind, drop] of s.inputs ?? []) {
    const b = (drop ?? []).reduce((a, d) => setOpt(a, d, null), s.base);
    const put = (v: string) => (f.startsWith("--") ? setOpt(b, f, v) : b.map((x) => (x === `<${f}>` ? v : x)));
    const name = f.startsWith("--") ? f : `<${f}>`;
    cases.push({ name: `${name} missing path`, argv: argv(put(NOPE)), expect: new RegExp(`^dit: ${esc(name)}: ${esc(NOPE)} does not exist`) });
    cases.push({ name: `${name} under a file`, argv: argv(put(join(FILE, "x"))), expect: new RegExp(`^dit: ${esc(name)}: ${esc(join(FILE, "x"))} does not exist`) });
    if (kind === "file") cases.push({ name: `${name} is a folder`, argv: argv(put(DIR)), expect: new RegExp(`^dit: ${esc(name)}: ${esc(DIR)} is a folder, expected a file`) });
    if (kind === "folder") cases.push({ name: `${name} is a file`, argv: argv(put(FILE)), expect: new RegExp(`^dit: ${esc(name)}: ${esc(FILE)} is not a folder`) });
  }
  for (const [f, kind] of s.outputs ?? []) {
    const name = f.startsWith("--") ? f : `[${f}]`;
    const put = (v: string) => (f.startsWith("--") ? setOpt(s.base, f, v) : s.base.map((x) => (x === `<${f}>` ? v : x)));
    const under = join(FILE, "sub", "out.x");
    cases.push({ name: `${name} under a regular file (ENOTDIR)`, argv: argv(put(under)), expect: new RegExp(`^dit: ${esc(name)}: cannot write ${esc(under)}: ${esc(FILE)} is a file, not a folder \\(ENOTDIR\\)`) });
    const denied = join(RO, "deeper", "out.x");
    cases.push({ name: `${name} in a folder that refuses writes (EACCES)`, argv: argv(put(denied)), expect: new RegExp(`^dit: ${esc(name)}: cannot write ${esc(denied)}: ${esc(RO)} is not writable \\(EACCES\\)`), eacces: true });
    if (kind === "file") cases.push({ name: `${name} is a folder`, argv: argv(put(DIR)), expect: new RegExp(`^dit: ${esc(name)}: ${esc(DIR)} is a folder, expected a file to write`) });
    else cases.push({ name: `${name} is a file`, argv: argv(put(FILE)), expect: new RegExp(`^dit: ${esc(name)}: ${esc(FILE)} is a file, expected a folder`) });
  }
  return [...cases, ...(s.extra ?? []).map((c) => ({ ...c, argv: argv(c.argv) }))];
}

const out = (name: string) => join(OUTS, name);
const MODEL_CONFIG_INPUTS: [string, "file", string[]][] = [["--config", "file", ["--model"]]];
const configCases = (base: string[]): Case[] => [
  { name: "--config not JSON", argv: [...setOpt(base, "--model", null), "--config", BAD_JSON], expect: new RegExp(`^dit: --config: ${esc(BAD_JSON)}: the model config is not valid JSON`) },
  { name: "--config not a DiT config", argv: [...setOpt(base, "--model", null), "--config", NOT_CONFIG], expect: new RegExp(`^dit: (--config: )?${esc(NOT_CONFIG)}: not a DiT config`) },
  { name: "--model unknown", argv: setOpt(base, "--model", "XL/3"), expect: /^dit: --model: unknown model 'XL\/3', expected one of DiT-S\/8/ },
  { name: "--model and --config", argv: [...setOpt(base, "--model", "DiT-S/2"), "--config", FILE], expect: /^dit: give (one of )?--model or --config, not both/ },
];

const SPECS: Spec[] = [
  {
    cmd: ["flops"],
    base: [],
    numbers: [["--image-size", "image8"]],
    choices: [["--block", "adaLN-One"]],
    inputs: [["--config", "file"]],
    extra: [...configCases(["--model", "S/8"]), { name: "a stray argument", argv: ["stray"], expect: /^dit: too many arguments for 'flops'/ }],
  },
  {
    cmd: ["forward"],
    base: ["--model", "DiT-S/8", "--ckpt", FILE, "--inputs", FILE, "--out", out("f.safetensors")],
    required: ["--ckpt", "--inputs", "--out"],
    numbers: [["--image-size", "image8"]],
    choices: [["--cfg-mode", "both"]],
    inputs: [["--ckpt", "file"], ["--inputs", "file"], ...MODEL_CONFIG_INPUTS],
    outputs: [["--out", "file"]],
    extra: [...configCases(["--model", "DiT-S/8", "--ckpt", FILE, "--inputs", FILE, "--out", out("f.safetensors")]), { name: "neither --model nor --config", argv: ["--ckpt", FILE, "--inputs", FILE, "--out", out("f.safetensors")], expect: /^dit: give --model NAME/ }],
  },
  {
    cmd: ["convert"],
    base: ["<input>", FILE, "<output>", out("c.safetensors")].filter((x) => !x.startsWith("<")).length ? [FILE, out("c.safetensors")] : [],
    choices: [["--entry", "opt"], ["--format", "onnx"]],
    inputs: [["--vae", "any"]],
    extra: [
      { name: "no checkpoint at all", argv: [], expect: /^dit: give the checkpoint \(--ckpt FILE, or as a positional argument\)/ },
      { name: "no output", argv: [FILE], expect: /^dit: give the output \(--out FILE/ },
      { name: "[input] missing path", argv: [NOPE, out("c.safetensors")], expect: new RegExp(`^dit: \\[input\\]: ${esc(NOPE)} does not exist`) },
      { name: "[input] is a folder", argv: [DIR, out("c.safetensors")], expect: new RegExp(`^dit: \\[input\\]: ${esc(DIR)} is a folder, expected a file`) },
      { name: "--ckpt missing path", argv: ["--ckpt", NOPE, "--out", out("c.safetensors")], expect: new RegExp(`^dit: --ckpt: ${esc(NOPE)} does not exist`) },
      { name: "--ckpt is a folder", argv: ["--ckpt", DIR, "--out", out("c.safetensors")], expect: new RegExp(`^dit: --ckpt: ${esc(DIR)} is a folder`) },
      { name: "[output] under a regular file (ENOTDIR)", argv: [FILE, join(FILE, "c.safetensors")], expect: /^dit: \[output\]: cannot write .*is a file, not a folder \(ENOTDIR\)/ },
      { name: "[output] is a folder", argv: [FILE, DIR], expect: new RegExp(`^dit: \\[output\\]: ${esc(DIR)} is a folder, expected a file to write`) },
      { name: "[output] refuses writes (EACCES)", argv: [FILE, join(RO, "c.safetensors")], expect: /^dit: \[output\]: cannot write .* is not writable \(EACCES\)/, eacces: true },
      { name: "--out under a regular file (ENOTDIR)", argv: ["--ckpt", FILE, "--out", join(FILE, "c.safetensors")], expect: /^dit: --out: cannot write .*\(ENOTDIR\)/ },
      { name: "--out refuses writes (EACCES)", argv: ["--ckpt", FILE, "--out", join(RO, "c.safetensors")], expect: /^dit: --out: cannot write .*\(EACCES\)/, eacces: true },
      { name: "output given twice", argv: [FILE, out("a.safetensors"), "--out", out("b.safetensors")], expect: /^dit: output given twice/ },
      { name: "--format official with --entry", argv: [FILE, out("c.pt"), "--format", "official", "--entry", "ema"], expect: /^dit: --entry picks the entry of a \.pt/ },
      { name: "three arguments", argv: [FILE, out("c.safetensors"), "third"], expect: /^dit: too many arguments for 'convert'/ },
    ],
  },
  {
    cmd: ["bench"],
    base: ["--model", "DiT-S/8"],
    numbers: [["--batch-size", "count"], ["--runs", "count"], ["--image-size", "image8"]],
    choices: [["--block", "adaLN-Two"]],
    inputs: MODEL_CONFIG_INPUTS,
    extra: configCases(["--model", "DiT-S/8"]),
  },
  {
    cmd: ["export"],
    base: ["--model", "DiT-S/8", "--out", out("m.onnx")],
    required: ["--out"],
    numbers: [["--batch-size", "count"], ["--image-size", "image8"]],
    inputs: [["--ckpt", "file"], ...MODEL_CONFIG_INPUTS],
    outputs: [["--out", "file"]],
    extra: [...configCases(["--model", "DiT-S/8", "--out", out("m.onnx")]), { name: "neither --model nor --config", argv: ["--out", out("m.onnx")], expect: /^dit: give --model NAME/ }],
  },
  {
    cmd: ["vae-train"],
    base: ["--data", DIR, "--out", out("vae")],
    required: ["--data", "--out"],
    numbers: [
      ["--steps", "count"], ["--batch-size", "count"], ["--latent-channels", "count"], ["--layers-per-block", "count"], ["--norm-groups", "count"], ["--image-size", "count"],
      ["--lr", "positive"], ["--kl-weight", "nonneg"], ["--seed", "nonnegInt"], ["--channels", ["abc", "32,,64", "0,32", "-32", "32,6.5"]], ["--scaling-factor", ["abc", "0", "-1", "Infinity"]],
    ],
    choices: [["--recon", "l3"]],
    inputs: [["--data", "any"]],
    outputs: [["--out", "folder"]],
  },
  {
    cmd: ["train"],
    base: ["--model", "DiT-S/8", "--data", DIR, "--out", out("run")],
    required: ["--out"],
    numbers: [
      ["--image-size", "count"], ["--steps", "count"], ["--batch-size", "count"], ["--grad-accum", "count"], ["--ckpt-every", "count"], ["--log-every", "count"],
      ["--eval-samples", "count"], ["--eval-steps", "count"], ["--lr", "positive"], ["--weight-decay", "nonneg"], ["--ema-decay", ["abc", "1", "-0.1", "1.5"]],
      ["--sample-every", "nonnegInt"], ["--eval-every", "nonnegInt"], ["--seed", "nonnegInt"],
    ],
    choices: [["--block", "adaLN-Zer0"], ["--execution", "eager"], ["--eval-net", "resnet"], ["--eval-sampler", "euler"]],
    inputs: [["--data", "any"], ["--vae", "any"], ["--resume-from", "file"], ["--init", "file"], ...MODEL_CONFIG_INPUTS],
    outputs: [["--out", "folder"]],
    extra: [
      ...configCases(["--model", "DiT-S/8", "--data", DIR, "--out", out("run")]),
      { name: "--batch-size not a multiple of --grad-accum", argv: ["--model", "DiT-S/8", "--data", DIR, "--out", out("run"), "--batch-size", "6", "--grad-accum", "4"], expect: /^dit: --batch-size 6 must be a multiple of --grad-accum 4/ },
      { name: "--eval-ref missing path with --eval-every", argv: ["--model", "DiT-S/8", "--data", DIR, "--out", out("run"), "--eval-every", "5", "--eval-ref", NOPE], expect: new RegExp(`^dit: --eval-ref: ${esc(NOPE)} does not exist`) },
      { name: "misspelt option (commander suggests)", argv: ["--model", "DiT-S/8", "--data", DIR, "--out", out("run"), "--step", "5"], expect: /^dit: unknown option '--step' \(Did you mean --steps\?\)/ },
    ],
  },
  {
    cmd: ["sample"],
    base: ["--ckpt", DIR, "--out", out("samples")],
    numbers: [["--num-samples", "count"], ["--num-sampling-steps", "count"], ["--batch-size", "count"], ["--image-size", "count"], ["--workers", "count"], ["--seed", "int"], ["--cfg-scale", ["abc", "-1", "0", "0.5", "Infinity"]]],
    choices: [["--cfg-mode", "all"], ["--sampler", "euler"]],
    inputs: [["--ckpt", "any"], ["--vae", "any"], ["--config", "file"]],
    outputs: [["--out", "folder"], ["--npz", "file"]],
    extra: [
      { name: "--model unknown", argv: ["--ckpt", DIR, "--model", "DiT-Q/2"], expect: /^dit: --model: unknown model 'DiT-Q\/2'/ },
      { name: "--shard not i/n", argv: ["--ckpt", DIR, "--out", out("samples"), "--shard", "half"], expect: /^dit: --shard/ },
      { name: "--shard index ≥ count", argv: ["--ckpt", DIR, "--out", out("samples"), "--shard", "5/2"], expect: /^dit: --shard: the shard index must be an integer in 0\.\.1/ },
      { name: "--shard 0/0", argv: ["--ckpt", DIR, "--out", out("samples"), "--shard", "0/0"], expect: /^dit: --shard: the shard count must be a positive integer/ },
      { name: "--shard and --workers", argv: ["--ckpt", DIR, "--out", out("samples"), "--shard", "0/2", "--workers", "2"], expect: /^dit: give --shard or --workers, not both/ },
      { name: "--shard with --npz", argv: ["--ckpt", DIR, "--out", out("samples"), "--shard", "0/2", "--npz", out("s.npz")], expect: /^dit: --npz with --shard/ },
      { name: "--merge without --npz", argv: ["--merge", DIR], expect: /^dit: --merge DIR needs --npz FILE/ },
      { name: "--merge missing folder", argv: ["--merge", NOPE, "--npz", out("s.npz")], expect: new RegExp(`^dit: --merge: ${esc(NOPE)} does not exist`) },
      { name: "--merge is a file", argv: ["--merge", FILE, "--npz", out("s.npz")], expect: new RegExp(`^dit: --merge: ${esc(FILE)} is not a folder`) },
      { name: "--merge with --npz under a file (ENOTDIR)", argv: ["--merge", DIR, "--npz", join(FILE, "s.npz")], expect: /^dit: --npz: cannot write .*\(ENOTDIR\)/ },
    ],
  },
  {
    cmd: ["extract-latents"],
    base: ["--data", DIR, "--vae", DIR, "--out", out("latents.bin")],
    required: ["--vae", "--out"],
    numbers: [["--image-size", "count"], ["--batch-size", "count"], ["--channels", ["2", "0", "rgb"]]],
    choices: [["--split", "val"]],
    inputs: [["--data", "any"], ["--vae", "any"]],
    outputs: [["--out", "file"]],
  },
  {
    cmd: ["plot-log"],
    base: [LOG, "--out", out("loss.png")],
    numbers: [["--smooth", ["abc", "0", "-3", "1.5"]], ["--width", ["abc", "0", "-900", "99", "1e9"]], ["--height", ["abc", "0", "-1"]], ["--scale", ["abc", "0", "-2", "9", "NaN"]]],
    outputs: [["--out", "file"]],
    inputs: [["--font", "file"]],
    extra: [
      { name: "no log", argv: ["--out", out("loss.png")], expect: /^dit: missing required argument 'log'/ },
      { name: "<log> missing path", argv: [NOPE, "--out", out("loss.png")], expect: new RegExp(`^dit: <log>: ${esc(NOPE)} does not exist`) },
      { name: "<log> a run folder without log.jsonl", argv: [DIR, "--out", out("loss.png")], expect: new RegExp(`^dit: <log>: ${esc(join(DIR, "log.jsonl"))} does not exist`) },
      { name: "--series unknown", argv: [LOG, "--out", out("loss.png"), "--series", "loss,foo"], expect: /^dit: --series: unknown series 'foo'/ },
      { name: "--series empty", argv: [LOG, "--out", out("loss.png"), "--series", ","], expect: /^dit: --series: expected some of/ },
      { name: "two logs", argv: [LOG, LOG, "--out", out("loss.png")], expect: /^dit: too many arguments for 'plot-log'/ },
    ],
  },
  {
    cmd: ["fid-stats"],
    base: ["--data", DIR, "--out", out("ref.npz")],
    required: ["--data", "--out"],
    numbers: [["--image-size", "count"], ["--batch-size", "count"]],
    choices: [["--split", "val"], ["--net", "vgg"]],
    inputs: [["--data", "any"], ["--weights", "file"]],
    outputs: [["--out", "file"], ["--cache-dir", "folder"]],
  },
  {
    cmd: ["eval"],
    base: [DIR, FILE],
    numbers: [["--image-size", "count"], ["--batch-size", "count"]],
    choices: [["--net", "vgg"], ["--split", "val"]],
    inputs: [["--weights", "file"]],
    outputs: [["--json", "file"], ["--cache-dir", "folder"]],
    extra: [
      { name: "no arguments", argv: [], expect: /^dit: missing required argument 'samples'/ },
      { name: "no reference", argv: [DIR], expect: /^dit: missing required argument 'ref'/ },
      { name: "<samples> missing path", argv: [NOPE, FILE], expect: new RegExp(`^dit: <samples>: ${esc(NOPE)} does not exist`) },
      { name: "<ref> missing path", argv: [DIR, NOPE], expect: new RegExp(`^dit: <ref>: ${esc(NOPE)} does not exist`) },
    ],
  },
  ...(["scaling", "ablation", "sampling-compute"] as const).map(
    (study): Spec => ({
      cmd: ["study", study],
      base: ["--data", DIR, "--work", out("work"), "--results", out("results")],
      numbers: [["--workers", "count"]],
      choices: [["--preset", "huge"]],
      inputs: [["--data", "folder"]],
      outputs: [["--work", "folder"], ["--results", "folder"]],
    }),
  ),
  {
    cmd: ["study", "report"],
    base: ["--results", DIR],
    choices: [["--study", "scalling"]],
    inputs: [["--font", "file"]],
    extra: [{ name: "--results missing folder", argv: ["--results", NOPE], expect: /^dit: no results folder at/ }],
  },
  {
    cmd: [],
    base: [],
    extra: [
      { name: "unknown command", argv: ["frobnicate"], expect: /^dit: unknown command 'frobnicate'/ },
      { name: "unknown study", argv: ["study", "scalling"], expect: /^dit: unknown command 'scalling'/ },
    ],
  },
];

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

async function inProcess(argv: string[], opts: { eacces?: boolean; env?: Record<string, string> } = {}): Promise<Run> {
  let stdout = "";
  let stderr = "";
  const restore = opts.eacces ? injectEacces(RO) : undefined;
  try {
    const code = await runCli(argv, { stdout: (s) => (stdout += s), stderr: (s) => (stderr += s), env: opts.env ?? {} });
    return { code, stdout, stderr };
  } finally {
    restore?.();
  }
}

/** What is wrong with a run of a bad case ([] when it behaved). */
function problems(c: Case, r: Run): string[] {
  const p: string[] = [];
  if (r.code === 0) p.push("exit code 0");
  if (r.stdout !== "") p.push(`stdout not empty: ${JSON.stringify(r.stdout.slice(0, 200))}`);
  if (!r.stderr.endsWith("\n") || r.stderr.trimEnd().includes("\n")) p.push(`stderr is not one line: ${JSON.stringify(r.stderr.slice(0, 600))}`);
  const line = r.stderr.split("\n")[0]!;
  if (!line.startsWith("dit: ")) p.push(`stderr does not start with 'dit: ': ${JSON.stringify(line)}`);
  if (/^\s+at /m.test(r.stderr)) p.push("a stack trace");
  if (/internal error/.test(line)) p.push(`an internal error: ${line}`);
  if (!c.expect.test(line)) p.push(`${JSON.stringify(line)} does not match ${c.expect}`);
  const now = snapshot(T);
  if (now.join("\n") !== BEFORE.join("\n")) p.push(`files changed: ${now.filter((x) => !BEFORE.includes(x)).concat(BEFORE.filter((x) => !now.includes(x)).map((x) => `(gone) ${x}`)).join(", ")}`);
  return p;
}

const counts = new Map<string, number>();

describe("dit command line: bad arguments (matrix)", () => {
  after(() => {
    const total = [...counts.values()].reduce((a, b) => a + b, 0);
    console.log(`bad-argument cases: ${[...counts].map(([k, v]) => `${k} ${v}`).join(", ")}; total ${total}`);
    rmSync(T, { recursive: true, force: true });
  });

  for (const spec of SPECS) {
    const name = spec.cmd.length ? `dit ${spec.cmd.join(" ")}` : "dit";
    const cases = casesOf(spec);
    it(`${name}: ${cases.length} bad-argument cases, each one clean line on stderr, non-zero exit, nothing written`, async () => {
      const failed: string[] = [];
      for (const c of cases) {
        const r = await inProcess(c.argv, { eacces: c.eacces });
        const p = problems(c, r);
        if (p.length) failed.push(`${c.name} (dit ${c.argv.join(" ")}): ${p.join("; ")}`);
      }
      counts.set(name, cases.length);
      assert.deepEqual(failed, [], `${failed.length} of ${cases.length} cases failed:\n${failed.join("\n")}`);
    });
  }

  it("DIT_DEBUG=1 adds the stack after the one line (in-process)", async () => {
    const r = await inProcess(["flops", "--config", DIR], { env: { DIT_DEBUG: "1" } });
    assert.notEqual(r.code, 0);
    const [first, ...rest] = r.stderr.trimEnd().split("\n");
    assert.match(first!, new RegExp(`^dit: --config: ${esc(DIR)} is a folder, expected a file`));
    assert.match(rest.join("\n"), /^UsageError: --config: .*\n\s+at /, r.stderr);
    const quiet = await inProcess(["flops", "--config", DIR], { env: { DIT_DEBUG: "0" } });
    assert.equal(quiet.stderr.trimEnd().split("\n").length, 1, quiet.stderr);
  });

  it("errors that are not the project's own: a bug is an internal error, a system error names the call and the path", () => {
    assert.equal(errorMessage(new TypeError("x is undefined")), "internal error: TypeError: x is undefined (run with DIT_DEBUG=1 for the stack)");
    assert.equal(errorMessage(new Error("two\nlines")), "internal error: two lines (run with DIT_DEBUG=1 for the stack)");
    const sys = Object.assign(new Error("ENOSPC: no space left on device, write '/data/ckpt.tmp'"), { code: "ENOSPC", syscall: "write", path: "/data/ckpt.tmp", errno: -28 });
    assert.equal(errorMessage(sys), "cannot write /data/ckpt.tmp: no space left on device (ENOSPC)");
    assert.equal(errorMessage(new UsageError("--steps must be a positive integer, got '0'")), "--steps must be a positive integer, got '0'");
    const withCause = new UsageError("outer", { cause: new RangeError("inner") });
    assert.match(errorStack(withCause), /^UsageError: outer\n\s+at [^]*\ncaused by: RangeError: inner\n\s+at /);
  });

  it("the real bin/dit.mjs: one line, exit 1, no stack; DIT_DEBUG=1 prints it; injected EACCES and ENOTDIR, early and at the write", async () => {
    const run = (args: string[], env: Record<string, string> = {}, preload = false) =>
      new Promise<Run>((resolve, reject) => {
        const p = spawn(process.execPath, [...(preload ? ["--import", PRELOAD] : []), BIN, ...args], { cwd: T, env: { ...process.env, DIT_DEBUG: "", ...env }, stdio: ["ignore", "pipe", "pipe"] });
        let stdout = "";
        let stderr = "";
        p.stdout.on("data", (d: Buffer) => (stdout += String(d)));
        p.stderr.on("data", (d: Buffer) => (stderr += String(d)));
        const timer = setTimeout(() => p.kill("SIGKILL"), 60_000);
        p.on("error", reject);
        p.on("close", (code) => {
          clearTimeout(timer);
          resolve({ code: code ?? -1, stdout, stderr });
        });
      });
    const png = join(RO, "loss.png");
    const cases: [Case, Promise<Run>][] = [
      [{ name: "unknown option", argv: [], expect: /^dit: unknown option '--bogus' \(see 'dit flops --help'\)$/ }, run(["flops", "--bogus"])],
      [{ name: "zero steps", argv: [], expect: /^dit: --steps must be a positive integer, got '0' \(see 'dit train --help'\)$/ }, run(["train", "--data", DIR, "--out", out("run"), "--steps", "0"])],
      [{ name: "ENOTDIR", argv: [], expect: /^dit: --out: cannot write .*is a file, not a folder \(ENOTDIR\)/ }, run(["forward", "--model", "S/8", "--ckpt", FILE, "--inputs", FILE, "--out", join(FILE, "f.safetensors")])],
      [{ name: "EACCES, early check", argv: [], expect: new RegExp(`^dit: --out: cannot write ${esc(png)}: ${esc(RO)} is not writable \\(EACCES\\)`) }, run(["plot-log", LOG, "--out", png], { DIT_TEST_EACCES_DIR: RO }, true)],
      // access(2) allowed, the write itself refused: the library's atomic write fails, names the path, leaves nothing
      [{ name: "EACCES at the write", argv: [], expect: new RegExp(`^dit: cannot open ${esc(png)}: permission denied \\(EACCES\\)$`) }, run(["plot-log", LOG, "--out", png, "--width", "200", "--height", "100", "--scale", "1"], { DIT_TEST_EACCES_DIR: RO, DIT_TEST_EACCES_OPS: "open,mkdir,rename" }, true)],
    ];
    const debug = run(["flops", "--config", DIR], { DIT_DEBUG: "1" });
    const failed: string[] = [];
    for (const [c, p] of cases) {
      const r = await p;
      const bad = problems(c, r);
      if (r.code !== 1) bad.push(`exit code ${r.code}`);
      if (bad.length) failed.push(`${c.name}: ${bad.join("; ")}`);
    }
    assert.deepEqual(failed, []);
    const d = await debug;
    assert.equal(d.code, 1);
    assert.match(d.stderr, new RegExp(`^dit: --config: ${esc(DIR)} is a folder, expected a file \\(see 'dit flops --help'\\)\nUsageError: [^\n]*\n\\s+at `));
    counts.set("bin/dit.mjs (subprocess)", cases.length + 1);
  });
});
