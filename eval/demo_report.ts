/** Quality metrics per demo setting and the report files (markdown, JSON, SVG plot). */

import { join } from "node:path";
import type { AttentionMethod } from "../src/compression/methods.ts";
import { FrechetEvaluator } from "./frechet.ts";
import { fashionMnistAvailable } from "./fashion_mnist.ts";
import { meanRelativeError, psnr, ssim } from "./image_metrics.ts";
import { scatterPlotSvg } from "./svg_plot.ts";
import { writeBytes } from "../deno.ts";

export interface DemoRow {
  name: string;
  threshold: number | null;
  /** Samples as planar [C, H, W] images in [-1, 1], border already cropped. */
  images: Float32Array[];
  seconds: number;
  attentionMacsFraction: number;
  modelMacsFraction: number;
  histogram: Record<AttentionMethod, number> | null;
  calibrationSeconds: number | null;
  calibrationBlocks: { blocks: number; naive: number } | null;
}

export interface EvaluatedRow extends DemoRow {
  secondsPerImage: number;
  speedup: number;
  psnr: number;
  ssim: number;
  meanRelativeError: number;
  frechet: number | null;
}

export interface EvaluatedDemo {
  rows: EvaluatedRow[];
  /** Fréchet distance between two disjoint sets of real test images of the same size. */
  frechetRealReference: number | null;
  frechetNote: string;
}

const toUnit = (image: Float32Array) => image.map((v) => Math.min(1, Math.max(0, v / 2 + 0.5)));

function mean(values: number[]): number {
  return values.reduce((a, b) => a + b, 0) / Math.max(values.length, 1);
}

/** PSNR, SSIM and relative error against the full-attention images of the same noise. */
export async function evaluateRows(
  rows: DemoRow[],
  size: { channels: number; height: number; width: number },
): Promise<EvaluatedDemo> {
  const reference = rows[0].images.map(toUnit);
  let evaluator: FrechetEvaluator | null = null;
  let frechetNote = "";
  if (await fashionMnistAvailable()) {
    evaluator = await FrechetEvaluator.create({});
  } else {
    frechetNote =
      "Fashion-MNIST not installed (apt-get install -y dataset-fashion-mnist): no Fréchet distance";
  }
  const evaluated = rows.map((row) => {
    const images = row.images.map(toUnit);
    const perImage = images.map((img, i) => ({
      psnr: psnr(img, reference[i], 1),
      ssim: ssim(img, reference[i], size.width, size.height),
      mre: meanRelativeError(img, reference[i]),
    }));
    return {
      ...row,
      secondsPerImage: row.seconds / row.images.length,
      speedup: rows[0].seconds / row.seconds,
      psnr: mean(perImage.map((p) => Math.min(p.psnr, 100))),
      ssim: mean(perImage.map((p) => p.ssim)),
      meanRelativeError: mean(perImage.map((p) => p.mre)),
      frechet: evaluator ? evaluator.distanceTo(images).frechetDistance : null,
    };
  });
  let frechetRealReference: number | null = null;
  if (evaluator) {
    const report = evaluator.distanceTo(reference);
    frechetRealReference = report.referenceDistance;
    frechetNote =
      `Fréchet distance: Gaussians fitted to the top ${report.components} principal components ` +
      `(PCA of 10,000 real training images) of the samples vs the ${report.testCount} real test images. ` +
      `${report.referenceCount} held-out real training images score ${
        frechetRealReference.toFixed(2)
      } ` +
      `against the same test statistics: what a perfect sampler would get at this sample count.`;
  }
  return { rows: evaluated, frechetRealReference, frechetNote };
}

const fmt = (
  v: number | null,
  digits = 3,
) => (v === null || !Number.isFinite(v) ? "–" : v.toFixed(digits));

export async function writeDemoReport(
  settings: {
    out: string;
    steps: number;
    samples: number;
    nCalib: number;
    cfgScale: number;
    seed: number;
  },
  demo: EvaluatedDemo,
  classNames: string[],
  adapter: string,
): Promise<void> {
  const lines = [
    "# DiTFastAttn demo report",
    "",
    `Model: embedded Fashion-MNIST DiT (6 layers, 256 tokens). DDIM ${settings.steps} steps, CFG ${settings.cfgScale}, ` +
    `${settings.samples} samples (classes in turn: ${
      classNames.slice(0, 3).join(", ")
    }, …), noise seed ${settings.seed}; ` +
    `calibration on ${settings.nCalib} samples. Adapter: ${adapter}.`,
    "",
    "Quality columns compare each setting with the full-attention images from the same noise " +
    "(PSNR/SSIM on [0,1] images, mean relative error = ‖a−b‖₁/‖b‖₁).",
    "",
    "| setting | attention MACs | model MACs | s/image | speedup | PSNR dB | SSIM | rel. error | Fréchet (PCA) | methods (full/ASC/WA-RS/WA-RS+ASC/AST) | calibration |",
    "|---|---|---|---|---|---|---|---|---|---|---|",
  ];
  for (const r of demo.rows) {
    const h = r.histogram;
    const methods = h
      ? `${h.FULL_ATTN}/${h.FULL_ATTN_CFG_SHARE}/${h.RESIDUAL_WINDOW_ATTN}/${h.RESIDUAL_WINDOW_ATTN_CFG_SHARE}/${h.OUTPUT_SHARE}`
      : "all full";
    const calibration = r.calibrationSeconds === null
      ? "–"
      : `${r.calibrationSeconds.toFixed(1)}s` +
        (r.calibrationBlocks
          ? ` (${r.calibrationBlocks.blocks} vs ${r.calibrationBlocks.naive} naive blocks)`
          : " (cached)");
    lines.push(
      `| ${r.name} | ${(100 * r.attentionMacsFraction).toFixed(1)}% | ${
        (100 * r.modelMacsFraction).toFixed(1)
      }% | ` +
        `${r.secondsPerImage.toFixed(3)} | ${r.speedup.toFixed(2)}× | ${
          r.threshold === null ? "∞" : fmt(r.psnr, 2)
        } | ` +
        `${fmt(r.ssim, 4)} | ${fmt(r.meanRelativeError, 4)} | ${
          fmt(r.frechet, 2)
        } | ${methods} | ${calibration} |`,
    );
  }
  lines.push(
    "",
    demo.frechetNote,
    "",
    "Files: `full.png`, `plan-<δ>.png` (all samples), `comparison.png` (one row per setting, one sample per class), " +
      "`quality_vs_macs.svg`, `report.json`, `plans/`.",
  );
  await writeBytes(join(settings.out, "report.md"), lines.join("\n") + "\n");
  const json = {
    settings,
    adapter,
    frechetRealReference: demo.frechetRealReference,
    frechetNote: demo.frechetNote,
    rows: demo.rows.map(({ images: _images, ...rest }) => rest),
  };
  await writeBytes(join(settings.out, "report.json"), JSON.stringify(json, null, 1) + "\n");
  const compressed = demo.rows.filter((r) => r.threshold !== null);
  const svg = scatterPlotSvg(
    [{
      label: "PSNR vs full attention (dB)",
      color: "#1f77b4",
      points: compressed.map((r) => ({
        x: r.attentionMacsFraction,
        y: r.psnr,
        note: `δ=${r.threshold}`,
      })),
    }],
    {
      title: "Quality vs attention MACs (Fashion-MNIST DiT)",
      xLabel: "attention MACs / full",
      yLabel: "PSNR (dB)",
    },
  );
  await writeBytes(join(settings.out, "quality_vs_macs.svg"), svg);
}
