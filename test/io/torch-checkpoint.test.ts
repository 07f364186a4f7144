/**
 * Loading torch.save checkpoints without running code: the restricted
 * unpickler, the zip and legacy containers (compared with tensors that torch
 * itself wrote, see test/fixtures/torch/make_fixtures.py), train.py
 * checkpoints, refusal of non-allow-listed globals, truncation, and
 * `dit convert`.
 */
import assert from "node:assert/strict";
import { copyFileSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { convertCheckpoint } from "../../src/io/convert.js";
import { floatTensorToF32 } from "../../src/io/safetensors.js";
import { PickleError, unpickle } from "../../src/io/pickle.js";
import { readSafetensors, type StTensor } from "../../src/io/safetensors.js";
import { extractStateDict, loadTorchCheckpoint, loadTorchStateDict, selectStateDict, TorchCheckpointError } from "../../src/io/torch-checkpoint.js";
import { REPO_FIXTURE_ROOT } from "../fixture-root.js";

// the project's own files (not a reference family): read from the repository whatever REFERENCE_FIXTURES says
const DIR = join(REPO_FIXTURE_ROOT, "torch");
const fx = (name: string) => join(DIR, name);
const tmp = mkdtempSync(join(tmpdir(), "dit-torch-ckpt-"));
after(() => rmSync(tmp, { recursive: true, force: true }));

const bytesOf = (t: StTensor) => Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength);

/** Exact equality (dtype, shape and every byte) of a state dict with an expected safetensors file. */
function assertSameTensors(got: Map<string, StTensor>, expectedPath: string): void {
  const want = readSafetensors(expectedPath).tensors;
  assert.deepEqual([...got.keys()].sort(), [...want.keys()].sort());
  for (const [k, w] of want) {
    const g = got.get(k)!;
    assert.equal(g.dtype, w.dtype, `${k}: dtype`);
    assert.deepEqual(g.shape, w.shape, `${k}: shape`);
    assert.ok(bytesOf(g).equals(bytesOf(w)), `${k}: data differs`);
  }
}

