// Building blocks of the recipe schema: numbers with their messages, selectors, load plans,
// transforms and layer specs. Descriptions feed docs/recipes.md (docs.ts walks the schema).
import { z } from 'zod';

/** Schemas shown by name in the reference instead of expanded, keyed by definition (describe() clones share it). */
export const NAMED = new Map<unknown, string>();
const named = <T extends z.ZodType>(name: string, s: T): T => {
  NAMED.set((s as unknown as { _zod: { def: unknown } })._zod.def, name);
  return s;
};

const num = (what: string) => z.number({ error: `expected ${what}` });
export const pos = () => num('a positive number').positive({ error: 'expected a positive number' });
export const nonneg = () => num('a number >= 0').min(0, { error: 'expected a number >= 0' });
export const int = (min: number) =>
  num(`an integer >= ${min}`)
    .int({ error: `expected an integer >= ${min}` })
    .min(min, { error: `expected an integer >= ${min}` });
export const prob = () =>
  num('a number in [0, 1]')
    .min(0, { error: 'expected a number in [0, 1]' })
    .max(1, { error: 'expected a number in [0, 1]' });
export const str = () => z.string({ error: 'expected a string' }).min(1, { error: 'expected a non-empty string' });
export const bool = () => z.boolean({ error: 'expected true or false' });

const SELECTOR_FORMS =
  "expected a selector: a glob ('layer4.*'), a module path ('fc'), '!fc' (everything else), '/regex/', a list, " +
  '{ not }, { module }, { group }, { children, first | last }, { loaded } or { inCheckpoint }';

export type SelectorIn =
  | string
  | SelectorIn[]
  | { not: SelectorIn }
  | { module: string }
  | { group: string | number | (string | number)[] }
  | { children: string; first?: number; last?: number }
  | { loaded: boolean }
  | { inCheckpoint: boolean };

const groupKey = z.union([z.string(), z.number().int()], { error: 'expected a layer group name or index' });

/** Which parameters (src/finetune's Selector; '/.../flags' strings are regular expressions). */
export const Selector: z.ZodType<SelectorIn> = named(
  'selector',
  z.lazy(() =>
    z.union(
      [
        str(),
        z.array(Selector).min(1, { error: 'expected a non-empty list of selectors' }),
        z.strictObject({ not: Selector }),
        z.strictObject({ module: z.string({ error: 'expected a module path' }) }),
        z.strictObject({
          group: z.union([groupKey, z.array(groupKey)], { error: 'expected a layer group or a list' }),
        }),
        z.strictObject({
          children: z.string({ error: 'expected a module path' }),
          first: int(0).optional(),
          last: int(0).optional(),
        }),
        z.strictObject({ loaded: bool() }),
        z.strictObject({ inCheckpoint: bool() }),
      ],
      { error: SELECTOR_FORMS },
    ),
  ),
);

/** A checkpoint key pattern: glob, module path or '/regex/'. */
export const KeyPattern = named('key pattern', str());
const patterns = z.union([KeyPattern, z.array(KeyPattern)], { error: 'expected a key pattern or a list of them' });

export type RenameRuleIn =
  | [string, string]
  | { stripPrefix: string }
  | { addPrefix: string }
  | { replacePrefix: string; with: string }
  | { replace: string; with: string };

export const RenameRule = named(
  'rename rule',
  z.union(
    [
      z.tuple([z.string(), z.string()]),
      z.strictObject({ stripPrefix: str() }),
      z.strictObject({ addPrefix: str() }),
      z.strictObject({ replacePrefix: str(), with: z.string() }),
      z.strictObject({ replace: str(), with: z.string() }),
    ],
    {
      error:
        "expected a rename rule: ['regex', 'replacement'], { stripPrefix }, { addPrefix }, { replacePrefix, with } or { replace, with }",
    },
  ),
);

/** src/io's LoadPlan options, in a recipe. */
export const loadPlanFields = {
  subDict: z
    .string()
    .optional()
    .describe("sub-dict holding the weights: 'auto' (default: state_dict, model, module, ...), a dotted path, or ''"),
  fromPrefix: str().optional().describe("take only keys under this prefix and strip it (e.g. 'classifier.')"),
  rename: z
    .union([RenameRule, z.array(RenameRule)])
    .optional()
    .describe("rename rules applied in order (e.g. { stripPrefix: 'module.' } for a DataParallel checkpoint)"),
  includeOriginal: patterns
    .optional()
    .describe(
      "keep only checkpoint keys, as the file names them, matching these (before fromPrefix and rename): a plain string keeps keys containing it ('classifier'), a glob matches the whole key, '/re/' searches",
    ),
  excludeOriginal: patterns
    .optional()
    .describe('drop checkpoint keys, as the file names them (patterns as includeOriginal)'),
  include: patterns.optional().describe('keep only these keys (model names, after renaming)'),
  exclude: patterns.optional().describe("drop these keys (model names): the model keeps its own values (e.g. 'fc')"),
  onShapeMismatch: z
    .enum(['error', 'skip'])
    .optional()
    .describe(
      "'error' (default for checkpoints) or 'skip' (default for offline weights): a new head of another size stays new",
    ),
  onDtypeMismatch: z.enum(['cast', 'error']).optional().describe("'cast' (default) or 'error'"),
  strict: bool().optional().describe('missing or unexpected keys fail the load (default false)'),
  allowEmpty: bool().optional().describe('a plan that loads nothing is not an error (default false)'),
  convert: z
    .enum(['auto', 'none', 'keras-mobilenet_v2'])
    .optional()
    .describe('TF.js sources: map Keras MobileNetV2 names to torchvision (auto)'),
};

