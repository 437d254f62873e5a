import assert from "node:assert/strict";
import { join } from "node:path";
import {
  decodeGpt2,
  encodeGpt2,
  GPT2_EOT_ID,
  makeTokenizer,
  OOV_GPT2_ID,
  UNK_TEXT,
  VOCAB_MAP_FORMAT,
  VocabMap,
} from "../lib/data/tokenizer.ts";

const HELLO = "Hello world, this is GPT-2.";
const HELLO_IDS = [15496, 995, 11, 428, 318, 402, 11571, 12, 17, 13];

Deno.test("encodeGpt2 matches GPT-2's BPE and decodes back", () => {
  assert.deepEqual(encodeGpt2(HELLO), HELLO_IDS);
  assert.equal(decodeGpt2(HELLO_IDS), HELLO);
  assert.equal(decodeGpt2([GPT2_EOT_ID]), "<|endoftext|>");
  assert.throws(() => decodeGpt2([50257]), RangeError);
});

Deno.test("encodeGpt2 treats special-token strings as plain text", () => {
  const ids = encodeGpt2("a<|endoftext|>b");
  assert.ok(!ids.includes(GPT2_EOT_ID));
  assert.equal(decodeGpt2(ids), "a<|endoftext|>b");
});

Deno.test("the oov GPT-2 id never comes out of the encoder", () => {
  const ids = encodeGpt2("ÿ\u00ff\uffff 𝔘 émoji 🎉 \u0000\u007f ⟨unk⟩ <unk>");
  assert.ok(!ids.includes(OOV_GPT2_ID));
});

Deno.test("VocabMap maps known ids both ways and unknown ids to oov", () => {
  const map = new VocabMap([995, 15496, 11]);
  assert.equal(map.size, 4);
  assert.equal(map.oovId, 3);
  assert.deepEqual(Array.from(map.toModel([15496, 995, 11, 428, -1, 50257, 1.5])), [
    1,
    0,
    2,
    3,
    3,
    3,
    3,
  ]);
  assert.deepEqual(map.toGpt2([0, 1, 2, 3]), [995, 15496, 11, OOV_GPT2_ID]);
  assert.deepEqual(Array.from(map.toModel(map.toGpt2([3, 0]))), [3, 0]);
  assert.throws(() => map.toGpt2([4]), RangeError);
  assert.equal(map.decode(map.encode(HELLO)), `Hello world,${UNK_TEXT.repeat(7)}`);
});

Deno.test("VocabMap encode/decode round-trips in-vocabulary text", () => {
  const text = "The Congress of the United States shall have the power.";
  const map = VocabMap.fromFrequencies(encodeGpt2(text), 64);
  const ids = map.encode(text);
  assert.ok(!ids.includes(map.oovId));
  assert.equal(map.decode(ids), text);
  const tok = makeTokenizer(map);
  assert.equal(tok.vocabSize, 64);
  assert.deepEqual(tok.encode(text), ids);
  assert.equal(tok.decode(ids), text);
});

Deno.test("makeTokenizer without a map is plain GPT-2", () => {
  const tok = makeTokenizer();
  assert.equal(tok.vocabSize, 50257);
  assert.deepEqual(Array.from(tok.encode(HELLO)), HELLO_IDS);
  assert.equal(tok.decode(new Int32Array(HELLO_IDS)), HELLO);
});

Deno.test("VocabMap JSON round trip, in memory and on disk", async () => {
  const map = new VocabMap([50256, 13, 11, 262]);
  const json = map.toJSON();
  assert.deepEqual(json, {
    format: VOCAB_MAP_FORMAT,
    base: "gpt2",
    oov_id: 4,
    gpt2_ids: [50256, 13, 11, 262],
  });
  assert.deepEqual(VocabMap.fromJSON(JSON.parse(JSON.stringify(json)), "mem").toJSON(), json);
  const dir = await Deno.makeTempDir();
  try {
    const path = join(dir, "sub", "vocab_map.json");
    await map.save(path);
    assert.deepEqual((await VocabMap.load(path)).toJSON(), json);
    await Deno.writeTextFile(path, "{not json");
    await assert.rejects(() => VocabMap.load(path), new RegExp(`${path}: not valid JSON`));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("VocabMap.fromJSON names the source and the problem", () => {
  const good = { format: VOCAB_MAP_FORMAT, base: "gpt2", oov_id: 2, gpt2_ids: [5, 6] };
  const bad: [unknown, RegExp][] = [
    [null, /not a JSON object/],
    [[1, 2], /not a JSON object/],
    [{ ...good, format: "other/1" }, /format is "other\/1"/],
    [{ ...good, base: "gpt4" }, /base is "gpt4"/],
    [{ ...good, gpt2_ids: "5,6" }, /gpt2_ids is not an array/],
    [{ ...good, oov_id: 7 }, /oov_id is 7, expected gpt2_ids.length = 2/],
    [{ ...good, gpt2_ids: [5, 5] }, /gpt2_ids\[1\] = 5 duplicates gpt2_ids\[0\]/],
    [{ ...good, gpt2_ids: [5, 50257] }, /gpt2_ids\[1\] = 50257 is not an integer in \[0, 50257\)/],
    [{ ...good, gpt2_ids: [-1, 6] }, /gpt2_ids\[0\] = -1/],
    [{ ...good, gpt2_ids: [5, 2.5] }, /gpt2_ids\[1\] = 2.5/],
    [{ ...good, gpt2_ids: [5, "6"] }, /gpt2_ids\[1\] is not a number/],
    [{ ...good, gpt2_ids: [5, OOV_GPT2_ID] }, /reserved for the out-of-vocabulary id/],
  ];
  for (const [obj, re] of bad) {
    assert.throws(() => VocabMap.fromJSON(obj, "models/x/vocab_map.json"), (e: Error) => {
      assert.match(e.message, /^models\/x\/vocab_map\.json: invalid vocab map: /);
      assert.match(e.message, re);
      return true;
    });
  }
  assert.equal(VocabMap.fromJSON(good, "ok").size, 3);
});

Deno.test("VocabMap.fromFrequencies is deterministic with ties to the smaller id", () => {
  const tokens = [7, 7, 7, 3, 3, 9, 9, 1, 5, 5, OOV_GPT2_ID, OOV_GPT2_ID, OOV_GPT2_ID, OOV_GPT2_ID];
  const map = VocabMap.fromFrequencies(tokens, 4);
  // 7 ×3 first; 3, 5, 9 tie at ×2 and the smaller ids win; 187 is never chosen.
  assert.deepEqual(map.toJSON().gpt2_ids, [7, 3, 5]);
  assert.equal(map.size, 4);
  const shuffled = [5, 9, 1, 7, 3, 5, 7, 9, 3, 7];
  assert.deepEqual(VocabMap.fromFrequencies(shuffled, 4).toJSON(), map.toJSON());
  // Fewer distinct ids than asked for: filled with unseen ids in ascending order.
  assert.deepEqual(VocabMap.fromFrequencies([9, 9], 4).toJSON().gpt2_ids, [9, 0, 1]);
  assert.deepEqual(VocabMap.fromFrequencies([9], 1).toJSON().gpt2_ids, []);
  assert.equal(VocabMap.fromFrequencies([], 50257).size, 50257);
  assert.throws(() => VocabMap.fromFrequencies([1], 0), RangeError);
  assert.throws(() => VocabMap.fromFrequencies([1], 50258), RangeError);
  assert.throws(() => VocabMap.fromFrequencies([50257], 4), RangeError);
});
