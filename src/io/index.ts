// Raw checkpoint formats: safetensors and PyTorch .pth, read into and written from RawTensor records.
import { CheckpointError } from '../errors.ts';
import { detectSource } from './detect.ts';
import { withFile } from './file.ts';
import { readPthLegacy } from './pth/legacy.ts';
import { type ReadPthOptions, readPthZip } from './pth/torch_load.ts';
import type { PyValue } from './py.ts';

export { type CheckpointFormat, detectFormat } from './detect.ts';
export {
  HF_CONFIG,
  HF_SAFETENSORS,
  HF_SAFETENSORS_INDEX,
  HF_TOKENIZER_FILES,
  type HfDir,
  type HfDirSummary,
  type HfLoadOptions,
  type HfLoadResult,
  type HfTensorInfo,
  hfTensorInfo,
  hfTensors,
  isHfDir,
  loadHfWeights,
  readHfDir,
  summarizeHfDir,
} from './hf_dir.ts';
export { parseShardSize, type WriteHfDirOptions, type WriteHfDirResult, writeHfDir } from './hf_dir_write.ts';
export * from './load_plan.ts';
export {
  ADAPTER_CONFIG_NAME,
  ADAPTER_WEIGHTS_BIN_NAME,
  ADAPTER_WEIGHTS_NAME,
  type AdapterFiles,
  adapterConfigText,
  type LoraBias,
  PEFT_PREFIX,
  type PeftLoraConfig,
  parseAdapterConfig,
  peftLoraConfig,
  readAdapter,
  writeAdapter,
} from './peft.ts';
export { ALLOWED_GLOBALS } from './pth/globals.ts';
export {
  ALLOC_FLOOR,
  ALLOC_PER_PICKLE_BYTE,
  DEFAULT_MAX_DEPTH,
  type PickleLimits,
  resolveLimits,
} from './pth/limits.ts';
export {
  checkQuantizerValues,
  isQuantizedRaw,
  QDTYPE_INT,
  type QDtypeName,
  type QuantizedRawTensor,
  type Quantizer,
} from './pth/qtensor.ts';
export type { ReadPthOptions } from './pth/torch_load.ts';
export { type WritePthOptions, writePth } from './pth/torch_save.ts';
export {
  flattenTensors,
  isPyKey,
  isTuple,
  type PlainTreeOptions,
  PyGlobal,
  type PyInput,
  type PyKey,
  PyObject,
  PyOrderedDict,
  type PyTuple,
  type PyValue,
  plainTree,
  tuple,
} from './py.ts';
export {
  byteSize,
  checkRawTensor,
  checkView,
  contiguousStrides,
  isContiguous,
  isRawTensor,
  materialize,
  numel,
  type RawTensor,
  rawTensor,
  type ViewLayout,
} from './raw.ts';
export {
  encodeSafetensorsHeader,
  readSafetensors,
  readSafetensorsHeader,
  SAFETENSORS_DTYPE,
  type SafetensorsEntry,
  type SafetensorsFile,
  type SafetensorsHeader,
  writeSafetensors,
} from './safetensors.ts';
export { readShardedSafetensors, type ShardedSafetensors } from './sharded.ts';
export { readTfjsModel, type TfjsLayer, type TfjsModel, type TfjsWeightSpec } from './tfjs/tfjs.ts';

/**
 * torch.load for the zip (PyTorch >= 1.6) and legacy formats, with a restricted unpickler:
 * the object tree (see py.ts for how Python values map to JS) with RawTensor leaves.
 * Every tensor's data starts at a multiple of its element size, so typed-array views work;
 * tensors that shared a storage in PyTorch share an ArrayBuffer here.
 */
export function readPth(path: string, opts: ReadPthOptions = {}): PyValue {
  return withFile(path, (src) => {
    const format = detectSource(src);
    if (format === 'pth-zip') return readPthZip(src, opts);
    if (format === 'pth-legacy') return readPthLegacy(src, opts);
    throw new CheckpointError(path, 'this is a safetensors file, not a .pth', 'read it with readSafetensors');
  });
}
