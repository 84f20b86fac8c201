/**
 * Bad input, safetensors headers (issue 17, case 15) and a seeded mutation test of the reader:
 * every damaged file must end in a named CheckpointError or read as a valid file, quickly.
 */

import { ok, rejects, strictEqual } from "node:assert/strict";
import { CheckpointError } from "../src/errors.ts";
import { SafetensorsFile } from "../src/io/safetensors.ts";
import { safetensorsBytes } from "../src/io/safetensors_writer.ts";

/** A file from raw header text and `dataBytes` zero bytes of data. */
function rawFile(headerText: string, dataBytes: number): Uint8Array {
  const json = new TextEncoder().encode(headerText);
  const out = new Uint8Array(8 + json.length + dataBytes);
  new DataView(out.buffer).setBigUint64(0, BigInt(json.length), true);
  out.set(json, 8);
  return out;
}

/** Rejects with a CheckpointError whose message has every fragment and none of `absent`. */
async function refused(
  bytes: Uint8Array,
  fragments: string[],
  absent: string[] = [],
): Promise<string> {
  let message = "";
  await rejects(SafetensorsFile.fromBytes(bytes, "bad.safetensors"), (e: unknown) => {
    ok(e instanceof CheckpointError, `expected CheckpointError, got ${e}`);
    message = e.message;
    for (const f of ["bad.safetensors", ...fragments]) {
      ok(message.includes(f), `"${message}" should mention ${f}`);
    }
    for (const a of absent) ok(!message.includes(a), `"${message}" should not say ${a}`);
    return true;
  });
  return message;
}

Deno.test("case 15: a tensor named twice in the header is refused, not the last one kept", async () => {
  const entry = (end: number) => `{"dtype":"F32","shape":[1],"data_offsets":[0,${end}]}`;
  // Both entries are valid on their own; JSON.parse alone would silently keep the second.
  await refused(rawFile(`{"w":${entry(4)},"w":${entry(4)}}`, 4), ['"w"', "twice"]);
  // Escapes spell the same key differently; the reader compares decoded names.
  await refused(rawFile(`{"w":${entry(4)},"\\u0077":${entry(4)}}`, 4), ['"w"', "twice"]);
  // Inside an entry too: two dtypes for one tensor.
  await refused(
    rawFile(`{"w":{"dtype":"F16","dtype":"F32","shape":[1],"data_offsets":[0,4]}}`, 4),
    ['"dtype"', "twice", '"w"'],
  );
  // The same name in different entries is no duplicate.
  const fine = await SafetensorsFile.fromBytes(
    rawFile(
      `{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},` +
        `"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}`,
      8,
    ),
  );
  strictEqual(fine.names().length, 2);
  fine.close();
});

Deno.test("case 15: dtype names are own keys only, and missing or odd fields are named", async () => {
  for (const name of ["constructor", "toString", "__proto__", "hasOwnProperty"]) {
    await refused(
      rawFile(`{"w":{"dtype":"${name}","shape":[1],"data_offsets":[0,4]}}`, 4),
      ['"w"', `unknown dtype "${name}"`],
      ["NaN"],
    );
  }
  await refused(
    rawFile(`{"w":{"dtype":"F32","shape":[1]}}`, 4),
    ['"w"', "data_offsets missing"],
    ["undefined"],
  );
  await refused(
    rawFile(`{"w":{"dtype":"F32","shape":[1e309],"data_offsets":[0,4]}}`, 4),
    ['"w"', "shape [Infinity]"],
    ["[null]"],
  );
  await refused(
    rawFile(`{"w":{"shape":[1],"data_offsets":[0,4]}}`, 4),
    ['"w"', "dtype is missing"],
    ["undefined"],
  );
});

Deno.test("case 15: error messages quote at most a few hundred characters of the file", async () => {
  const depth = 200_000;
  const nested = "[".repeat(depth) + "]".repeat(depth);
  const message = await refused(
    rawFile(`{"w":{"dtype":"F32","shape":${nested},"data_offsets":[0,4]}}`, 4),
    ['"w"', "shape"],
  );
  ok(message.length < 600, `message of ${message.length} characters`);
  const longName = "n".repeat(100_000);
  const named = await refused(
    rawFile(
      `{"${longName}":{"dtype":"Q${"x".repeat(100_000)}","shape":[1],"data_offsets":[0,4]}}`,
      4,
    ),
    ["unknown dtype"],
  );
  ok(named.length < 800, `message of ${named.length} characters`);
});

/** xorshift32: the mutation test's own seeded generator (independent of the library's). */
function generator(seed: number): (n: number) => number {
  let s = seed >>> 0 || 1;
  return (n) => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return s % n;
  };
}