describe("restricted unpickler", () => {
  // pickle.dumps(v, protocol=p) of the value below, by CPython 3.11.
  const PICKLES: Record<number, string> = {
    0: "286470300a56610a70310a286c70320a49310a61492d320a614c313138303539313632303731373431313330333432344c0a614c2d313138303539313632303731373431313330333432344c0a6146312e350a614e614930310a614930300a6156e95c75323630330a70330a61635f636f646563730a656e636f64650a70340a28565c7530303030ff0a70350a566c6174696e310a70360a7470370a5270380a612849310a49320a7470390a6128647031300a49330a49340a7361493235350a614936353533350a6149323134373438333634370a61492d323134373438333634380a614c393030373139393235343734303939324c0a6173567365740a7031310a635f5f6275696c74696e5f5f0a7365740a7031320a28286c7031330a49310a61747031340a527031350a735666730a7031360a635f5f6275696c74696e5f5f0a66726f7a656e7365740a7031370a28286c7031380a49320a61747031390a527032300a735662610a7032310a635f5f6275696c74696e5f5f0a6279746561727261790a7032320a2867340a2856780a7032330a67360a747032340a527032350a747032360a527032370a735673310a7032380a286c7032390a49370a61735673320a7033300a6732390a7356656d7074790a7033310a2874735674330a7033320a2849310a49320a49330a747033330a732e",
    1: "7d71002858010000006171015d7102284b014afeffffff4c313138303539313632303731373431313330333432344c0a4c2d313138303539313632303731373431313330333432344c0a473ff80000000000004e4930310a4930300a5805000000c3a9e298837103635f636f646563730a656e636f64650a710428580300000000c3bf710558060000006c6174696e317106747107527108284b014b027471097d710a4b034b04734bff4dffff4affffff7f4a000000804c393030373139393235343734303939324c0a655803000000736574710b635f5f6275696c74696e5f5f0a7365740a710c285d710d4b016174710e52710f580200000066737110635f5f6275696c74696e5f5f0a66726f7a656e7365740a7111285d71124b0261747113527114580200000062617115635f5f6275696c74696e5f5f0a6279746561727261790a7116286804285801000000787117680674711852711974711a52711b58020000007331711c5d711d4b076158020000007332711e681d5805000000656d707479711f29580200000074337120284b014b024b03747121752e",
    2: "80027d71002858010000006171015d7102284b014afeffffff8a090000000000000000408a090000000000000000c0473ff80000000000004e88895805000000c3a9e298837103635f636f646563730a656e636f64650a7104580300000000c3bf710558060000006c6174696e3171068671075271084b014b028671097d710a4b034b04734bff4dffff4affffff7f4a000000808a0700000000000020655803000000736574710b635f5f6275696c74696e5f5f0a7365740a710c5d710d4b016185710e52710f580200000066737110635f5f6275696c74696e5f5f0a66726f7a656e7365740a71115d71124b0261857113527114580200000062617115635f5f6275696c74696e5f5f0a6279746561727261790a711668045801000000787117680686711852711985711a52711b58020000007331711c5d711d4b076158020000007332711e681d5805000000656d707479711f295802000000743371204b014b024b03877121752e",
    3: "80037d71002858010000006171015d7102284b014afeffffff8a090000000000000000408a090000000000000000c0473ff80000000000004e88895805000000c3a9e298837103430200ff71044b014b028671057d71064b034b04734bff4dffff4affffff7f4a000000808a07000000000000206558030000007365747107636275696c74696e730a7365740a71085d71094b016185710a52710b58020000006673710c636275696c74696e730a66726f7a656e7365740a710d5d710e4b026185710f527110580200000062617111636275696c74696e730a6279746561727261790a711243017871138571145271155802000000733171165d71174b076158020000007332711868175805000000656d70747971192958020000007433711a4b014b024b0387711b752e",
    4: "800495cb000000000000007d94288c0161945d94284b014afeffffff8a090000000000000000408a090000000000000000c0473ff80000000000004e88898c05c3a9e2988394430200ff944b014b0286947d944b034b04734bff4dffff4affffff7f4a000000808a0700000000000020658c03736574948f94284b01908c02667394284b0291948c026261948c086275696c74696e73948c0962797465617272617994939443017894859452948c027331945d944b07618c0273329468138c05656d70747994298c027433944b014b024b038794752e",
    5: "800595b5000000000000007d94288c0161945d94284b014afeffffff8a090000000000000000408a090000000000000000c0473ff80000000000004e88898c05c3a9e2988394430200ff944b014b0286947d944b034b04734bff4dffff4affffff7f4a000000808a0700000000000020658c03736574948f94284b01908c02667394284b0291948c0262619496010000000000000078948c027331945d944b07618c02733294680e8c05656d70747994298c027433944b014b024b038794752e",
  };
  // {'a': [1, -2, 2**70, -2**70, 1.5, None, True, False, 'é☃', b'\x00\xff', (1, 2), {3: 4}, 255, 65535, 2**31-1, -2**31, 2**53],
  //  'set': {1}, 'fs': frozenset({2}), 'ba': bytearray(b'x'), 's1': shared, 's2': shared, 'empty': (), 't3': (1, 2, 3)}
  const list = [1, -2, 2n ** 70n, -(2n ** 70n), 1.5, null, true, false, "é☃", new Uint8Array([0, 255]), [1, 2], new Map([[3, 4]])];
  list.push(255, 65535, 2 ** 31 - 1, -(2 ** 31), 2n ** 53n);

  for (const [proto, hex] of Object.entries(PICKLES)) {
    it(`protocol ${proto}: every value type, memo sharing`, () => {
      const { value, end } = unpickle(Buffer.from(hex, "hex"), { source: `protocol-${proto}` });
      assert.equal(end, hex.length / 2);
      const m = value as Map<string, unknown>;
      assert.ok(m instanceof Map);
      assert.deepEqual(m.get("a"), list);
      assert.deepEqual(m.get("set"), new Set([1]));
      assert.deepEqual(m.get("fs"), new Set([2]));
      assert.deepEqual(m.get("ba"), new Uint8Array([120]));
      assert.deepEqual(m.get("s1"), [7]);
      assert.equal(m.get("s1"), m.get("s2"), "a memoised object is shared");
      assert.deepEqual(m.get("empty"), []);
      assert.deepEqual(m.get("t3"), [1, 2, 3]);
    });
  }

  it("refuses a global outside the allow-list and never calls it", () => {
    // GLOBAL 'builtins eval' + REDUCE, then 'posix system' through STACK_GLOBAL (protocol 4)
    const evalPickle = Buffer.concat([Buffer.from("\x80\x02cbuiltins\neval\n", "latin1"), Buffer.from("X\x01\x00\x00\x001\x85R.", "latin1")]);
    assert.throws(() => unpickle(evalPickle, { source: "eval.pkl" }), (e: Error) => e instanceof PickleError && /'builtins\.eval'/.test(e.message) && /eval\.pkl/.test(e.message));
    const stack = Buffer.from("\x80\x04\x8c\x05posix\x94\x8c\x06system\x94\x93\x94.", "latin1");
    assert.throws(() => unpickle(stack, { source: "s.pkl" }), /refusing to load global 'posix\.system' from s\.pkl: not in the allow-list/);
  });

  it("argparse.Namespace becomes a plain object; a '__proto__' attribute stays an own key", () => {
    // pickle.dumps(argparse.Namespace(**{'__proto__': {'polluted': True}, 'lr': 0.5}), protocol=2)
    const hex =
      "80026361726770617273650a4e616d6573706163650a7100298171017d71022858090000005f5f70726f746f5f5f71037d71045808000000706f6c6c757465647105887358020000006c727106473fe000000000000075622e";
    const ns = unpickle(Buffer.from(hex, "hex"), { source: "ns.pkl" }).value as Record<string, unknown>;
    assert.equal(Object.getPrototypeOf(ns), Object.prototype);
    assert.deepEqual(Object.keys(ns), ["__proto__", "lr"]);
    assert.equal(ns.lr, 0.5);
    assert.equal((ns as { polluted?: unknown }).polluted, undefined);
    assert.equal(({} as { polluted?: unknown }).polluted, undefined);
  });

  it("truncated and corrupt pickles give clear errors", () => {
    const p = Buffer.from(PICKLES[2]!, "hex");
    assert.throws(() => unpickle(p.subarray(0, 40), { source: "cut.pkl" }), /cut\.pkl: unexpected end of pickle data/);
    assert.throws(() => unpickle(Buffer.from([0x80, 0x02, 0xff]), { source: "bad.pkl" }), /bad\.pkl: unknown pickle opcode 0xff/);
    assert.throws(() => unpickle(Buffer.from("\x80\x02h\x05.", "latin1"), { source: "memo.pkl" }), /memo key 5 is missing/);
  });
});

