// Loading a checkpoint into a (modified) model through a load plan, with a report of every key:
// what the seeds do by hand with `{k: v ... if k in model_dict and size == size}`, `k[7:]` and
// `k.replace('classifier.', '')`.
//
//   const model = models.create('resnet18', { numClasses: 4 });
//   const report = loadCheckpoint(model, 'resnet18_dp.pth', {
//     rename: [stripPrefix('module.')],   // nn.DataParallel's prefix
//     onShapeMismatch: 'skip',            // fc: [1000, 512] -> [4, 512] stays new
//   });
//   console.log(report.table());
import type { Module } from '../nn/index.ts';
import type { DType } from '../tensor/dtype.ts';
import { noGrad, Tensor } from '../tensor/index.ts';
import { type CheckpointEntry, checkPlan, type LoadPlan, type ModelSlot, planLoad } from './plan/plan.ts';
import type { LoadReport, ReportContext } from './plan/report.ts';
import { type OpenedCheckpoint, openCheckpoint, RefReader } from './plan/source.ts';
import { infoOf, type Leaf, pickSubDict, TensorRef } from './plan/tree.ts';
import { rawToTensor } from './tensors.ts';
import { kerasMobileNetV2ToTorchvision } from './tfjs/keras_mobilenet_v2.ts';

export {
  addPrefix,
  globToRegExp,
  type KeyPattern,
  keyMatcher,
  type RenameRule,
  renameRegex,
  renameRules,
  replacePrefix,
  replaceText,
  stripPrefix,
} from './plan/match.ts';
export {
  type CheckpointEntry,
  checkPlan,
  describePlan,
  type LoadPlan,
  type ModelSlot,
  planLoad,
  suggestRename,
} from './plan/plan.ts';
export { LoadPlanError, LoadReport, type LoadRow, type RowStatus, type SubDictTaken } from './plan/report.ts';
export { FORMAT_NAMES, type OpenedCheckpoint, openCheckpoint, type SourceFormat } from './plan/source.ts';
export {
  AUTO_SUBDICTS,
  childrenOf,
  describeValue,
  flattenLeaves,
  isLeaf,
  type Leaf,
  type PickedDict,
  pickSubDict,
  type TensorInfo,
  TensorRef,
} from './plan/tree.ts';

/**
 * A checkpoint file or folder (safetensors, sharded safetensors index, .pth/.pt/.bin zip or legacy,
 * TF.js model; detected by content), or what one holds already in memory: a Map or plain object of
 * tensors (RawTensor or graft Tensor), nested as readPth returns them.
 */
export type CheckpointSource = string | OpenedCheckpoint | object;

/** The model's state-dict entries, with what a plan needs to know about each. */
export function modelSlots(model: Module): ModelSlot[] {
  const params = new Set<string>();
  for (const [k] of model.namedParameters()) params.add(k);
  const defaults = new Set<string>();
  for (const [prefix, m] of model.namedModules()) {
    // the protected hook Module.loadStateDict consults (BatchNorm: num_batches_tracked = 0)
    const hook = (m as unknown as { defaultForMissing(name: string): number | undefined }).defaultForMissing;
    for (const [name] of m.namedBuffers({ recurse: false }))
      if (hook.call(m, name) !== undefined) defaults.add(prefix ? `${prefix}.${name}` : name);
  }
  // tied weights: a tensor under several keys is one slot, named by its first key
  const firstKey = new Map<object, string>();
  return [...model.stateDict({ keepVars: true })].map(([key, t]) => {
    const first = firstKey.get(t);
    if (first === undefined) firstKey.set(t, key);
    return {
      key,
      dtype: t.dtype as DType,
      shape: t.shape,
      parameter: params.has(key),
      hasDefault: defaults.has(key),
      ...(first !== undefined ? { tiedTo: first } : {}),
    };
  });
}

function isOpened(x: object): x is OpenedCheckpoint {
  return 'root' in x && 'format' in x && 'file' in x && 'bytes' in x;
}

