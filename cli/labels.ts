/** Class labels given by index or by name (names from a model folder's labels.json). */

import { join } from "node:path";
import { OptionError } from "../src/errors.ts";

export interface LabelInfo {
  names: string[];
  /** Pixels to crop from each side when showing samples (Fashion-MNIST pads 28 → 32). */
  cropBorder: number;
}

export async function readLabelInfo(modelFolder: string): Promise<LabelInfo> {
  try {
    const raw = JSON.parse(await Deno.readTextFile(join(modelFolder, "labels.json")));
    return {
      names: Array.isArray(raw.names) ? raw.names.map(String) : [],
      cropBorder: Number(raw.cropBorder) || 0,
    };
  } catch {
    return { names: [], cropBorder: 0 };
  }
}

/** Parses "0,7,Sneaker,all" into class indices; "all" means every class once. */
export function parseLabels(text: string, info: LabelInfo, classes: number): number[] {
  const labels: number[] = [];
  for (const part of text.split(",").map((s) => s.trim()).filter((s) => s.length > 0)) {
    if (part === "all") {
      for (let i = 0; i < classes; i++) labels.push(i);
      continue;
    }
    if (/^\d+$/.test(part)) {
      const index = Number(part);
      if (index >= classes) {
        throw new OptionError(
          `label ${index} is out of range: the model has classes 0..${classes - 1}`,
        );
      }
      labels.push(index);
      continue;
    }
    const index = info.names.findIndex((n) => n.toLowerCase() === part.toLowerCase());
    if (index < 0) {
      const known = info.names.length > 0 ? `; known names: ${info.names.join(", ")}` : "";
      throw new OptionError(`unknown class "${part}"${known}`);
    }
    labels.push(index);
  }
  if (labels.length === 0) throw new OptionError("no class labels given");
  return labels;
}