describe("torch checkpoints", () => {
  for (const [file, format] of [
    ["state_zip.pt", "zip"],
    ["state_zip_p4.pt", "zip"],
    ["state_zip64.pt", "zip"],
    ["state_legacy.pt", "legacy"],
  ] as const) {
    it(`${file}: ${format} format equals torch's tensors exactly (views, offsets, every dtype)`, () => {
      const r = loadTorchStateDict(fx(file));
      assert.equal(r.format, format);
      assert.equal(r.entry, null);
      assertSameTensors(r.stateDict, fx("state_expected.safetensors"));
      const t = r.stateDict.get("transposed")!;
      assert.deepEqual(t.shape, [3, 5]);
      // loadTorchCheckpoint + extractStateDict gives the same tensors.
      const all = loadTorchCheckpoint(fx(file));
      assert.ok(all instanceof Map);
      assertSameTensors(extractStateDict(all), fx("state_expected.safetensors"));
    });
  }

  it("train.py checkpoint: ema by default, model on request; args and optimizer readable", () => {
    const ema = loadTorchStateDict(fx("train_ckpt.pt"));
    assert.equal(ema.entry, "ema");
    assertSameTensors(ema.stateDict, fx("train_ema_expected.safetensors"));
    const model = loadTorchStateDict(fx("train_ckpt.pt"), "model");
    assert.equal(model.entry, "model");
    assertSameTensors(model.stateDict, fx("train_model_expected.safetensors"));

    const ck = loadTorchCheckpoint(fx("train_ckpt.pt")) as Map<string, unknown>;
    assertSameTensors(extractStateDict(ck), fx("train_ema_expected.safetensors"));
    assertSameTensors(extractStateDict(ck, "model"), fx("train_model_expected.safetensors"));
    assert.deepEqual(ck.get("args"), {
      data_path: "/data/imagenet/train",
      results_dir: "results",
      model: "DiT-S/8",
      image_size: 256,
      num_classes: 1000,
      epochs: 1400,
      global_batch_size: 256,
      global_seed: 0,
      vae: "ema",
      num_workers: 4,
      log_every: 100,
      ckpt_every: 50000,
    });
    const opt = ck.get("opt") as Map<string, unknown>;
    const state = opt.get("state") as Map<number, Map<string, StTensor>>;
    assert.deepEqual([...state.keys()], [0, 1, 2, 3]);
    assert.deepEqual(state.get(0)!.get("exp_avg")!.shape, [6, 4]);
    const group = (opt.get("param_groups") as Map<string, unknown>[])[0]!;
    assert.deepEqual(group.get("betas"), [0.9, 0.999]);
    assert.deepEqual(group.get("params"), [0, 1, 2, 3]);
  });

  it("entry errors: a plain state dict has no 'model' entry; non-dicts are rejected", () => {
    assert.throws(() => loadTorchStateDict(fx("state_zip.pt"), "model"), /state_zip\.pt: is a plain state dict; it has no 'model' entry/);
    assert.throws(() => selectStateDict(new Map([["opt", new Map()]])), /neither a state dict nor a train\.py checkpoint \(entries: opt\)/);
    assert.throws(() => selectStateDict([1, 2]), /is a list, not a dict/);
  });

  it("strips a DDP 'module.' prefix when every key has it", () => {
    const r = loadTorchStateDict(fx("ddp_state.pt"));
    assertSameTensors(r.stateDict, fx("train_model_expected.safetensors"));
  });

  for (const file of ["malicious_zip.pt", "malicious_legacy.pt"]) {
    it(`${file}: os.system is refused, nothing runs`, () => {
      const cwdMarker = join(process.cwd(), "dit_pickle_pwned.txt");
      assert.throws(
        () => loadTorchCheckpoint(fx(file)),
        (e: Error) => e instanceof PickleError && e.message.includes(`refusing to load global 'os.system' from ${fx(file)}`) && e.message.includes("not in the allow-list"),
      );
      assert.throws(() => convertCheckpoint(fx(file), join(tmp, "evil.safetensors")), /os\.system/);
      assert.equal(existsSync(cwdMarker), false);
      assert.equal(existsSync(join(tmp, "evil.safetensors")), false);
    });
  }

  it("truncated files give clear errors naming the file", () => {
    for (const [file, cuts] of [
      ["state_zip.pt", [10, 1000, 3000, -30, -1]],
      ["state_legacy.pt", [1, 60, 400, 1200, -100, -1]],
    ] as const) {
      const full = readFileSync(fx(file));
      for (const cut of cuts) {
        const n = cut < 0 ? full.length + cut : cut;
        const p = join(tmp, `cut-${n}-${file}`);
        writeFileSync(p, full.subarray(0, n));
        assert.throws(
          () => loadTorchCheckpoint(p),
          (e: Error) =>
            (e instanceof TorchCheckpointError || e instanceof PickleError) &&
            e.message.startsWith(p) &&
            /truncated|end of (the )?(file|pickle data)|not found/.test(e.message),
          `${file} cut to ${n} bytes`,
        );
      }
    }
    writeFileSync(join(tmp, "empty.pt"), "");
    assert.throws(() => loadTorchCheckpoint(join(tmp, "empty.pt")), /empty\.pt: file is 0 bytes/);
    writeFileSync(join(tmp, "text.pt"), "hello world");
    assert.throws(() => loadTorchCheckpoint(join(tmp, "text.pt")), /text\.pt: not a PyTorch checkpoint/);
    assert.throws(() => loadTorchCheckpoint(join(tmp, "missing.pt")), /missing\.pt: cannot open/);
  });
});