export const PretrainedObject = z.strictObject({
  checkpoint: str()
    .optional()
    .describe(
      'a checkpoint file or folder (.safetensors, sharded index, .pth/.pt/.bin, TF.js; relative to the recipe), or weights by name: torchvision:IMAGENET1K_V1, timm:<name>, hf:org/name[@rev], a URL',
    ),
  offline: z
    .literal(true, { error: 'expected true' })
    .optional()
    .describe("graft's offline weights for the model (mobilenet_v2: ImageNet weights inside the nsfwjs package)"),
  ...loadPlanFields,
});

/** One transform: a name ('randomHorizontalFlip') or { name: argument }. */
export const TransformSpec = named('transform', z.union([str(), z.record(z.string(), z.unknown())]));

/** A layer: a name ('ReLU'), { Name: argument(s) }, or a list (a Sequential). */
export type LayerSpecIn = string | LayerSpecIn[] | Record<string, unknown>;
export const LayerSpec: z.ZodType<LayerSpecIn> = named(
  'layer',
  z.lazy(() =>
    z.union([str(), z.array(LayerSpec).min(1), z.record(z.string(), z.unknown())], {
      error: "expected a layer: 'ReLU', { Linear: [in, out] }, or a list of layers",
    }),
  ),
);

export const BN_POLICY = z
  .enum(['train', 'freeze-stats', 'freeze-affine', 'freeze-all'])
  .describe('BatchNorm layers inside frozen parts');

export const FreezeSpec = z.strictObject({
  freeze: Selector.optional().describe("parameters to freeze ('*' is everything, '!fc' all but fc)"),
  freezeTo: z
    .number({ error: 'expected an integer' })
    .int({ error: 'expected an integer' })
    .optional()
    .describe("fastai's freeze_to(n): layer groups before n frozen; negative counts from the end"),
  train: Selector.optional().describe('exceptions that stay trainable (applied after freeze / freezeTo)'),
  bn: BN_POLICY.optional(),
  bnEval: Selector.optional().describe(
    "BatchNorm layers held in eval mode whether frozen or not (Keras' training=False)",
  ),
  via: z
    .enum(['requires-grad', 'lr0'])
    .optional()
    .describe("'requires-grad' (default) or 'lr0': whole param groups pinned at lr 0"),
});

export const LrValue = named(
  'lr value',
  z.union([nonneg(), z.strictObject({ of: str(), times: nonneg().optional() })], {
    error: "expected an lr: a number >= 0 or { of: 'group', times: 0.1 }",
  }),
);

export const LrChange = z.strictObject({
  set: z
    .union([LrValue, z.record(z.string(), LrValue)])
    .optional()
    .describe('one lr for every group, or lrs by group name'),
  scale: z
    .union([nonneg(), z.record(z.string(), nonneg())])
    .optional()
    .describe('multiply current lrs: one factor, or factors by group name'),
  equalise: LrValue.optional().describe("every group to one lr (e.g. { of: 'new', times: 0.1 })"),
});

/** torch.optim's spec: type and hyper-parameters under their PyTorch names (checked per type). */
export const OptimizerSpec = z.looseObject({
  type: str().describe('SGD, Adam, AdamW or RMSprop'),
  lr: pos().optional().describe('learning rate (the base of every group)'),
  weight_decay: nonneg().optional().describe('weight decay (groups may override)'),
});

export const SchedulerSpec = z.looseObject({
  type: str().describe(
    'a torch.optim.lr_scheduler name (StepLR, MultiStepLR, ReduceLROnPlateau, OneCycleLR, ...) or a Hugging Face schedule (linear, cosine, ...)',
  ),
  interval: z.enum(['epoch', 'step']).optional().describe("step after each 'epoch' (default) or each optimizer 'step'"),
  monitor: str()
    .optional()
    .describe(
      "ReduceLROnPlateau: the metric it watches ('eval.accuracy', 'eval.macroF1', 'train.loss', ...; default 'eval.loss')",
    ),
});

/** data fields for causal-LM data (data.kind causal-lm). */
export const CausalLMData = {
  format: z
    .enum(['auto', 'text', 'instruction', 'chat'])
    .optional()
    .describe(
      "causal-lm: rows are {text}, {instruction, input?, output} or {messages: [{role, content}]} (default 'auto': by each row's keys); plain text files are text",
    ),
  split: z
    .enum(['file', 'paragraph', 'line'])
    .optional()
    .describe('causal-lm: plain text files hold one document per file (default), per paragraph or per line'),
  packing: bool()
    .optional()
    .describe(
      'causal-lm: concatenate documents into blocks of blockSize tokens (default for plain text); false: one example per row, truncated to maxLength and padded per batch (default for chats)',
    ),
  blockSize: int(2)
    .optional()
    .describe("causal-lm: tokens per packed block (default: the tokenizer's limit, at most 512)"),
  appendEos: bool().optional().describe('causal-lm: end each text document with EOS (default true)'),
  chatTemplate: z
    .enum(['chatml', 'llama3', 'simple'])
    .optional()
    .describe(
      "causal-lm: a built-in chat template for chat / instruction rows, instead of the tokenizer's own Jinja chat_template (used when this is not given); 'simple' for tokenizers without a template",
    ),
};
