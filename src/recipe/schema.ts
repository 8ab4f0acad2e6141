// The recipe schema (zod): what a YAML recipe may say, with a description for every field.
// Keys PyTorch has a name for keep it (lr, weight_decay, momentum, step_size, milestones, gamma,
// T_max, ...); graft's own concepts are camelCase (numClasses, lrScale, freezeTo, batchSize).
import { z } from 'zod';
import { PruneSpec, QatPhaseSpec, QuantizeSpec } from './_schema_compress.ts';
import { LogSection } from './_schema_log.ts';
import {
  BN_POLICY,
  bool,
  CausalLMData,
  FreezeSpec,
  int,
  LayerSpec,
  LrChange,
  type loadPlanFields,
  nonneg,
  OptimizerSpec,
  PretrainedObject,
  pos,
  prob,
  SchedulerSpec,
  Selector,
  str,
  TransformSpec,
} from './_schema_parts.ts';

const GroupSpec = z.strictObject({
  name: str().describe("the group's name (phases and plans refer to it)"),
  match: Selector.describe('its parameters; a parameter matched by two groups is an error'),
  lr: pos().optional().describe('absolute learning rate'),
  lrScale: pos().optional().describe('learning rate as a multiple of the base lr (e.g. 10 for a new head)'),
  weight_decay: nonneg().optional().describe("this group's weight decay (torch.optim's name)"),
  momentum: nonneg().optional().describe('SGD / RMSprop momentum for this group'),
  dampening: nonneg().optional().describe('SGD dampening'),
  nesterov: bool().optional().describe('SGD Nesterov momentum'),
  betas: z.tuple([prob(), prob()]).optional().describe('Adam / AdamW betas'),
  eps: pos().optional().describe('Adam / AdamW / RMSprop eps'),
  alpha: nonneg().optional().describe('RMSprop smoothing constant'),
});

const GroupsObject = z.strictObject({
  groups: z.array(GroupSpec).optional().describe('explicit groups, in order'),
  baseLr: pos().optional().describe('the lr that lrScale multiplies (default: optimizer.lr)'),
  weight_decay: nonneg().optional().describe('weight decay of groups that set none'),
  layers: z
    .union([
      bool(),
      z.strictObject({
        discriminative: z
          .union([pos(), z.tuple([pos(), pos()])])
          .optional()
          .describe("fastai's slice: [lo, hi] spread geometrically over the layer groups, or hi alone"),
        decay: pos().optional().describe("timm's layer_decay: lr x decay^(last - i)"),
      }),
    ])
    .optional()
    .describe('one group per registry layer group for parameters no explicit group took'),
  noDecay: z
    .union([bool(), Selector])
    .optional()
    .describe(
      "true: biases and norm weights at weight decay 0 (timm / fastai / Hugging Face's Trainer); default false: every parameter decays, as torch.optim; a selector adds to them",
    ),
  exclude: Selector.optional().describe(
    'parameters in no group: no optimizer holds them, so they keep their values (freeze them too, or they still get gradients)',
  ),
  rest: z
    .union([str(), z.literal(false)])
    .optional()
    .describe("group for parameters nothing matched (default 'default'); false makes them an error"),
});

const CacheMode = z.enum(['auto', 'memory', 'disk', 'off'], { error: "expected 'auto', 'memory', 'disk' or 'off'" });

const Phase = z.strictObject({
  name: str().optional().describe('shown in progress, metrics and plans'),
  epochs: int(1).optional().describe('length in epochs (give epochs or steps)'),
  steps: int(1).optional().describe('length in optimizer steps'),
  freeze: z
    .union([z.literal('none'), FreezeSpec], {
      error: "expected 'none' or a freeze spec { freeze, freezeTo, train, bn, bnEval, via }",
    })
    .optional()
    .describe("what is frozen from this phase on ('none': everything trains); default: the previous phase's"),
  lr: LrChange.optional().describe('learning-rate changes at the phase start'),
  scheduler: z
    .union([SchedulerSpec, z.null()])
    .optional()
    .describe('a scheduler from this phase on (its base lrs: the lrs now); null stops the current one'),
  optimizer: OptimizerSpec.extend({
    lr: pos()
      .optional()
      .describe("the optimizer's default lr only: every group keeps its current lr (change lrs with the phase's lr)"),
    state: z
      .enum(['reset', 'keep'])
      .optional()
      .describe("'reset' (default): fresh state; 'keep': carry what means the same"),
  })
    .optional()
    .describe('switch the optimizer at the phase start (e.g. Adam first, then SGD with momentum)'),
  ramp: z
    .strictObject({
      groups: z.union([str(), z.array(str())]).describe('the groups whose lr ramps (e.g. backbone)'),
      factor: pos().describe('lr multiplier per epoch (Lightning: 2.0)'),
      alignTo: str().optional().describe("never above this group's lr (e.g. head)"),
    })
    .optional()
    .describe("Lightning BackboneFinetuning's per-epoch lr ramp: lr x factor each epoch, capped at alignTo's"),
  prune: PruneSpec.optional(),
  qat: QatPhaseSpec.optional(),
  cacheFeatures: CacheMode.optional().describe("this phase's feature cache (default: train.cacheFeatures)"),
});