describe("dit convert", () => {
  it("state dict → float32 safetensors; non-float tensors keep their dtype", () => {
    const out = join(tmp, "state.safetensors");
    const s = convertCheckpoint(fx("state_zip.pt"), out);
    const want = readSafetensors(fx("state_expected.safetensors")).tensors;
    const numel = [...want.values()].reduce((a, t) => a + t.shape.reduce((x, y) => x * y, 1), 0);
    assert.deepEqual(s, { input: fx("state_zip.pt"), output: out, entry: null, tensors: want.size, params: numel });
    const { tensors, metadata } = readSafetensors(out);
    assert.equal(metadata.source, "state_zip.pt");
    assert.equal(metadata.entry, undefined);
    for (const [k, w] of want) {
      const g = tensors.get(k)!;
      assert.deepEqual(g.shape, w.shape, k);
      if (["F32", "F64", "F16", "BF16"].includes(w.dtype)) {
        assert.equal(g.dtype, "F32", k);
        assert.deepEqual(g.data, floatTensorToF32(w), k);
      } else {
        assert.equal(g.dtype, w.dtype, k);
        assert.ok(bytesOf(g).equals(bytesOf(w)), k);
      }
    }
    assert.deepEqual(tensors.get("steps")!.data, new BigInt64Array([3n, -7n, 2n ** 40n]));
  });

  it("float16 and bfloat16 decode to the values torch has", () => {
    // Bits and values from torch: t = torch.tensor([...]).half(); t.view(torch.int16), t.float()
    const half = { dtype: "F16" as const, shape: [9], data: new Uint16Array([0x3c00, 0xc100, 0x7bff, 0x0001, 0x0000, 0x7c00, 0x8000, 0x2e66, 0x03ff]) };
    const halfWant = [1, -2.5, 65504, 5.960464477539063e-8, 0, Infinity, -0, 0.0999755859375, 6.097555160522461e-5];
    assert.deepEqual([...floatTensorToF32(half)], halfWant);
    // t = torch.tensor([1, -2.5, 0, 0.1, 3e38]).bfloat16()
    const bf = { dtype: "BF16" as const, shape: [5], data: new Uint16Array([0x3f80, 0xc020, 0x0000, 0x3dcd, 0x7f62]) };
    assert.deepEqual([...floatTensorToF32(bf)], [1, -2.5, 0, 0.10009765625, 3.00405527047391e38]);
  });

  it("train.py checkpoint: --entry picks the weights and is recorded", () => {
    const out = join(tmp, "model.safetensors");
    const s = convertCheckpoint(fx("train_ckpt.pt"), out, { entry: "model" });
    assert.equal(s.entry, "model");
    const { tensors, metadata } = readSafetensors(out);
    assert.equal(metadata.entry, "model");
    assertSameTensors(tensors, fx("train_model_expected.safetensors"));
    const ema = convertCheckpoint(fx("train_ckpt.pt"), join(tmp, "ema.safetensors"));
    assert.equal(ema.entry, "ema");
    assertSameTensors(readSafetensors(join(tmp, "ema.safetensors")).tensors, fx("train_ema_expected.safetensors"));
  });

  it("a failed conversion leaves no output (nor a temporary file)", () => {
    const dir = mkdtempSync(join(tmp, "fail-"));
    const cut = join(dir, "cut.pt");
    const full = readFileSync(fx("state_legacy.pt"));
    writeFileSync(cut, full.subarray(0, full.length - 8));
    const out = join(dir, "out.safetensors");
    assert.throws(() => convertCheckpoint(cut, out), /cut\.pt/);
    assert.deepEqual(readdirSync(dir), ["cut.pt"]);
    copyFileSync(fx("state_zip.pt"), join(dir, "ok.pt"));
    assert.throws(() => convertCheckpoint(join(dir, "ok.pt"), out, { entry: "ema" }), /no 'ema' entry/);
    assert.deepEqual(readdirSync(dir).sort(), ["cut.pt", "ok.pt"]);
  });
});
