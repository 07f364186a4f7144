/**
 * The official configs against `<fixture root>/dit-reference/official_configs.json`
 * (counts taken by instantiating the official `DiT` class; MACs counted by
 * intercepting its forward): every entry of `configs` is one case, named as in
 * the file. Each checks `officialConfig(name)` (sizes, channels, classes),
 * `countParams` and the parameter list `paramShapes` (total, pos_embed and
 * the per-module breakdown) exactly, and `countMacs` against the official
 * multiply-accumulates.
 *
 * The file's MACs leave LayerNorm out; the paper's Gflops (fvcore) count one
 * per LayerNorm element, and so does `countMacs`: two LayerNorms of T×D per
 * block plus the final one, which the test adds to the official count.
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { describe, it } from "node:test";
import { countMacs, countParams, officialConfig, paramShapes } from "../../src/index.js";
import { fixturePath, fixtureSkip } from "../fixture-root.js";

const FILE = "dit-reference/official_configs.json";

interface OfficialEntry {
  depth: number;
  hidden_size: number;
  patch_size: number;
  num_heads: number;
  input_size: number;
  in_channels: number;
  out_channels: number;
  num_classes: number;
  learn_sigma: boolean;
  tokens: number;
  params_including_pos_embed: number;
  params_excluding_pos_embed: number;
  pos_embed_numel: number;
  params_breakdown: Record<string, number>;
  macs_batch1: { total: number };
}

/** The top-level module of an official state-dict key (`blocks.3.attn.qkv.weight` → `blocks`). */
const moduleOf = (key: string) => key.split(".")[0]!;

const skip = fixtureSkip(FILE);

describe(`official configs: ${FILE}`, { skip }, () => {
  const configs = skip ? {} : (JSON.parse(readFileSync(fixturePath(FILE), "utf8")) as { configs: Record<string, OfficialEntry> }).configs;
  it("the file lists at least one config", () => assert.ok(Object.keys(configs).length > 0));
  for (const [name, want] of Object.entries(configs)) {
    it(name, () => {
      const model = /^DiT-(S|B|L|XL)\/(2|4|8)\b/.exec(name)?.[0];
      assert.ok(model, `${name}: does not start with an official model name`);
      const c = officialConfig(model, { inputSize: want.input_size });
      assert.deepEqual(
        [c.depth, c.hiddenSize, c.patchSize, c.numHeads, c.inChannels, c.numClasses, c.learnSigma],
        [want.depth, want.hidden_size, want.patch_size, want.num_heads, want.in_channels, want.num_classes, want.learn_sigma],
        `${name}: depth, hidden, patch, heads, in channels, classes, learn_sigma`,
      );
      assert.equal(countParams(c), want.params_including_pos_embed, `${name}: countParams`);

      const shapes = paramShapes(c);
      const numel = (s: number[]) => s.reduce((a, b) => a * b, 1);
      const modules = new Map<string, number>();
      for (const [k, s] of shapes) modules.set(moduleOf(k), (modules.get(moduleOf(k)) ?? 0) + numel(s));
      const total = [...modules.values()].reduce((a, b) => a + b, 0);
      assert.equal(total, want.params_including_pos_embed, `${name}: paramShapes total`);
      assert.equal(total - modules.get("pos_embed")!, want.params_excluding_pos_embed, `${name}: without pos_embed`);
      assert.deepEqual(shapes.get("pos_embed"), [1, want.tokens, want.hidden_size], `${name}: pos_embed shape`);
      assert.equal(numel(shapes.get("pos_embed")!), want.pos_embed_numel);
      assert.deepEqual(shapes.get("final_layer.linear.weight"), [want.patch_size ** 2 * want.out_channels, want.hidden_size], `${name}: output channels`);
      const { per_block: perBlock, ...byModule } = want.params_breakdown;
      assert.deepEqual(Object.fromEntries(modules), byModule, `${name}: parameters per module`);
      assert.equal(perBlock! * want.depth, modules.get("blocks"), `${name}: per block`);

      const layerNormElements = (2 * want.depth + 1) * want.tokens * want.hidden_size;
      assert.equal(countMacs(c), want.macs_batch1.total + layerNormElements, `${name}: countMacs − LayerNorm elements vs official MACs`);
    });
  }
});
