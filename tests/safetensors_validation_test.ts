import { ok, rejects } from "node:assert/strict";
import { join } from "node:path";
import { CheckpointError } from "../src/errors.ts";
import { openSafetensors } from "../deno.ts";

/** A safetensors file from an arbitrary header (object or raw text) and data section. */
function rawFile(header: unknown, dataBytes: number, lengthOverride?: bigint): Uint8Array {
  const json = new TextEncoder().encode(
    typeof header === "string" ? header : JSON.stringify(header),
  );
  const out = new Uint8Array(8 + json.length + dataBytes);
  new DataView(out.buffer).setBigUint64(0, lengthOverride ?? BigInt(json.length), true);
  out.set(json, 8);
  return out;
}

const f32 = (shape: number[], begin: number, end: number) => ({
  dtype: "F32",
  shape,
  data_offsets: [begin, end],
});

/** Each case: file bytes and the fragments its error message must contain (besides the path). */
const cases: [string, Uint8Array, string[]][] = [
  ["too short", new Uint8Array(5), ["too short"]],
  ["header length past end", rawFile({}, 0, 1000n), ["header length 1000"]],
  ["header length absurd", rawFile({}, 0, 2n ** 40n), ["exceeds"]],
  ["non-JSON header", rawFile("{not json", 0), ["not valid JSON"]],
  ["non-object header", rawFile("[1, 2]", 0), ["not a JSON object"]],
  [
    "invalid UTF-8",
    (() => {
      const bytes = rawFile('{"a":1}', 0);
      bytes[10] = 0xff;
      return bytes;
    })(),
    ["UTF-8"],
  ],
  ["unknown dtype", rawFile({ w: { dtype: "F128", shape: [1], data_offsets: [0, 16] } }, 16), [
    '"w"',
    "F128",
  ]],
  ["shape/size mismatch", rawFile({ w: f32([2, 3], 0, 20) }, 24), ['"w"', "24 bytes"]],
  ["offsets outside the file", rawFile({ w: f32([4], 8, 24) }, 16), ['"w"', "past the data"]],
  ["begin after end", rawFile({ w: f32([0], 8, 4) }, 16), ['"w"', "begin > end"]],
  ["fractional offset", rawFile({ w: f32([1], 0.5, 4.5) }, 8), ['"w"', "data_offsets"]],
  ["negative shape", rawFile({ w: f32([-1], 0, 4) }, 8), ['"w"', "shape"]],
  ["overlapping tensors", rawFile({ a: f32([4], 0, 16), b: f32([2], 8, 16) }, 16), [
    '"a"',
    '"b"',
    "overlaps",
  ]],
  ["entry not an object", rawFile({ w: 3 }, 0), ['"w"', "not an object"]],
  ["non-string metadata", rawFile({ __metadata__: { steps: 3 } }, 0), ["__metadata__", "steps"]],
];

for (const [what, bytes, fragments] of cases) {
  Deno.test(`open rejects a file with ${what}`, async () => {
    const dir = await Deno.makeTempDir();
    const path = join(dir, "corrupt.safetensors");
    await Deno.writeFile(path, bytes);
    await rejects(openSafetensors(path), (e: unknown) => {
      ok(e instanceof CheckpointError, `expected CheckpointError, got ${e}`);
      for (const fragment of [path, ...fragments]) {
        ok(e.message.includes(fragment), `"${e.message}" should mention ${fragment}`);
      }
      return true;
    });
    await Deno.remove(dir, { recursive: true });
  });
}

Deno.test("open accepts metadata, padding, zero-size tensors and holes", async () => {
  const dir = await Deno.makeTempDir();
  const path = join(dir, "ok.safetensors");
  const header = JSON.stringify({
    __metadata__: { format: "pt" },
    a: f32([2], 0, 8),
    e: f32([0], 8, 8),
    b: f32([1], 12, 16),
  }) + "   ";
  await Deno.writeFile(path, rawFile(header, 16));
  const file = await openSafetensors(path);
  ok(file.names().join() === "a,b,e");
  file.close();
  await rejects(
    openSafetensors(join(dir, "missing.safetensors")),
    (e: unknown) => e instanceof CheckpointError && e.message.includes("missing.safetensors"),
  );
  await Deno.remove(dir, { recursive: true });
});
