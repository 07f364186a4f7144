/**
 * The core builds for the browser: nothing reachable from src/runtime,
 * src/model and src/diffusion imports a `node:` module (or a bare Node
 * builtin) or onnxruntime-node (file IO lives in src/io and src/cli). And the
 * runtime runs on the ONNX Runtime module it is given (`setOrt`).
 */
import assert from "node:assert/strict";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { builtinModules } from "node:module";
import { dirname, join, relative, resolve } from "node:path";
import { describe, it } from "node:test";
import * as nodeOrt from "onnxruntime-node";
import { numpy as np, type Array as JaxArray } from "@jax-js/jax";
import { compile } from "../../src/runtime/compile.js";
import { setOrt, type OrtModule } from "../../src/runtime/ort.js";
import { Tensor } from "../../src/runtime/tensor.js";

const root = resolve(import.meta.dirname, "../..");
const CORE = ["src/runtime", "src/model", "src/diffusion"];
/** Single files the browser page (web/src) bundles besides the core folders: the shared sampler loop and what it reaches. */
const PAGE_FILES = ["src/sample/loop.ts", "src/sample/pixels.ts", "src/sample/noise.ts", "src/sample/errors.ts", "src/util/rng.ts"];

/** Module specifiers a file loads at run time: static imports/re-exports (not `import type`) and literal dynamic imports. */
function runtimeImports(source: string): string[] {
  const code = source.replace(/\/\*[\s\S]*?\*\//g, "").replace(/^\s*\/\/.*$/gm, "");
  const out: string[] = [];
  const stmt = /^\s*(import|export)\s+(type\s+)?([^;]*?\bfrom\s+)?["']([^"']+)["']/gm;
  for (const m of code.matchAll(stmt)) {
    if (m[2]) continue; // import type / export type: erased
    if (m[1] === "export" && !m[3]) continue;
    if (m[3] && /^\{?\s*type\s+[^,]*\}\s*from\s+$/.test(m[3])) continue; // import { type X } from: erased
    out.push(m[4]!);
  }
  for (const m of code.matchAll(/\bimport\(\s*["']([^"']+)["']\s*\)/g)) out.push(m[1]!);
  return out;
}

const NODE_BUILTINS = new Set(builtinModules);
const forbidden = (spec: string) => spec.startsWith("node:") || NODE_BUILTINS.has(spec) || spec === "onnxruntime-node";

function tsFiles(dir: string): string[] {
  return readdirSync(join(root, dir), { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? tsFiles(join(dir, e.name)) : e.name.endsWith(".ts") ? [join(dir, e.name)] : []));
}

/** Every forbidden import reachable from `files` through relative imports, as "chain → specifier". */
function reachableForbidden(files: string[]): string[] {
  const bad: string[] = [];
  const seen = new Set<string>();
  const visit = (file: string, chain: string[]) => {
    if (seen.has(file)) return;
    seen.add(file);
    for (const spec of runtimeImports(readFileSync(join(root, file), "utf8"))) {
      if (forbidden(spec)) bad.push(`${[...chain, file].join(" → ")} imports "${spec}"`);
      else if (spec.startsWith(".") && !spec.endsWith(".json")) visit(relative(root, resolve(root, dirname(file), spec.replace(/\.js$/, ".ts"))), [...chain, file]);
    }
  };
  for (const f of files) visit(f, []);
  return bad;
}

describe("browser-ready core", () => {
  it("the scanner finds what it looks for (io files do import node: modules)", () => {
    const found = reachableForbidden(["src/io/safetensors.ts"]);
    assert.ok(found.some((s) => s.includes('"node:fs"')), found.join("\n"));
    assert.deepEqual(runtimeImports('import type { A } from "node:fs";\nimport { type B } from "node:os";\nexport type { C } from "node:path";'), []);
    assert.deepEqual(runtimeImports('import * as o from "onnxruntime-node";\nconst m = await import("node:os");'), ["onnxruntime-node", "node:os"]);
  });

  for (const dir of CORE) {
    it(`${dir}: nothing reachable imports node: modules or onnxruntime-node`, () => {
      const files = tsFiles(dir);
      assert.ok(files.length > 0, `no .ts files under ${dir}`);
      const bad = reachableForbidden(files);
      assert.deepEqual(bad, [], `imports a browser bundle cannot resolve:\n  ${bad.join("\n  ")}`);
    });
  }

  for (const file of PAGE_FILES) {
    it(`${file}: nothing reachable imports node: modules or onnxruntime-node`, () => {
      const bad = reachableForbidden([file]);
      assert.deepEqual(bad, [], `imports a browser bundle cannot resolve:\n  ${bad.join("\n  ")}`);
    });
  }

  it("web/src (the page): nothing reachable imports node: modules or onnxruntime-node", (t) => {
    const files = existsSync(join(root, "web/src")) ? tsFiles("web/src") : [];
    if (files.length === 0) return t.skip("no web/src/*.ts in this checkout");
    const bad = reachableForbidden(files);
    assert.deepEqual(bad, [], `imports a browser bundle cannot resolve:\n  ${bad.join("\n  ")}`);
  });

  it("compiled functions run on the ONNX Runtime module given to setOrt", async () => {
    let created = 0;
    const counting: OrtModule = {
      Tensor: nodeOrt.Tensor,
      InferenceSession: {
        create: (...args: unknown[]) => {
          created++;
          return (nodeOrt.InferenceSession.create as (...a: unknown[]) => unknown)(...args);
        },
      } as unknown as OrtModule["InferenceSession"],
    };
    setOrt(counting, { threads: 1 });
    const f = compile((a: JaxArray) => np.multiply(a, 2));
    const out = (await f(new Tensor(Float32Array.of(1, 2, 3), [3]))) as Tensor;
    await f.dispose();
    assert.deepEqual([...out.data], [2, 4, 6]);
    assert.equal(created, 1);
  });
});