/** One mutation of `bytes`: flips, overwrites, cuts, inserts, or edits the header text. */
function mutate(bytes: Uint8Array, random: (n: number) => number): Uint8Array {
  const headerEnd = 8 + Number(new DataView(bytes.buffer).getBigUint64(0, true));
  const kind = random(7);
  const copy = bytes.slice();
  const at = (limit = copy.length) => random(Math.max(limit, 1));
  switch (kind) {
    case 0: // flip one bit anywhere
      copy[at()] ^= 1 << random(8);
      return copy;
    case 1: // overwrite a header byte with a JSON-significant character
      copy[8 + at(headerEnd - 8)] = '{}[]",:0-e.9 "'.charCodeAt(random(14));
      return copy;
    case 2: // truncate
      return copy.slice(0, at());
    case 3: { // a different header length
      const view = new DataView(copy.buffer);
      const choices = [0n, 1n, 7n, BigInt(headerEnd - 9), BigInt(headerEnd + 3), 2n ** 63n];
      view.setBigUint64(0, choices[random(choices.length)], true);
      return copy;
    }
    case 4: { // insert bytes into the header (the length no longer matches)
      const position = 8 + at(headerEnd - 8);
      const inserted = new TextEncoder().encode(['"', "}", "1e309", ",", "[[[["][random(5)]);
      const out = new Uint8Array(copy.length + inserted.length);
      out.set(copy.subarray(0, position));
      out.set(inserted, position);
      out.set(copy.subarray(position), position + inserted.length);
      return out;
    }
    case 5: { // replace a token of the header text, keeping the length
      const text = new TextDecoder().decode(copy.subarray(8, headerEnd));
      const swaps: [RegExp, string][] = [
        [/F32/, "I64"],
        [/F16/, "U8 "],
        [/\d/, "9"],
        [/"shape"/, '"shapf"'],
        [/"dtype"/, '"dtypf"'],
        [/"data_offsets"/, '"data_offsett"'],
        [/\[/, "{"],
        [/"a"/, '"b"'],
      ];
      const [pattern, replacement] = swaps[random(swaps.length)];
      const edited = new TextEncoder().encode(text.replace(pattern, replacement));
      if (edited.length !== headerEnd - 8) return copy;
      copy.set(edited, 8);
      return copy;
    }
    default: { // several random bytes at once
      for (let i = 0; i < 4; i++) copy[at()] = random(256);
      return copy;
    }
  }
}

Deno.test("mutation test: 400 damaged files each give a named CheckpointError or a valid read", async () => {
  const parts = await safetensorsBytes({
    a: { dtype: "F32", shape: [2, 3], data: new Float32Array([1, 2, 3, 4, 5, 6]) },
    b: { dtype: "F16", shape: [4], data: new Float32Array([0.5, -1, 2, 65504]) },
    c: { dtype: "BF16", shape: [2], data: new Float32Array([1, -2]) },
    d: { dtype: "I64", shape: [3], data: Int32Array.of(-1, 0, 7) },
    e: { dtype: "F32", shape: [0, 5], data: new Float32Array(0) },
  }, { format: "pt" });
  const bytes = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  parts.reduce((offset, p) => (bytes.set(p, offset), offset + p.length), 0);
  const random = generator(20261124);
  const started = performance.now();
  let refusedCount = 0;
  let validCount = 0;
  for (let i = 0; i < 400; i++) {
    const damaged = mutate(bytes, random);
    try {
      const file = await SafetensorsFile.fromBytes(damaged, `mutant-${i}.safetensors`);
      try {
        for (const name of file.names()) {
          const info = file.info(name);
          // A valid read, or a named refusal of a dtype the reader cannot convert.
          try {
            if (["F32", "F16", "BF16", "F64"].includes(info.dtype)) await file.readFloat32(name);
            else if (["I32", "I64"].includes(info.dtype)) await file.readInt(name);
            else await file.readRaw(name);
          } catch (e) {
            if (!(e instanceof CheckpointError)) throw e;
          }
        }
      } finally {
        file.close();
      }
      validCount++;
    } catch (e) {
      if (!(e instanceof CheckpointError)) {
        throw new Error(`mutation ${i}: ${e instanceof Error ? e.name : typeof e}: ${e}`);
      }
      ok(e.message.includes(`mutant-${i}.safetensors`), `mutation ${i}: ${e.message}`);
      ok(e.message.length < 1000, `mutation ${i}: a ${e.message.length}-character message`);
      refusedCount++;
    }
  }
  const seconds = (performance.now() - started) / 1000;
  ok(seconds < 10, `400 mutations took ${seconds.toFixed(1)} s`);
  // Both outcomes occur, so the test exercises refusals and reads alike.
  ok(refusedCount > 100 && validCount > 10, `${refusedCount} refused, ${validCount} valid`);
});