const Model = z.strictObject({
  name: str().describe(
    'registry name: resnet18, resnet50, mobilenet_v2, efficientnet_b0, alexnet, vgg16, cifar_net, bert-base-uncased, ...',
  ),
  numClasses: int(1).optional().describe("classifier outputs (default: the data's class count)"),
  options: z
    .record(z.string(), z.unknown())
    .optional()
    .describe('other models.create() options: dropout, inChannels, config (BERT: a config.json object), ...'),
  pretrained: z
    .union([str(), PretrainedObject])
    .optional()
    .describe(
      "'offline' (graft's offline weights), torchvision:IMAGENET1K_V1, timm:<name>, hf:org/name[@rev], a URL, a checkpoint path, or { checkpoint | offline, ...load plan }",
    ),
  replace: z
    .record(z.string(), LayerSpec)
    .optional()
    .describe(
      'modules to replace, by path: { avgpool: AdaptiveConcatPool2d, fc: [Flatten, { Linear: [4096, numClasses] }] }',
    ),
});

const Transforms = z.strictObject({
  train: z.array(TransformSpec).optional().describe('training pipeline (augmentation)'),
  eval: z.array(TransformSpec).optional().describe('evaluation / prediction pipeline (saved in config.json)'),
});

const Data = z.strictObject({
  kind: z
    .enum(['image-folder', 'manifest', 'idx', 'fashion-mnist', 'text', 'causal-lm'])
    .describe(
      'image-folder: root/<class>/ images; manifest: CSV/JSONL of path,label; idx / fashion-mnist: MNIST-style IDX files; text: CSV/JSONL of text,label; causal-lm (task causal-lm): text files or JSONL of {text}, {instruction, input, output} or {messages}',
    ),
  root: str()
    .optional()
    .describe(
      'image-folder: root with train/ + val/ (or class folders and valRatio); idx: the IDX folder (fashion-mnist default /usr/share/datasets/fashion-mnist)',
    ),
  train: str().optional().describe('manifest / text: the training file; causal-lm: a file, folder or glob'),
  val: str().optional().describe('manifest / text / causal-lm: the validation file (or valRatio)'),
  test: str().optional().describe('manifest / text / causal-lm: a test file (graft eval --split test)'),
  valRatio: prob().optional().describe('hold out this fraction of the training data (seeded, per class) as validation'),
  classes: z
    .array(str())
    .optional()
    .describe(
      'class names in index order: manifest / text labels (an unknown label is an error), image folders (an unknown folder is an error), IDX files',
    ),
  maxImagePixels: z
    .union([int(1), z.null()])
    .optional()
    .describe('image files with more pixels are refused before decoding (default 178956970, as PIL; null: no limit)'),
  imageSize: int(1).optional().describe("square input size (default: the model's, 224 for ImageNet models)"),
  mode: z.enum(['RGB', 'L']).optional().describe("how image files are decoded (default 'RGB')"),
  transforms: Transforms.optional().describe(
    'default: resize (+ center crop for files, grayscale->3 channels for 1-channel data) and normalize with the model mean/std',
  ),
  batchSize: int(1).optional().describe('default 32'),
  evalBatchSize: int(1).optional().describe('default: batchSize'),
  workers: int(0).optional().describe('worker threads decoding image files (default 0: the main thread)'),
  prefetch: int(1).optional().describe('batches loaded ahead'),
  shuffle: bool().optional().describe('shuffle the training data every epoch (default true, seeded)'),
  dropLast: bool().optional().describe('drop the last incomplete training batch (default false)'),
  subset: z
    .strictObject({
      train: int(1).optional().describe('training samples kept'),
      val: int(1).optional().describe('validation samples kept'),
      test: int(1).optional().describe('test samples kept'),
    })
    .optional()
    .describe('use only N samples of a split (seeded pick): quick runs'),
  onBadSample: z
    .enum(['error', 'skip'])
    .optional()
    .describe("an unreadable image or row: 'error' (default) or 'skip' it"),
  pathColumn: str().optional().describe('manifest: the image path column (default path, file, filename or image)'),
  labelColumn: str().optional().describe('manifest / text: the label column (default label, class, target or y)'),
  textColumn: str().optional().describe('text: the text column (default text, sentence, review or content)'),
  pairColumn: str().optional().describe('text: a second text per row (sentence pairs)'),
  tokenizer: z
    .union([
      str(),
      z.strictObject({
        vocab: str().describe('a BERT vocab.txt'),
        lowercase: bool().optional().describe('uncased (default true)'),
        stripAccents: bool().optional().describe('strip accents (default: as lowercase)'),
      }),
    ])
    .optional()
    .describe(
      'text: a tokenizer.json, a vocab.txt (WordPiece) or a folder holding one; { vocab, lowercase } for options',
    ),
  maxLength: int(1).optional().describe('text: longest sequence (default 128)'),
  padding: z
    .enum(['longest', 'max_length'])
    .optional()
    .describe("text: pad to the batch's longest (default) or maxLength"),
  ...CausalLMData,
});

