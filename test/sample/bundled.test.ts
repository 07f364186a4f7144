/**
 * The bundled Fashion-MNIST model (models/fashion-mnist): present as plain
 * files, listed in the package's files, ≤ 20 MB with its VAE, and it samples
 * (a few steps, to stay fast) every class by name.
 */
import assert from "node:assert/strict";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { BUNDLED_MODEL_DIR, sample } from "../../src/index.js";

function sizeOf(dir: string): number {
  return readdirSync(dir).reduce((s, f) => {
    const p = join(dir, f);
    return s + (statSync(p).isDirectory() ? sizeOf(p) : statSync(p).size);
  }, 0);
}

describe("the bundled model", () => {
  it("ships dit.safetensors and vae/ (EMA weights), listed in the package files, ≤ 20 MB together", () => {
    for (const f of ["dit.safetensors", "vae/vae.safetensors", "vae/config.json", "README.md"]) assert.ok(statSync(join(BUNDLED_MODEL_DIR, f)).isFile(), `${f} is missing`);
    const weights = statSync(join(BUNDLED_MODEL_DIR, "dit.safetensors")).size + sizeOf(join(BUNDLED_MODEL_DIR, "vae"));
    assert.ok(weights <= 20e6, `${weights} bytes`);
    const pkg = JSON.parse(readFileSync(join(BUNDLED_MODEL_DIR, "..", "..", "package.json"), "utf8")) as { files: string[] };
    assert.ok(pkg.files.includes("models"));
  });

  it("samples one image of each of the 10 Fashion-MNIST classes by name (32×32 grey)", async () => {
    const names = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"];
    const r = await sample({ model: BUNDLED_MODEL_DIR, classes: names, numSamples: 10, sampler: "dpm++", numSamplingSteps: 4, seed: 1 });
    assert.deepEqual(r.shape, [10, 32, 32, 1]);
    assert.deepEqual([...r.labels], [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    assert.deepEqual(r.classNames, names);
    // not blank: every image has dark background and bright garment pixels
    for (let i = 0; i < 10; i++) {
      const px = r.images.subarray(i * 1024, (i + 1) * 1024);
      assert.ok(Math.max(...px) > 128 && Math.min(...px) < 64, `image ${i} looks blank`);
    }
  });
});
