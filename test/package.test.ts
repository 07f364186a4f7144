/**
 * The published package: `npm run build` (tsc → dist/, run by `npm pack`)
 * emits JavaScript and declarations that plain Node imports without tsx —
 * what `import { DiT } from "dit-ts"` loads for users, and what the `dit`
 * command runs once installed.
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { cpSync, existsSync, mkdirSync, readFileSync, rmSync } from "node:fs";
import { join, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { after, before, describe, it } from "node:test";

const root = resolve(import.meta.dirname, "..");
// inside the repository, so the build resolves this checkout's node_modules
const outDir = join(root, "out", `test-dist-${process.pid}`);
const installDir = `${outDir}-installed`;
after(() => {
  rmSync(outDir, { recursive: true, force: true });
  rmSync(installDir, { recursive: true, force: true });
});

describe("package build", () => {
  before(() => {
    execFileSync(process.execPath, [join(root, "node_modules", "typescript", "bin", "tsc"), "-p", join(root, "tsconfig.build.json"), "--outDir", outDir], { cwd: root, stdio: "pipe" });
  });

  it("emits dist/ with declarations that plain Node (no tsx) imports and runs", () => {
    for (const f of ["index.js", "index.d.ts", "model/imagenet-classes.json", "diffusion/dpm-solver.d.ts"]) assert.ok(existsSync(join(outDir, f)), `missing ${f}`);
    const script = `
      const m = await import(${JSON.stringify(pathToFileURL(join(outDir, "index.js")).href)});
      const c = { ...m.officialConfig("DiT-S/2"), depth: 1, inputSize: 8 };
      const model = new m.DiT(c, m.initParams(c, 0));
      const out = await model.forward(new m.Tensor(new Float32Array(256), [1, 4, 8, 8]), new m.Tensor(Float32Array.of(3), [1]), new m.Tensor(Int32Array.of(1), [1]));
      await model.dispose();
      console.log(JSON.stringify({ cls: m.findClass("golden retriever"), params: m.countParams(m.officialConfig("DiT-XL/2")), shape: out.shape }));`;
    const res = JSON.parse(execFileSync(process.execPath, ["--input-type=module", "-e", script], { cwd: root, encoding: "utf8" }).trim().split("\n").pop()!);
    assert.deepEqual(res, { cls: 207, params: 675129632, shape: [1, 8, 8, 8] });
  });

  it("bin/dit.mjs in an installed package (under node_modules, no src/) runs dist/cli/main.js with plain Node", () => {
    // the installed layout: node_modules/dit-ts/{package.json, bin, dist}; its dependencies resolve from the repository's node_modules
    const pkg = join(installDir, "node_modules", "dit-ts");
    mkdirSync(pkg, { recursive: true });
    cpSync(join(root, "package.json"), join(pkg, "package.json"));
    cpSync(join(root, "bin"), join(pkg, "bin"), { recursive: true });
    cpSync(outDir, join(pkg, "dist"), { recursive: true });
    const run = (...args: string[]) => execFileSync(process.execPath, [join(pkg, "bin", "dit.mjs"), ...args], { cwd: installDir, encoding: "utf8", env: { ...process.env, NODE_OPTIONS: "" } });
    const { version } = JSON.parse(readFileSync(join(root, "package.json"), "utf8")) as { version: string };
    assert.equal(run("--version").trim(), version);
    assert.match(run("--help"), /Usage: dit .*\n[\s\S]*flops/);
    assert.match(run("flops", "--model", "S/2", "--block", "adaLN-Zero", "--json"), /"model":"DiT-S\/2"/);
  });
});
