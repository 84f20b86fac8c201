/**
 * The video commands end to end on the tiny golden STDiT2 and the tiny VAE: calibrate a plan,
 * generate animated PNGs with it, and refuse bad prompt files and sizes with clear errors.
 */

import { join } from "node:path";
import { EMBEDS_TENSOR, MASK_TENSOR } from "../src/io/prompt_embeddings.ts";
import { videoCommand } from "../cli/video.ts";
import { videoCalibrateCommand } from "../cli/video_calibrate.ts";
import { CheckpointError, OptionError, PlanError } from "../src/errors.ts";
import { goldenPath } from "./golden_files.ts";
import { TINY_STDIT2, writeTinyPrompts } from "./stdit2_fixtures.ts";
import { writeSafetensors } from "../deno.ts";
import { assertRejects } from "./asserts.ts";

/** The chunks of a PNG file by type, in order. */
function pngChunks(bytes: Uint8Array): { type: string; data: Uint8Array }[] {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const chunks = [];
  for (let at = 8; at < bytes.length;) {
    const length = view.getUint32(at);
    const type = new TextDecoder().decode(bytes.subarray(at + 4, at + 8));
    chunks.push({ type, data: bytes.subarray(at + 8, at + 8 + length) });
    at += 12 + length;
  }
  return chunks;
}

// 3 frames of 32 × 48 px: with the tiny VAE's factor 4, latents of 8 × 12 → 4 × 6 = 24 tokens.
const SIZE = ["--frames", "3", "--height", "32", "--width", "48", "--fps", "8"];

Deno.test("video-calibrate writes a plan and video renders animated PNGs with it", async () => {
  const dir = await Deno.makeTempDir({ prefix: "stdit2-cli-" });
  const prompts = await writeTinyPrompts(dir, 3);
  const model = goldenPath(TINY_STDIT2);
  const vae = goldenPath("vae-tiny-random");
  const plan = join(dir, "plan.json");
  await videoCalibrateCommand([
    "--model",
    model,
    "--vae",
    vae,
    "--prompt",
    prompts.slice(0, 2).join(","),
    "--threshold",
    "0.1",
    "--steps",
    "5",
    ...SIZE,
    "--out",
    plan,
  ]);
  const planFile = JSON.parse(await Deno.readTextFile(plan));
  if (planFile.model.family !== "stdit2" || planFile.model.tokens !== 24) {
    throw new Error(`unexpected plan model ${JSON.stringify(planFile.model)}`);
  }
  if (planFile.window !== 3 || planFile.steps !== 5 || planFile.sampler !== "ddpm") {
    throw new Error(`unexpected plan settings: window ${planFile.window}, ${planFile.steps} steps`);
  }
  const out = join(dir, "clip.png");
  await videoCommand([
    "--model",
    model,
    "--vae",
    vae,
    "--prompt",
    [prompts[2], prompts[0]].join(","),
    ...SIZE,
    "--plan",
    plan,
    "--out",
    out,
  ]);
  for (const path of [join(dir, "clip-0.png"), join(dir, "clip-1.png")]) {
    const chunks = pngChunks(await Deno.readFile(path));
    const ihdr = new DataView(chunks[0].data.buffer, chunks[0].data.byteOffset);
    if (ihdr.getUint32(0) !== 48 || ihdr.getUint32(4) !== 32) throw new Error("frame size");
    const actl = chunks.find((c) => c.type === "acTL");
    if (!actl || new DataView(actl.data.buffer, actl.data.byteOffset).getUint32(0) !== 3) {
      throw new Error(`${path} is not a 3-frame animated PNG`);
    }
    const delay = chunks.find((c) => c.type === "fcTL")!.data;
    const view = new DataView(delay.buffer, delay.byteOffset);
    if (view.getUint16(20) !== 125 || view.getUint16(22) !== 1000) throw new Error("8 fps");
  }
  const sheet = pngChunks(await Deno.readFile(join(dir, "clip-sheet.png")));
  const header = new DataView(sheet[0].data.buffer, sheet[0].data.byteOffset);
  // 3 frames × 2 videos of 48 × 32 with 2 px padding.
  if (header.getUint32(0) !== 3 * 48 + 4 * 2 || header.getUint32(4) !== 2 * 32 + 3 * 2) {
    throw new Error("contact sheet size");
  }
  // The plan is bound to its size: another one is refused.
  await assertRejects(
    () =>
      videoCommand([
        "--model",
        model,
        "--vae",
        vae,
        "--prompt",
        prompts[0],
        "--frames",
        "3",
        "--height",
        "40",
        "--width",
        "48",
        "--plan",
        plan,
        "--out",
        join(dir, "other.png"),
      ]),
    PlanError,
    "plan",
  );
  await Deno.remove(dir, { recursive: true });
});

Deno.test("video refuses bad prompt files and sizes before sampling", async () => {
  const dir = await Deno.makeTempDir({ prefix: "stdit2-cli-bad-" });
  const model = goldenPath(TINY_STDIT2);
  const vae = goldenPath("vae-tiny-random");
  const run = (prompt: string, ...extra: string[]) =>
    videoCommand(["--model", model, "--vae", vae, "--prompt", prompt, ...SIZE, ...extra]);
  const mismatched = join(dir, "mismatched.safetensors");
  await writeSafetensors(mismatched, {
    [EMBEDS_TENSOR]: { dtype: "F32", shape: [6, 32], data: new Float32Array(6 * 32) },
    [MASK_TENSOR]: { dtype: "F32", shape: [5], data: new Float32Array(5).fill(1) },
  });
  await assertRejects(() => run(mismatched), CheckpointError, "has 5 entries but");
  const long = join(dir, "long.safetensors");
  await writeSafetensors(long, {
    [EMBEDS_TENSOR]: { dtype: "F32", shape: [7, 32], data: new Float32Array(7 * 32) },
    [MASK_TENSOR]: { dtype: "F32", shape: [7], data: new Float32Array(7).fill(1) },
  });
  await assertRejects(() => run(long, "--out", join(dir, "x.png")), OptionError, "at most 6");
  const wide = join(dir, "wide.safetensors");
  await writeSafetensors(wide, {
    [EMBEDS_TENSOR]: { dtype: "F32", shape: [6, 40], data: new Float32Array(6 * 40) },
    [MASK_TENSOR]: { dtype: "F32", shape: [6], data: new Float32Array(6).fill(1) },
  });
  // (the prompt reader owns this check and its error class)
  await assertRejects(() => run(wide), Error, "caption_channels is 32");
  await assertRejects(
    () => videoCommand(["--model", model, "--vae", vae, "--prompt", long, "--height", "3"]),
    OptionError,
    "height (pixels) must be",
  );
  await assertRejects(() => videoCommand(["--vae", vae]), OptionError, "--model is required");
  await Deno.remove(dir, { recursive: true });
});
