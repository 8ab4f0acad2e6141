// A model's forward as a list of stages run one after the other, so that the frozen prefix can run
// once and the trainable suffix on its cached output. Running every stage in order does exactly
// the ops model.forward() does (the test compares them bit for bit for every built-in model).
// Sequential containers without hooks are opened up: the cut can fall between their children.
import { AlexNet, EfficientNet, MobileNetV2, ResNet, VGG } from '../models/index.ts';
import { type Module, Sequential } from '../nn/index.ts';
import { F, type Tensor, tidy } from '../tensor/index.ts';

export interface Stage {
  /** what it runs, for plans and notes ('layer4.1', 'features.18', 'avgpool + flatten') */
  name: string;
  /** the module paths whose parameters, buffers and train/eval mode belong to the stage */
  paths: string[];
  run(x: Tensor): Tensor;
}

/** A model that declares its own split: its forward(x) must equal running these stages in order. */
export interface StagedModel {
  featureStages(): Stage[];
}

const isStaged = (m: unknown): m is StagedModel =>
  typeof (m as Partial<StagedModel> | null)?.featureStages === 'function';

// a subclass (Conv2dNormActivation, a custom block) may have its own forward: only Sequential itself is opened
const isPlainSequential = (m: Module): m is Sequential =>
  m instanceof Sequential && Object.getPrototypeOf(m) === Sequential.prototype;

/** One stage per child of a plain Sequential (recursively), or the module itself as one stage. */
function moduleStages(model: Module, path: string): Stage[] {
  const m = model.getSubmodule(path);
  if (isPlainSequential(m) && !m.hasHooks)
    return [...m.namedChildren()].flatMap(([k]) => moduleStages(model, `${path}.${k}`));
  // looked up at run time: a head replaced after the stages were listed is the one that runs
  return [{ name: path, paths: [path], run: (x) => model.getSubmodule(path).call(x) }];
}

const flatPool = (name: string, run: (x: Tensor) => Tensor, paths: string[] = []): Stage => ({
  name,
  paths,
  run: (x) => tidy(() => run(x)),
});

/**
 * The stages of a model's forward, or undefined when graft does not know how it splits: models
 * that declare featureStages(), a plain Sequential, ResNet, MobileNetV2, EfficientNet, VGG, AlexNet.
 */
export function featureStages(model: Module): Stage[] | undefined {
  if (isStaged(model)) return model.featureStages();
  if (isPlainSequential(model)) return [...model.namedChildren()].flatMap(([k]) => moduleStages(model, k));
  if (model instanceof ResNet) {
    const r = model;
    return [
      ...['conv1', 'bn1', 'relu', 'maxpool', 'layer1', 'layer2', 'layer3', 'layer4'].flatMap((p) =>
        moduleStages(model, p),
      ),
      flatPool('avgpool + flatten', (x) => r.avgpool.call(x).flatten(1), ['avgpool']),
      ...moduleStages(model, 'fc'),
    ];
  }
  if (model instanceof MobileNetV2)
    return [
      ...moduleStages(model, 'features'),
      flatPool('adaptive avg pool + flatten', (x) => F.adaptiveAvgPool2d(x, 1).flatten(1)),
      ...moduleStages(model, 'classifier'),
    ];
  if (model instanceof EfficientNet || model instanceof VGG || model instanceof AlexNet) {
    const m = model;
    return [
      ...moduleStages(model, 'features'),
      flatPool('avgpool + flatten', (x) => m.avgpool.call(x).flatten(1), ['avgpool']),
      ...moduleStages(model, 'classifier'),
    ];
  }
  return undefined;
}

/** Runs stages [from, to) on x; only the last output survives (intermediates are freed as model.call frees them). */
export function runStages(stages: readonly Stage[], from: number, to: number, x: Tensor): Tensor {
  return tidy(() => {
    let y = x;
    for (let i = from; i < to; i++) y = stages[i]!.run(y);
    return y;
  });
}
