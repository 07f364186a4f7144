/**
 * CompVis / original Stable Diffusion VAE names: the mapping reproduces the
 * reference name table of the full SD VAE (`compvis_ldm_key_names`, from the
 * fixture generator), and a CompVis-layout file of each fixture case decodes like
 * the diffusers one (every `vae_<case>_config.json` of the root is a case).
 * Each test reads its files from the fixture root and is skipped by name when
 * they are absent, except the .ckpt test: `torch/vae_c1_ldm.ckpt`
 * is the project's own file, made from the repository's copy of the c1 case
 * (make_vae_ckpt.py), and is checked against that copy.
 */
import assert from "node:assert/strict";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { readSafetensors, toFloat32, writeSafetensors } from "../../src/io/safetensors.js";
import { Tensor } from "../../src/runtime/tensor.js";
import { AutoencoderKL } from "../../src/vae/autoencoder.js";
import { vaeConfigFromDiffusers } from "../../src/vae/config.js";
import { compvisKeyToDiffusers, loadVaeStateDict } from "../../src/vae/weights.js";
import { familyPresent, fixturePath, fixtureSkip, REPO_FIXTURE_ROOT } from "../fixture-root.js";
import { relErr, Rng, setupJax } from "../helpers.js";

const FAMILY = "vae-reference";
const DIR = fixturePath(FAMILY);
const SHAPES = `${FAMILY}/vae_sd_ft_ema_param_shapes.json`;
const cases = familyPresent(FAMILY)
  ? readdirSync(DIR)
      .map((f) => /^vae_(.+)_config\.json$/.exec(f)?.[1])
      .filter((c): c is string => c !== undefined)
      .sort()
  : [];

describe("VAE: CompVis (ldm) checkpoint layout", () => {
  const tmp = mkdtempSync(join(tmpdir(), "dit-vae-"));
  before(setupJax);
  after(() => rmSync(tmp, { recursive: true, force: true }));

  it("every ldm name of the full SD VAE maps to its diffusers name (248 of 248)", { skip: fixtureSkip(SHAPES) }, () => {
    const table = JSON.parse(readFileSync(fixturePath(SHAPES), "utf8")) as { compvis_ldm_key_names: Record<string, string> };
    const names = table.compvis_ldm_key_names;
    assert.equal(Object.keys(names).length, 248);
    for (const [diffusers, ldm] of Object.entries(names)) {
      assert.equal(compvisKeyToDiffusers(ldm, 4), diffusers, ldm);
      assert.equal(compvisKeyToDiffusers(`first_stage_model.${ldm}`, 4), diffusers);
    }
    assert.equal(compvisKeyToDiffusers("loss.discriminator.main.0.weight", 4), undefined);
  });

  if (cases.length === 0) it("weights saved with ldm names decode like the diffusers file", { skip: `no vae_<case>_config.json under ${DIR}` }, () => {});
  for (const name of cases) {
    const cfg = JSON.parse(readFileSync(join(DIR, `vae_${name}_config.json`), "utf8")) as { diffusers_config: Record<string, unknown>; weights_file?: string };
    const weightsFile = `${FAMILY}/${cfg.weights_file ?? `vae_${name}_weights.safetensors`}`;
    it(`${name} weights saved with ldm names (1×1-conv attention, extra loss keys) decode like the diffusers file`, { skip: fixtureSkip(weightsFile) }, async () => {
      const config = vaeConfigFromDiffusers(cfg.diffusers_config);
      const levels = config.blockOutChannels.length;
      const src = readSafetensors(fixturePath(weightsFile)).tensors;
      // the inverse renaming, written independently of the loader
      const toLdm = (k: string): string =>
        k
          .replace(/^(encoder|decoder)\.conv_norm_out\./, "$1.norm_out.")
          .replace(/^(encoder|decoder)\.mid_block\.resnets\.(\d)\./, (_, e: string, i: string) => `${e}.mid.block_${Number(i) + 1}.`)
          .replace(/^(encoder|decoder)\.mid_block\.attentions\.0\.(group_norm|to_q|to_k|to_v|to_out\.0)\./, (_, e: string, n: string) => `${e}.mid.attn_1.${({ group_norm: "norm", to_q: "q", to_k: "k", to_v: "v", "to_out.0": "proj_out" } as Record<string, string>)[n]}.`)
          .replace(/^encoder\.down_blocks\.(\d+)\.resnets\./, "encoder.down.$1.block.")
          .replace(/^encoder\.down_blocks\.(\d+)\.downsamplers\.0\./, "encoder.down.$1.downsample.")
          .replace(/^decoder\.up_blocks\.(\d+)\.resnets\./, (_, i: string) => `decoder.up.${levels - 1 - Number(i)}.block.`)
          .replace(/^decoder\.up_blocks\.(\d+)\.upsamplers\.0\./, (_, i: string) => `decoder.up.${levels - 1 - Number(i)}.upsample.`)
          .replace(/\.conv_shortcut\./, ".nin_shortcut.");
      const ldm = new Map<string, { data: Float32Array; shape: number[] }>();
      for (const [k, t] of src) {
        const proj = /attentions\.0\.(to_q|to_k|to_v|to_out\.0)\.weight$/.test(k);
        ldm.set(`first_stage_model.${toLdm(k)}`, { data: toFloat32(t.data), shape: proj ? [...t.shape, 1, 1] : t.shape });
      }
      ldm.set("loss.logvar", { data: new Float32Array(1), shape: [] });
      const path = join(tmp, `${name}_ldm.safetensors`);
      writeSafetensors(path, ldm);
      const latent = new Tensor(new Rng(7).normals(config.latentChannels * 16), [1, config.latentChannels, 4, 4]);
      const a = await new AutoencoderKL(config, loadVaeStateDict(path)).decode(latent);
      const b = await new AutoencoderKL(config, loadVaeStateDict(fixturePath(weightsFile))).decode(latent);
      assert.ok(relErr(a.data as Float32Array, b.data as Float32Array) < 1e-7);
    });
  }

  it("an original SD .ckpt (torch.save; state_dict with first_stage_model.*, other entries) loads through the restricted loader", async () => {
    const ckpt = join(REPO_FIXTURE_ROOT, "torch/vae_c1_ldm.ckpt");
    const src = join(REPO_FIXTURE_ROOT, FAMILY); // the c1 copy the .ckpt was made from
    const cfg = JSON.parse(readFileSync(join(src, "vae_c1_config.json"), "utf8")) as { diffusers_config: Record<string, unknown> };
    const config = vaeConfigFromDiffusers(cfg.diffusers_config);
    const fromCkpt = loadVaeStateDict(ckpt);
    const ref = loadVaeStateDict(join(src, "vae_c1_weights.safetensors"));
    assert.deepEqual([...fromCkpt.keys()].sort(), [...ref.keys()].sort());
    for (const [k, t] of ref) assert.deepEqual(fromCkpt.get(k)!.data, t.data, k);
    const io = readSafetensors(join(src, "vae_c1_io.safetensors")).tensors;
    const x = io.get("x")!;
    const m = await new AutoencoderKL(config, fromCkpt).moments(new Tensor(toFloat32(x.data), x.shape));
    const m2 = await new AutoencoderKL(config, ref).moments(new Tensor(toFloat32(x.data), x.shape));
    assert.deepEqual(m.data, m2.data);
  });
});
