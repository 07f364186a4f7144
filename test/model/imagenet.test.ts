/**
 * The bundled ImageNet-1k class list (src/model/imagenet-classes.json) and
 * the lookups over it: className and findClass by id, wnid, name and synonym.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { IMAGENET_CLASSES, IMAGENET_NUM_CLASSES, className, findClass } from "../../src/model/imagenet.js";

describe("ImageNet-1k class list", () => {
  it("has 1000 classes, indexed by id", () => {
    assert.equal(IMAGENET_CLASSES.length, 1000);
    assert.equal(IMAGENET_NUM_CLASSES, 1000);
    IMAGENET_CLASSES.forEach((c, i) => assert.equal(c.id, i));
  });

  it("has unique wnids, sorted ascending (the ILSVRC-2012 label order)", () => {
    const wnids = IMAGENET_CLASSES.map((c) => c.wnid);
    for (const w of wnids) assert.match(w, /^n\d{8}$/);
    assert.equal(new Set(wnids).size, 1000);
    assert.deepEqual(wnids, [...wnids].sort());
    assert.equal(wnids[0], "n01440764");
    assert.equal(wnids[999], "n15075141");
  });

  it("has non-empty, trimmed names with no comma inside a synonym", () => {
    for (const c of IMAGENET_CLASSES) {
      assert.ok(c.names.length >= 1, `class ${c.id} has no name`);
      for (const n of c.names) {
        assert.ok(n.length > 0 && n === n.trim() && !n.includes(","), `class ${c.id}: bad name ${JSON.stringify(n)}`);
      }
    }
  });

  it("matches the standard list at known ids", () => {
    const known: [number, string, string[]][] = [
      [0, "n01440764", ["tench", "Tinca tinca"]],
      [1, "n01443537", ["goldfish", "Carassius auratus"]],
      [207, "n02099601", ["golden retriever"]],
      [281, "n02123045", ["tabby", "tabby cat"]],
      [388, "n02510455", ["giant panda", "panda", "panda bear", "coon bear", "Ailuropoda melanoleuca"]],
      [417, "n02782093", ["balloon"]],
      [979, "n09468604", ["valley", "vale"]],
      [999, "n15075141", ["toilet tissue", "toilet paper", "bathroom tissue"]],
    ];
    for (const [id, wnid, names] of known) {
      assert.equal(IMAGENET_CLASSES[id]!.wnid, wnid, `wnid of ${id}`);
      assert.deepEqual(IMAGENET_CLASSES[id]!.names, names, `names of ${id}`);
    }
  });

  it("is frozen", () => {
    assert.ok(Object.isFrozen(IMAGENET_CLASSES));
    assert.ok(Object.isFrozen(IMAGENET_CLASSES[0]));
    assert.throws(() => (IMAGENET_CLASSES[0]!.names as string[]).push("x"), TypeError);
  });
});

describe("className", () => {
  it("returns the first name", () => {
    assert.equal(className(0), "tench");
    assert.equal(className(207), "golden retriever");
    assert.equal(className(281), "tabby");
    assert.equal(className(999), "toilet tissue");
  });

  it("throws RangeError for a bad id", () => {
    for (const bad of [-1, 1000, 1.5, Number.NaN, Infinity]) assert.throws(() => className(bad), RangeError);
  });
});

describe("findClass", () => {
  it("accepts an id as a number or a numeric string", () => {
    assert.equal(findClass(207), 207);
    assert.equal(findClass(0), 0);
    assert.equal(findClass("207"), 207);
    assert.equal(findClass(" 999 "), 999);
    assert.throws(() => findClass(1000), RangeError);
    assert.throws(() => findClass("1000"), RangeError);
    assert.throws(() => findClass(-3), RangeError);
    assert.throws(() => findClass(2.5), RangeError);
  });

  it("accepts a wnid", () => {
    assert.equal(findClass("n02099601"), 207);
    assert.equal(findClass("N01440764"), 0);
    assert.equal(findClass("n15075141"), 999);
    assert.throws(() => findClass("n00000000"), /not the WordNet id/);
  });

  it("matches names and synonyms exactly, case-insensitively", () => {
    assert.equal(findClass("golden retriever"), 207);
    assert.equal(findClass("Golden Retriever"), 207);
    assert.equal(findClass("  golden   retriever "), 207);
    assert.equal(findClass("golden_retriever"), 207);
    assert.equal(findClass("tabby cat"), 281);
    assert.equal(findClass("tabby"), 281);
    assert.equal(findClass("giant panda"), 388);
    assert.equal(findClass("balloon"), 417);
    assert.equal(findClass("vale"), 979);
    assert.equal(findClass("toilet paper"), 999);
    assert.equal(findClass("Tinca tinca"), 0);
    assert.equal(findClass("tench"), 0);
  });

  it("prefers an exact match to substring matches", () => {
    // "tiger" is inside "tiger shark", "tiger cat", "tiger beetle", ...; class 292 is exactly "tiger".
    assert.equal(findClass("tiger"), 292);
    assert.equal(findClass("goldfish"), 1);
  });

  it("breaks ties between exact matches by display name, then by letter case", () => {
    // "partridge": display name of 86, a synonym of 82 (ruffed grouse).
    assert.equal(findClass("partridge"), 86);
    assert.equal(findClass("harp"), 594);
    assert.equal(findClass("crayfish"), 124);
    // "Cardigan" (264, the corgi) vs "cardigan" (474, the sweater).
    assert.equal(findClass("Cardigan"), 264);
    assert.equal(findClass("cardigan"), 474);
  });

  it("rejects a name that several classes share equally", () => {
    assert.throws(() => findClass("crane"), (e: Error) => {
      assert.match(e.message, /ambiguous/);
      assert.match(e.message, /134: crane/);
      assert.match(e.message, /517: crane/);
      return true;
    });
    // a synonym (not the display name) of both 387 and 388
    assert.throws(() => findClass("panda"), /387: lesser panda.*388: giant panda/);
    assert.throws(() => findClass("CARDIGAN"), /264: Cardigan.*474: cardigan/);
  });

  it("falls back to a unique substring match", () => {
    assert.equal(findClass("golden retr"), 207);
    assert.equal(findClass("Ailuropoda"), 388);
    assert.equal(findClass("toilet tis"), 999);
  });

  it("rejects an ambiguous substring, listing at most 10 candidates", () => {
    assert.throws(() => findClass("retriever"), (e: Error) => {
      assert.match(e.message, /ambiguous/);
      for (const id of [205, 206, 207, 208, 209]) assert.match(e.message, new RegExp(`${id}: `));
      return true;
    });
    assert.throws(() => findClass("terrier"), (e: Error) => {
      const listed = e.message.match(/\d+: /g) ?? [];
      assert.equal(listed.length, 10);
      assert.match(e.message, /more\)/);
      return true;
    });
  });

  it("rejects an unknown name, suggesting close matches", () => {
    assert.throws(() => findClass("golden retreiver"), (e: Error) => {
      assert.match(e.message, /No ImageNet class matches "golden retreiver"/);
      assert.match(e.message, /207: golden retriever/);
      return true;
    });
    assert.throws(() => findClass("zzzzzz"), /No ImageNet class matches/);
    assert.throws(() => findClass("   "), /empty/);
  });
});
