/**
 * Child process of the shard kill test: `node --import tsx test/sample/shard-child.ts OPTS_JSON DIR INDEX COUNT`
 * makes one shard; once an image of its own is on disk it prints "written" and waits (up to 60 s) to be SIGKILLed.
 */
import { existsSync } from "node:fs";
import { join } from "node:path";
import { imageFileName, sampleShard, shardIndices, type SamplingOptions } from "../../src/index.js";

const [json, dir, index, count] = process.argv.slice(2);
const opts = JSON.parse(json!) as SamplingOptions;
const shard = { index: Number(index), count: Number(count) };
const mine = shardIndices(opts.numSamples!, shard);
let told = false;
await sampleShard(opts, { ...shard, dir: dir! }, () => {
  if (told || !mine.some((k) => existsSync(join(dir!, imageFileName(k))))) return;
  told = true;
  process.stdout.write("written\n");
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 60_000); // stop here, mid-shard, until killed
});
process.stdout.write("finished\n");
