/**
 * What the model families share around their weights: loading from a folder or from a config
 * value and a tensor source, and the few sizes every caller asks a transformer for.
 */

import type { Gpu } from "../gpu/context.ts";
import type { JsonConfig } from "../io/config.ts";
import type { Folder } from "../io/folder.ts";
import { asJsonConfig, loadFromFolder, weightDtype } from "../io/model_folder.ts";
import type { TensorSource } from "../io/safetensors.ts";
import type { DType } from "../tensor.ts";

/** How one family reads its config and builds a model from checked weights. */
export interface ModelFamily<Config, Options, Model> {
  /** Names the folder in errors ("model", "VAE"). */
  readonly kind: string;
  readonly parse: (raw: JsonConfig, path: string) => Config;
  readonly build: (
    gpu: Gpu,
    config: Config,
    source: TensorSource,
    options: Options,
    name: string,
  ) => Promise<Model>;
}

/** Loads `folder/config.json` and the folder's (possibly sharded) safetensors weights. */
export function loadModel<Config, Options, Model>(
  family: ModelFamily<Config, Options, Model>,
  gpu: Gpu,
  folder: Folder,
  options: Options,
): Promise<Model> {
  return loadFromFolder(
    folder,
    family.kind,
    family.parse,
    (config, source) => family.build(gpu, config, source, options, folder.location),
  );
}

/** Builds a model from a config.json value (or its text) and a tensor source. */
export function modelFromSources<Config, Options, Model>(
  family: ModelFamily<Config, Options, Model>,
  gpu: Gpu,
  configJson: unknown,
  source: TensorSource,
  options: Options,
): Promise<Model> {
  const where = `${source.path} config`;
  const config = family.parse(asJsonConfig(configJson, where), where);
  return family.build(gpu, config, source, options, source.path);
}

/** A family's `load(gpu, folder, options?)`. */
export type FamilyLoad<Options, Model> = (
  gpu: Gpu,
  folder: Folder,
  options?: Options,
) => Promise<Model>;

/** A family's `fromSources(gpu, configJson, source, options?)`. */
export type FamilyFromSources<Options, Model> = (
  gpu: Gpu,
  configJson: unknown,
  source: TensorSource,
  options?: Options,
) => Promise<Model>;

/** A family's `load` and `fromSources`, for its model class's static members. */
export function familyLoaders<Config, Options, Model>(
  family: ModelFamily<Config, Options, Model>,
): { load: FamilyLoad<Options, Model>; fromSources: FamilyFromSources<Options, Model> } {
  return {
    load: (gpu, folder, options = {} as Options) => loadModel(family, gpu, folder, options),
    fromSources: (gpu, configJson, source, options = {} as Options) =>
      modelFromSources(family, gpu, configJson, source, options),
  };
}

/** A family's `fromSource(gpu, config, source, options?, name?)`. */
export type FamilyFromSource<Config, Options, Model> = (
  gpu: Gpu,
  config: Config,
  source: TensorSource,
  options?: Options,
  name?: string,
) => Promise<Model>;

/** The load options every transformer family's weights understand. */
export interface WeightLoadOptions {
  dtype?: DType;
  freePackedWeights?: boolean;
}

/**
 * A family's `fromSource`: checks the weight dtype, loads the checked weights and constructs
 * the model (named after the source unless a name is given).
 */
export function fromLoadedWeights<Config, Options extends WeightLoadOptions, Weights, Model>(
  loadWeights: (
    gpu: Gpu,
    source: TensorSource,
    config: Config,
    dtype: DType,
    freePackedWeights: boolean,
  ) => Promise<Weights>,
  construct: (gpu: Gpu, config: Config, weights: Weights, name: string) => Model,
): FamilyFromSource<Config, Options, Model> {
  return async (gpu, config, source, options = {} as Options, name = source.path) => {
    const dtype = weightDtype(options.dtype);
    const freePackedWeights = options.freePackedWeights ?? false;
    const weights = await loadWeights(gpu, source, config, dtype, freePackedWeights);
    return construct(gpu, config, weights, name);
  };
}

/** A transformer family's `load`, `fromSources` and `fromSource`. */
export interface TransformerLoaders<Config, Options, Model> {
  load: FamilyLoad<Options, Model>;
  fromSources: FamilyFromSources<Options, Model>;
  fromSource: FamilyFromSource<Config, Options, Model>;
}

/**
 * The static loaders of a transformer model class, from its config parser, its weight loader and
 * its constructor: a folder or a config value is parsed, the weights checked and loaded, and the
 * model constructed.
 */
export function transformerLoaders<Config, Options extends WeightLoadOptions, Weights, Model>(
  parse: (raw: JsonConfig, path: string) => Config,
  loadWeights: Parameters<typeof fromLoadedWeights<Config, Options, Weights, Model>>[0],
  construct: (gpu: Gpu, config: Config, weights: Weights, name: string) => Model,
): TransformerLoaders<Config, Options, Model> {
  const fromSource = fromLoadedWeights<Config, Options, Weights, Model>(loadWeights, construct);
  return { ...familyLoaders({ kind: "model", parse, build: fromSource }), fromSource };
}

/** The sizes callers ask every transformer for. */
export class TransformerShape {
  constructor(
    /** Latent channels in. */
    readonly inChannels: number,
    /** Channels out (twice the latent channels with learned sigma). */
    readonly outChannels: number,
    /** Transformer blocks. */
    readonly layers: number,
    /** Hidden width C. */
    readonly width: number,
  ) {}
}
