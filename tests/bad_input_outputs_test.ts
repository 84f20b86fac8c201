/**
 * Bad input, output files (issue 17, cases 1 and 12): no output is ever half-written, output
 * paths are checked before any work, and a calibration that cannot save keeps its plan.
 */

import { deepEqual, equal, ok, rejects } from "node:assert/strict";
import { join } from "node:path";
import { generateCommand } from "../cli/generate.ts";
import { calibrateCommand } from "../cli/calibrate.ts";
import { pixartCommand } from "../cli/pixart.ts";
import { videoCommand } from "../cli/video.ts";
import { demoCommand } from "../cli/demo.ts";
import type { PlanFile } from "../src/compression/plan_file.ts";
import { OutputError } from "../src/errors.ts";
import {
  checkOutputFolder,
  checkOutputPath,
  loadPlan,
  savePlan,
  writeFileAtomic,
  writePng,
} from "../deno.ts";

const outputError = (...fragments: string[]) => (e: unknown) => {
  ok(e instanceof OutputError, `expected OutputError, got ${e}`);
  for (const f of fragments) ok(e.message.includes(f), `"${e.message}" should mention ${f}`);
  ok(!e.message.includes("\n"), `"${e.message}" is one line`);
  return true;
};

const listing = async (dir: string) =>
  (await Array.fromAsync(Deno.readDir(dir))).map((e) => e.name).sort();

