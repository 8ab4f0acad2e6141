// `graft export RUN_DIR --format onnx|safetensors|pth|hf [--quantize int8] [--out PATH]`: the
// trained model of a run folder (config.json + model.safetensors) in a deployment format.
// Its usage text lives in commands.ts: main.ts imports this module (and libtorch) only to run it.
import { existsSync, mkdirSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { ExportError, exportOnnx, type OnnxExportOptions } from '../export/index.ts';
import { PyOrderedDict, type RawTensor, writePth, writeSafetensors } from '../io/index.ts';
import * as models from '../models/index.ts';
import type { Module } from '../nn/index.ts';
import {
  hasTorchLayout,
  isQuantized,
  loadQuantized,
  quantizeDynamic,
  saveQuantizedPth,
  specOf,
} from '../quant/index.ts';
import { rebuildFromConfig } from '../recipe/index.ts';
import { ones, type Tensor, zeros } from '../tensor/index.ts';
import { loadModel, type ModelConfig, readModelConfig } from '../train/index.ts';
import { didYouMean } from '../util/spelling.ts';
import { intFlag, parse, runCommand, UsageError } from './_args.ts';
import { EXPORT_USAGE as USAGE } from './commands.ts';

const FORMATS = ['onnx', 'safetensors', 'pth', 'hf'] as const;
type Format = (typeof FORMATS)[number];

const OPTIONS = {
  format: { type: 'string' },
  quantize: { type: 'string' },
  out: { type: 'string' },
  opset: { type: 'string' },
  'fold-batchnorm': { type: 'boolean' },
  'seq-len': { type: 'string' },
  json: { type: 'boolean' },
} as const;

const DEFAULT_NAME: Record<Format, string> = {
  onnx: 'model.onnx',
  safetensors: 'model.safetensors',
  pth: 'model.pth',
  hf: 'hf',
};

function runModel(dir: string): { model: Module; config: ModelConfig } {
  if (!existsSync(join(dir, 'config.json')))
    throw new ExportError(
      `${dir} holds no trained model (no config.json)`,
      'graft train writes config.json + model.safetensors when a run finishes; export a finished run',
    );
  const weights = readModelConfig(dir).weights ?? 'model.safetensors';
  if (!existsSync(join(dir, weights)))
    throw new ExportError(
      `${dir} has a config.json but no ${weights}`,
      'the run did not finish writing its model; export a finished run (or copy the weights back)',
    );
  return loadModel(dir, { build: rebuildFromConfig });
}

const isText = (m: Module): boolean =>
  m instanceof models.BertForSequenceClassification ||
  m instanceof models.GPT2LMHeadModel ||
  m instanceof models.LlamaForCausalLM;

/** Example inputs and call for the ONNX trace: an image batch, or token ids + attention mask. */
function onnxInputs(
  model: Module,
  config: ModelConfig,
  seqLen: number | undefined,
): { inputs: Record<string, Tensor> | Tensor; o: OnnxExportOptions } {
  const pre = config.preprocessing ?? {};
  const metadata: Record<string, string> = {
    architecture: String(config.architecture ?? model.constructor.name),
    ...(config.task ? { task: config.task } : {}),
    ...(config.classNames ? { labels: JSON.stringify(config.classNames) } : {}),
    preprocessing: JSON.stringify(pre),
  };
  if (isText(model)) {
    // traced at 16 tokens, the sequence dynamic; --seq-len fixes it instead
    const L = seqLen ?? 16;
    const ids = zeros([1, L], { dtype: 'int64' });
    const mask = ones([1, L], { dtype: 'int64' });
    const inputs: Record<string, Tensor> = { input_ids: ids, attention_mask: mask };
    if (model instanceof models.BertForSequenceClassification)
      inputs.token_type_ids = zeros([1, L], { dtype: 'int64' });
    const axes: Record<number, string> = seqLen === undefined ? { 0: 'batch', 1: 'sequence' } : { 0: 'batch' };
    if (seqLen !== undefined) metadata.sequence_length = String(seqLen);
    const dynamicAxes = Object.fromEntries(Object.keys(inputs).map((k) => [k, axes]));
    const call =
      model instanceof models.LlamaForCausalLM
        ? (m: Module, x: Record<string, Tensor>) => m.call(x.input_ids, { attentionMask: x.attention_mask })
        : (m: Module, x: Record<string, Tensor>) =>
            m.call({ inputIds: x.input_ids, attentionMask: x.attention_mask, tokenTypeIds: x.token_type_ids });
    return { inputs, o: { metadata, outputs: ['logits'], dynamicAxes, call } };
  }
  const size = pre.inputSize ?? models.metaOf(model)?.inputSize;
  if (!size)
    throw new ExportError(
      'config.json records no input size for this image model',
      "add preprocessing.inputSize ([channels, height, width]) to the run's config.json",
    );
  return { inputs: zeros([1, ...size]), o: { metadata } };
}

/** The state dict as safetensors / .pth records (tied tensors once, under their first name). */
function rawStateDict(model: Module): Map<string, RawTensor> {
  const out = new Map<string, RawTensor>();
  for (const [k, t] of model.stateDict()) out.set(k, { dtype: t.dtype, shape: t.shape, data: t.bytes() });
  return out;
}

/** The run's tokenizer folder for an HF directory: the run's own files, else the recipe's tokenizer's folder. */
function tokenizerDir(dir: string, config: ModelConfig): string | undefined {
  if (existsSync(join(dir, 'tokenizer.json'))) return dir;
  const info = config.preprocessing?.tokenizer as { path?: string; vocab?: string } | undefined;
  const path = info?.path ?? info?.vocab;
  if (!path || !existsSync(path)) return undefined;
  return statSync(path).isDirectory() ? path : dirname(path);
}

export function run(args: string[]): Promise<number> {
  return runCommand('export', USAGE, async () => {
    const { values: v, positionals } = parse(args, OPTIONS);
    const [dir, ...extra] = positionals;
    if (!dir) throw new UsageError('missing RUN_DIR');
    if (extra.length) throw new UsageError(`unexpected argument '${extra[0]}'`);
    if (!existsSync(dir) || !statSync(dir).isDirectory()) throw new UsageError(`no such run folder: ${dir}`);
    const format = v.format as Format | undefined;
    if (!format) throw new UsageError(`give --format: ${FORMATS.join(', ')}`);
    if (!FORMATS.includes(format)) {
      const near = didYouMean(format, FORMATS);
      throw new UsageError(
        `unknown format '${format}'${near ? ` (did you mean '${near}'?)` : ''}; formats: ${FORMATS.join(', ')}`,
      );
    }
    if (v.quantize !== undefined && v.quantize !== 'int8')
      throw new UsageError(`--quantize takes int8, got '${v.quantize}'`);
    if (v.quantize && format === 'hf')
      throw new UsageError(
        '--quantize int8 writes onnx, safetensors or pth; a Hugging Face folder is written in float',
      );
    const opset = intFlag(v.opset, '--opset');
    const seqLen = intFlag(v['seq-len'], '--seq-len');
    const out = resolve(
      v.out ??
        join(
          dir,
          'export',
          v.quantize && format !== 'hf' ? DEFAULT_NAME[format].replace('.', '.int8.') : DEFAULT_NAME[format],
        ),
    );

    const { model, config } = runModel(dir);
    try {
      let quantized: string[] = [];
      // a .pth in PyTorch's quantized layout comes from the run's own int8 model when a recipe's
      // quantize section wrote one (static, QAT or dynamic); otherwise Linear layers go dynamic int8
      const int8File = join(dir, 'model.int8.safetensors');
      let qmodel: Module = model;
      if (v.quantize && format === 'pth' && existsSync(int8File)) {
        qmodel = loadQuantized(int8File, model);
        quantized = [...qmodel.namedModules()].filter(([, m]) => hasTorchLayout(m)).map(([n]) => n);
      } else if (v.quantize) quantized = quantizeDynamic(model).quantized;
      if (format === 'hf') mkdirSync(out, { recursive: true });
      else mkdirSync(dirname(out), { recursive: true });
      const report: Record<string, unknown> = { format, file: out };
      if (format === 'onnx') {
        const { inputs, o } = onnxInputs(model, config, seqLen);
        const info = exportOnnx(model, inputs, out, { ...o, opset, foldBatchNorm: v['fold-batchnorm'] === true });
        Object.assign(report, { bytes: info.bytes, opset: info.opset, inputs: info.inputs, outputs: info.outputs });
      } else if (format === 'safetensors') {
        writeSafetensors(out, rawStateDict(model), {
          format: 'pt',
          ...(v.quantize ? { quantization: 'graft-dynamic-int8' } : {}),
        });
      } else if (format === 'pth') {
        if (v.quantize && isQuantized(qmodel)) {
          saveQuantizedPth(out, qmodel);
          report.quantization = specOf(qmodel)?.mode ?? 'dynamic';
          report.layout = 'torch.ao.nn.quantized';
        } else writePth(out, new PyOrderedDict(rawStateDict(model)));
      } else {
        const tokenizerFrom = tokenizerDir(dir, config);
        const r = models.toHfDir(model, out, { tokenizerFrom });
        Object.assign(report, { weightFiles: r.weightFiles, tokenizerFiles: r.tokenizerFiles });
      }
      if (v.quantize) report.quantized = quantized;
      if (v.json) console.log(JSON.stringify(report, null, 1));
      else {
        console.log(
          `wrote ${out} (${format}${v.quantize ? `, int8 ${report.quantization === 'static' ? 'static layers' : 'Linear layers'}: ${quantized.length}` : ''})`,
        );
        if (v.quantize && quantized.length === 0) console.log('note: the model has no Linear layer to quantize');
      }
      return 0;
    } finally {
      model.dispose();
    }
  });
}