function open(source: CheckpointSource): OpenedCheckpoint {
  if (typeof source === 'string') return openCheckpoint(source);
  if (isOpened(source)) return source;
  return { file: '<object>', format: 'object', root: source, bytes: 0, metadata: null };
}

const KERAS_MOBILENET_V2 = ['Conv1/kernel', 'block_16_project/kernel'];

interface Prepared {
  ctx: Omit<ReportContext, 'plan'>;
  entries: CheckpointEntry[];
  /** by checkpoint key as reported (row.from) */
  leaves: Map<string, Leaf>;
}

/** Sub-dict and format conversion: the checkpoint's entries as the plan sees them. */
function prepare(opened: OpenedCheckpoint, plan: LoadPlan): Prepared {
  const notes: string[] = [];
  const tfjs = opened.tfjs;
  const convert = plan.convert ?? 'auto';
  if (
    tfjs &&
    convert !== 'none' &&
    (convert === 'keras-mobilenet_v2' || KERAS_MOBILENET_V2.every((k) => tfjs.weights.has(k)))
  ) {
    const mapped = kerasMobileNetV2ToTorchvision(tfjs.weights);
    const entries: CheckpointEntry[] = [];
    const leaves = new Map<string, Leaf>();
    for (const [keras, key] of mapped.renamed) {
      const t = mapped.stateDict.get(key)!;
      entries.push({ key, ...infoOf(t), origin: keras });
      leaves.set(keras, t);
    }
    for (const keras of mapped.unmapped) {
      const t = tfjs.weights.get(keras)!;
      entries.push({ key: keras, ...infoOf(t) });
      leaves.set(keras, t);
    }
    notes.push(`converted Keras MobileNetV2 weights to torchvision mobilenet_v2 names and layouts (HWIO -> OIHW)`);
    const subDict = { path: '', auto: false, alternatives: [] };
    return { ctx: { file: opened.file, format: opened.format, subDict, notes }, entries, leaves };
  }
  const picked = pickSubDict(opened.root, plan.subDict ?? 'auto', opened.file);
  const entries = [...picked.tensors].map(([key, t]) => ({ key, ...infoOf(t) }));
  const subDict = { path: picked.path, auto: picked.auto, alternatives: picked.alternatives };
  return { ctx: { file: opened.file, format: opened.format, subDict, notes }, entries, leaves: picked.tensors };
}

/**
 * What loadCheckpoint would do, from names and shapes only (safetensors and zip .pth headers; no
 * tensor data is read): the report, with `report.error` set instead of thrown when the plan fails.
 */
export function previewLoad(
  model: Module | readonly ModelSlot[],
  source: CheckpointSource,
  plan: LoadPlan = {},
): LoadReport {
  checkPlan(plan);
  const p = prepare(open(source), plan);
  return planLoad(p.entries, Array.isArray(model) ? model : modelSlots(model as Module), plan, p.ctx);
}

/**
 * Loads a checkpoint into `model` through a plan and returns the report. Values are copied into the
 * model's existing parameters and buffers (identity kept, so an optimizer built before still works),
 * cast to their dtypes, on their devices. When the plan fails (shape mismatch under 'error', strict,
 * nothing loaded) a LoadPlanError naming the file and keys is thrown and nothing is copied.
 * Tensors the plan does not take are never read (safetensors and zip .pth).
 */
export function loadCheckpoint(model: Module, source: CheckpointSource, plan: LoadPlan = {}): LoadReport {
  checkPlan(plan);
  const p = prepare(open(source), plan);
  const report = planLoad(p.entries, modelSlots(model), plan, p.ctx).check();
  const own = model.stateDict({ keepVars: true });
  const reader = new RefReader();
  try {
    noGrad(() => {
      for (const r of report.rows()) {
        if (r.status !== 'loaded') continue;
        const leaf = p.leaves.get(r.from!)!;
        const t = leaf instanceof Tensor ? leaf : rawToTensor(leaf instanceof TensorRef ? reader.read(leaf) : leaf);
        try {
          own.get(r.key)!.copy_(t);
        } finally {
          if (t !== leaf) t.dispose();
        }
      }
    });
  } finally {
    reader.close();
  }
  return report;
}