Deno.test("case 1: a write that fails halfway leaves the old image whole and no temporary file", async () => {
  const dir = await Deno.makeTempDir();
  const path = join(dir, "image.png");
  await writePng(path, new Uint8Array([0, 128, 255, 64]), 2, 2, 1);
  const before = await Deno.readFile(path);
  // As a full disk does: 12 KB written, then the device refuses the rest.
  await rejects(
    writeFileAtomic(path, async (write) => {
      await write(new Uint8Array(12 * 1024));
      throw new Error("No space left on device (os error 28)");
    }),
    outputError(path, "No space left on device"),
  );
  deepEqual(await Deno.readFile(path), before);
  deepEqual(await listing(dir), ["image.png"]);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("case 1: writes never replace a folder or a device-like file", async () => {
  const dir = await Deno.makeTempDir();
  await Deno.mkdir(join(dir, "folder.png"));
  await rejects(
    writePng(join(dir, "folder.png"), new Uint8Array(4), 2, 2, 1),
    outputError("folder"),
  );
  // A FIFO stands in for /dev/full: as root a rename would replace the device node itself.
  const fifo = join(dir, "pipe.png");
  const made = await new Deno.Command("mkfifo", { args: [fifo] }).output().catch(() => null);
  if (made?.success) {
    await rejects(
      writePng(fifo, new Uint8Array(4), 2, 2, 1),
      outputError(fifo, "not a regular file"),
    );
    ok((await Deno.lstat(fifo)).isFifo, "the FIFO is still there");
  }
  deepEqual((await listing(dir)).filter((n) => n.endsWith(".tmp")), []);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("case 12: output paths are checked before any work", async () => {
  const dir = await Deno.makeTempDir();
  const file = join(dir, "file.txt");
  await Deno.writeTextFile(file, "x");
  await rejects(checkOutputPath(dir), outputError(dir, "is a folder"));
  await rejects(checkOutputPath(`${dir}/`), outputError("names a folder"));
  await rejects(
    checkOutputPath(join(file, "out.png")),
    outputError(file, "is a file, not a folder"),
  );
  await rejects(checkOutputPath(join(file, "deeper", "out.png")), outputError("deeper"));
  await rejects(checkOutputPath(""), outputError("empty"));
  await rejects(checkOutputPath("/dev/full"), outputError("/dev/full", "not a regular file"));
  // A missing parent folder is made, as the write would make it; nothing else is left behind.
  await checkOutputPath(join(dir, "new", "sub", "out.png"));
  deepEqual(await listing(join(dir, "new", "sub")), []);
  await checkOutputPath(file); // an existing file may be replaced
  await rejects(checkOutputFolder(file), outputError("is a file, not a folder"));
  await Deno.remove(dir, { recursive: true });
});

Deno.test("case 12: the commands refuse an unwritable output before loading a model", async () => {
  const dir = await Deno.makeTempDir();
  const file = join(dir, "file.txt");
  await Deno.writeTextFile(file, "x");
  // The model does not exist: reaching the model would be a CheckpointError instead.
  const model = "/nonexistent/model";
  await rejects(generateCommand(["--model", model, "--out", dir]), outputError("is a folder"));
  await rejects(
    generateCommand(["--model", model, "--out", "/dev/full"]),
    outputError("/dev/full"),
  );
  await rejects(
    calibrateCommand(["--model", model, "--threshold", "0.1", "--out", join(file, "plan.json")]),
    outputError("is a file"),
  );
  await rejects(
    calibrateCommand(["--model", model, "--threshold", "0.1", "--xdit", dir]),
    outputError("is a folder"),
  );
  const parts = ["--model", model, "--vae", model, "--prompt", "a.safetensors,b.safetensors"];
  await rejects(pixartCommand([...parts, "--out", ""]), outputError("empty"));
  // Both animations and the contact sheet are checked: here the second animation's path.
  await Deno.mkdir(join(dir, "clip-1.png"));
  await rejects(
    videoCommand([...parts, "--out", join(dir, "clip.png")]),
    outputError("clip-1.png", "is a folder"),
  );
  await rejects(demoCommand(["--model", model, "--out", file]), outputError("is a file"));
  await Deno.remove(dir, { recursive: true });
});

Deno.test("case 12: a plan that cannot be saved is kept in a temporary file, and the error says where", async () => {
  const dir = await Deno.makeTempDir();
  const blocker = join(dir, "blocker");
  await Deno.writeTextFile(blocker, "x");
  const plan: PlanFile = {
    format: "ditfastattn-plan",
    version: 1,
    model: { family: "dit", configHash: "0badc0de", layers: 1, tokens: 4 },
    steps: 2,
    sampler: "ddim",
    cfgScale: 4,
    window: 1,
    threshold: 0.1,
    nCalib: 1,
    seed: 0,
    candidates: ["OUTPUT_SHARE"],
    methods: [["FULL_ATTN", "OUTPUT_SHARE"]],
    attentionMacsFraction: 0.5,
    calibrationSeconds: 3600,
    createdAt: "2026-01-01T00:00:00.000Z",
  };
  let kept = "";
  await rejects(savePlan(join(blocker, "plan.json"), plan), (e: unknown) => {
    ok(outputError("blocker", "the plan was kept in ")(e));
    kept = (e as Error).message.split("the plan was kept in ")[1];
    return true;
  });
  deepEqual(await loadPlan(kept), plan);
  await Deno.remove(kept);
  equal((await listing(dir)).length, 1);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("every output file goes through writeFileAtomic (no direct writes in the tools)", async () => {
  const root = new URL("..", import.meta.url).pathname;
  const direct =
    /Deno\.(writeFile|writeTextFile|create|open)\(|Deno\.(writeFileSync|writeTextFileSync|openSync)\(/;
  const offenders: string[] = [];
  for (const folder of ["cli", "eval", "bench", "deno", "calibrate", "src", "models", "testing"]) {
    for await (const entry of Deno.readDir(join(root, folder))) {
      if (!entry.isFile || !entry.name.endsWith(".ts")) continue;
      const path = `${folder}/${entry.name}`;
      // The Deno entry's files.ts is where reading and the atomic write themselves live.
      if (path === "deno/files.ts") continue;
      const text = await Deno.readTextFile(join(root, path));
      text.split("\n").forEach((line, i) => {
        if (direct.test(line)) offenders.push(`${path}:${i + 1}: ${line.trim()}`);
      });
    }
  }
  deepEqual(offenders, []);
});