const LoraSection = z.strictObject({
  r: int(1).optional().describe('rank (default 8)'),
  alpha: pos().optional().describe('lora_alpha (default 8): updates are scaled by alpha / r'),
  dropout: prob().optional().describe('lora_dropout (default 0)'),
  targetModules: z
    .union([str(), z.array(str()).min(1)])
    .optional()
    .describe(
      "layers to adapt: names matched as dotted suffixes ([q_proj, v_proj]), '/regex/' over the whole module name, or 'all-linear'; default PEFT's for the family",
    ),
  excludeModules: z
    .union([str(), z.array(str()).min(1)])
    .optional()
    .describe('layers never adapted'),
  modulesToSave: z
    .array(str())
    .optional()
    .describe('modules trained in full and saved with the adapter (a new classification head)'),
  bias: z.enum(['none', 'all', 'lora_only']).optional().describe("which biases train (default 'none')"),
  useRslora: bool().optional().describe('scale by alpha / sqrt(r) (rank-stabilised LoRA)'),
});

const Monitor = z.union([
  str(),
  z.strictObject({
    metric: str().describe("'eval.accuracy', 'eval.loss', 'eval.macroF1', 'train.loss', ..."),
    mode: z.enum(['min', 'max']).optional().describe("default 'min' for losses, 'max' otherwise"),
  }),
]);

const Train = z.strictObject({
  seed: int(0)
    .optional()
    .describe('seeds data order, augmentation and libtorch (default 0): seeded CPU runs repeat exactly'),
  device: str().optional().describe("'cpu' (default), 'cuda' or 'cuda:N'"),
  threads: int(1).optional().describe('libtorch CPU threads'),
  amp: z
    .union([z.literal(false), z.enum(['bf16', 'fp16'])])
    .optional()
    .describe("mixed precision: 'bf16' (CPU, CUDA) or 'fp16' (CUDA, with a grad scaler); default false"),
  accumulate: int(1).optional().describe('batches per optimizer step (default 1)'),
  memoryFormat: z
    .enum(['contiguous', 'channels_last'])
    .optional()
    .describe("'channels_last': conv weights and image batches stored NHWC, faster conv nets on the CPU (same math)"),
  cacheFeatures: z
    .union([
      CacheMode,
      z.strictObject({
        mode: CacheMode.optional().describe("default 'auto'"),
        budgetMB: pos()
          .optional()
          .describe('auto keeps the rows in memory up to this size, on disk beyond (default 1024)'),
        dtype: z
          .enum(['float32', 'bfloat16'])
          .optional()
          .describe('row storage: bfloat16 halves it but rounds the features (no longer exact)'),
      }),
    ])
    .optional()
    .describe(
      "frozen-prefix feature caching: 'auto' (default: on when the frozen prefix and the inputs repeat exactly, else says why), 'memory', 'disk', 'off'",
    ),
  clip: z
    .union([
      pos(),
      z.strictObject({
        norm: pos().optional().describe("clip_grad_norm_'s max_norm (e.g. 1.0)"),
        normType: pos().optional().describe('the p of the norm (default 2)'),
        value: pos().optional().describe("clip_grad_value_'s clip_value"),
      }),
    ])
    .optional()
    .describe('gradient clipping: a max norm, or { norm, normType } / { value }'),
  monitor: Monitor.optional().describe("metric that picks the best epoch ('eval.accuracy'; default 'eval.loss')"),
  checkpoint: z
    .union([
      z.literal(false),
      z.strictObject({
        everySteps: int(1).optional().describe('also write last.pth every N steps'),
        keep: int(0).optional().describe('keep epoch-NNNN.pth of the last N epochs'),
        best: bool().optional().describe('copy the best epoch to best.pth (default true)'),
      }),
    ])
    .optional()
    .describe('checkpoints/last.pth every epoch (atomic), best.pth by the monitor; false: none'),
  earlyStopping: z
    .strictObject({
      monitor: str().optional().describe("default 'eval.loss'"),
      patience: int(0).optional().describe('epochs without improvement (default 3)'),
      minDelta: nonneg().optional().describe('the smallest change that counts (default 0)'),
      mode: z.enum(['min', 'max']).optional().describe("default 'min' for losses, 'max' otherwise"),
    })
    .optional()
    .describe('stop when the metric has not improved for patience epochs'),
  topK: int(1).optional().describe('k of the top-k accuracy (default 5)'),
  gradientCheckpointing: bool()
    .optional()
    .describe('causal-lm: recompute each block in backward instead of keeping its activations (default false)'),
  fp32Head: bool()
    .optional()
    .describe('causal-lm: the output layer and the loss in fp32 outside autocast (default true; tied heads too)'),
  distributed: z
    .strictObject({
      timeout: pos()
        .optional()
        .describe('seconds a process waits for the others before the run fails naming them (default 60)'),
      backend: z.enum(['gloo', 'nccl']).optional().describe("'gloo' (CPU; default) or 'nccl' (CUDA; default on cuda)"),
      bucketCapMB: pos().optional().describe('gradient bucket size in MiB (default 25, as torch DDP)'),
      syncBatchNorm: bool()
        .optional()
        .describe("BatchNorm statistics over every process's batch in training (torch's SyncBatchNorm; default false)"),
    })
    .optional()
    .describe(
      'runs on several processes (graft train --nproc N, torchrun, srun); in one process, present means the data-parallel sample order (so a resume may change the number of processes mid-epoch)',
    ),
  logEvery: int(1).optional().describe('optimizer steps per metrics.jsonl step record (default 10)'),
  report: bool().optional().describe('write report.html (default true)'),
  export: z
    .union([
      z.literal(false),
      z.strictObject({ weights: z.enum(['last', 'best']).optional().describe("default 'last'") }),
    ])
    .optional()
    .describe("model.safetensors + config.json at the end: the 'last' (default) or 'best' weights; false: none"),
});

