/** diffusers DiT names ↔ official names: round trip, key coverage against diffusers' layout, shared embedders. */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { configFromKwargs, diffusersToOfficial, ditKwargsFromDiffusers, isDiffusersDiT, officialToDiffusers, paramShapes } from "../../src/index.js";
import { Tensor } from "../../src/runtime/tensor.js";
import { tinyWeights } from "./tiny.js";

const CONFIG = configFromKwargs({ input_size: 4, patch_size: 2, in_channels: 4, hidden_size: 32, depth: 2, num_heads: 2, num_classes: 3, learn_sigma: true });

/**
 * The keys of diffusers' DiTTransformer2DModel (norm_type "ada_norm_zero"), as
 * diffusers' scripts/convert_dit_to_diffusers.py writes them for `depth` blocks
 * (written out by hand from that script, not derived from our mapping).
 */
function diffusersLayout(depth: number): string[] {
  const keys = ["pos_embed.proj.weight", "pos_embed.proj.bias", "proj_out_1.weight", "proj_out_1.bias", "proj_out_2.weight", "proj_out_2.bias"];
  for (let i = 0; i < depth; i++) {
    const b = `transformer_blocks.${i}`;
    keys.push(
      `${b}.norm1.emb.timestep_embedder.linear_1.weight`, `${b}.norm1.emb.timestep_embedder.linear_1.bias`,
      `${b}.norm1.emb.timestep_embedder.linear_2.weight`, `${b}.norm1.emb.timestep_embedder.linear_2.bias`,
      `${b}.norm1.emb.class_embedder.embedding_table.weight`,
      `${b}.norm1.linear.weight`, `${b}.norm1.linear.bias`,
      `${b}.attn1.to_q.weight`, `${b}.attn1.to_q.bias`, `${b}.attn1.to_k.weight`, `${b}.attn1.to_k.bias`, `${b}.attn1.to_v.weight`, `${b}.attn1.to_v.bias`,
      `${b}.attn1.to_out.0.weight`, `${b}.attn1.to_out.0.bias`,
      `${b}.ff.net.0.proj.weight`, `${b}.ff.net.0.proj.bias`, `${b}.ff.net.2.weight`, `${b}.ff.net.2.bias`,
    );
  }
  return keys.sort();
}

describe("diffusers DiT weights", () => {
  const official = tinyWeights(CONFIG, 5);
  const diff = officialToDiffusers(official, CONFIG.depth);

  it("official → diffusers covers exactly diffusers' key layout", () => {
    assert.deepEqual([...diff.keys()].sort(), diffusersLayout(CONFIG.depth));
    assert.ok(isDiffusersDiT(diff));
    assert.ok(!isDiffusersDiT(official));
  });

  it("qkv is split into q, k, v row blocks; the shared embedders are copied into every block", () => {
    const qkv = official.get("blocks.1.attn.qkv.weight")!.data as Float32Array;
    const D = CONFIG.hiddenSize;
    assert.deepEqual(diff.get("transformer_blocks.1.attn1.to_k.weight")!.data, qkv.slice(D * D, 2 * D * D));
    assert.deepEqual(diff.get("transformer_blocks.1.attn1.to_k.weight")!.shape, [D, D]);
    assert.equal(diff.get("transformer_blocks.1.norm1.emb.timestep_embedder.linear_2.bias"), official.get("t_embedder.mlp.2.bias"));
    assert.equal(diff.get("proj_out_2.weight"), official.get("final_layer.linear.weight"));
  });

  it("diffusers → official round-trips every tensor (pos_embed supplied, as diffusers does not store it)", () => {
    const back = diffusersToOfficial(diff, { posEmbed: official.get("pos_embed") });
    assert.deepEqual([...back.keys()].sort(), [...paramShapes(CONFIG).keys()].sort());
    for (const [k, t] of official) {
      assert.deepEqual(back.get(k)!.shape, t.shape, k);
      assert.deepEqual(back.get(k)!.data, t.data, k);
    }
  });

  it("refuses diverged per-block embedder copies, missing and unexpected keys", () => {
    const bad = new Map(diff);
    const k = "transformer_blocks.1.norm1.emb.timestep_embedder.linear_1.bias";
    const d = Float32Array.from(bad.get(k)!.data as Float32Array);
    d[0]! += 1;
    bad.set(k, new Tensor(d, bad.get(k)!.shape));
    assert.throws(() => diffusersToOfficial(bad), /transformer_blocks\.1\.norm1\.emb\.timestep_embedder\.linear_1\.bias differs from block 0's copy/);
    const missing = new Map(diff);
    missing.delete("transformer_blocks.0.attn1.to_v.bias");
    assert.throws(() => diffusersToOfficial(missing), /missing 'transformer_blocks\.0\.attn1\.to_v\.bias'/);
    const extra = new Map(diff);
    extra.set("transformer_blocks.0.attn2.to_q.weight", new Tensor(new Float32Array(1), [1]));
    assert.throws(() => diffusersToOfficial(extra), /unexpected keys \(1\): transformer_blocks\.0\.attn2\.to_q\.weight/);
  });

  it("config.json of facebook/DiT-XL-2-256's transformer → DiT-XL/2 kwargs", () => {
    const json = { _class_name: "DiTTransformer2DModel", sample_size: 32, num_layers: 28, attention_head_dim: 72, num_attention_heads: 16, in_channels: 4, out_channels: 8, patch_size: 2, num_embeds_ada_norm: 1000, norm_type: "ada_norm_zero" };
    assert.deepEqual(ditKwargsFromDiffusers(json, 1001), {
      input_size: 32, patch_size: 2, in_channels: 4, hidden_size: 1152, depth: 28, num_heads: 16, num_classes: 1000, learn_sigma: true, class_dropout_prob: 0.1, block: "adaLN-Zero",
    });
    assert.throws(() => ditKwargsFromDiffusers({ ...json, norm_type: "ada_norm" }), /ada_norm_zero only/);
  });
});