export const RecipeSchema = z.strictObject({
  extends: str().optional().describe('a base recipe (path relative to this file): deep-merged under this one'),
  name: str().optional().describe('run name (default: the file name)'),
  task: z
    .enum(['classification', 'causal-lm'])
    .optional()
    .describe(
      "'classification' (default) or 'causal-lm': next-token training of a decoder (gpt2, llama, mistral, qwen2) with data.kind causal-lm; metrics loss and perplexity",
    ),
  description: z.string().optional().describe('free text, kept in the run folder'),
  model: Model.describe('the network, its pretrained weights and any replaced modules'),
  data: Data.describe('datasets, transforms and loaders'),
  groups: z
    .union([z.array(GroupSpec), GroupsObject])
    .optional()
    .describe(
      'parameter groups: a list of { name, match, lr | lrScale, ... }, or { groups, layers, baseLr, weight_decay, noDecay, exclude, rest }',
    ),
  optimizer: OptimizerSpec.extend({ lr: pos().describe('base learning rate') }).describe(
    '{ type, lr, ...torch.optim hyper-parameters } (momentum, betas, eps, alpha, nesterov, amsgrad, ...)',
  ),
  scheduler: SchedulerSpec.optional().describe('started with phase 0 (unless phase 0 has its own)'),
  phases: z
    .array(Phase, { error: 'expected a list of phases' })
    .min(1, { error: 'expected at least one phase' })
    .describe('the run: phases in order, each with a length, a freeze spec and changes at its start'),
  bn: BN_POLICY.optional().describe("BatchNorm policy for freeze specs that name none (default 'freeze-all')"),
  lora: LoraSection.optional().describe(
    'LoRA adapters on the model (PEFT-compatible): only they (and modulesToSave) train; the run folder gets adapter/',
  ),
  quantize: QuantizeSpec.optional(),
  train: Train.optional().describe(
    'the loop: seed, device, precision, accumulation, clipping, checkpoints, early stopping',
  ),
  log: LogSection.optional().describe('run tracking beside metrics.jsonl: TensorBoard event files, metrics.csv'),
  output: z
    .strictObject({
      dir: str().optional().describe('run folder (default runs/<name>; relative to the working directory)'),
    })
    .optional()
    .describe('where the run is written'),
});

export type Recipe = z.infer<typeof RecipeSchema>;
export type RecipeModel = Recipe['model'];
export type RecipeData = Recipe['data'];
export type RecipePhase = Recipe['phases'][number];
export type RecipeTrain = NonNullable<Recipe['train']>;
export type PretrainedSpec = z.infer<typeof PretrainedObject>;
export type RecipeLora = NonNullable<Recipe['lora']>;
export type LoadPlanFields = { [K in keyof typeof loadPlanFields]?: z.infer<(typeof loadPlanFields)[K]> };
