// Recipe fields for compression: a phase's `prune` (iterative pruning to a target sparsity while
// the phase fine-tunes), a phase's `qat` (quantization-aware training from that phase on) and the
// run's `quantize` (int8 after training, measured before and after).
import { z } from 'zod';
import { bool, int, pos, prob, str } from './_schema_parts.ts';

export const PruneSpec = z
  .strictObject({
    target: prob().describe('sparsity reached at the end of the phase (0.5: half the weights zero)'),
    steps: int(1)
      .optional()
      .describe(
        "pruning rounds, spread over the phase's epochs (default: one per epoch); each fine-tunes after pruning",
      ),
    method: z
      .enum(['l1', 'global', 'random', 'ln-structured'])
      .optional()
      .describe(
        "'l1' (default): smallest |w| per layer; 'global': smallest |w| across layers; 'random'; 'ln-structured': whole output channels by L-n norm",
      ),
    n: pos().optional().describe("ln-structured: the norm's n (default 2)"),
    modules: z
      .array(str())
      .optional()
      .describe(
        'module paths whose Conv2d / Linear weights are pruned (themselves or below); default: all but the classifier',
      ),
    exclude: z.array(str()).optional().describe('module paths never pruned'),
    shrink: bool()
      .optional()
      .describe(
        "ln-structured: when the run ends, remove the pruned channels for real (the inner convs of residual blocks, their BatchNorms, the next convs' inputs); graft eval / predict use the smaller model",
      ),
  })
  .describe('prune while this phase trains (torch.nn.utils.prune masks; baked into the weights at the end of the run)');

export const QatPhaseSpec = z
  .strictObject({
    backend: z
      .enum(['fbgemm', 'x86', 'qnnpack', 'onednn'])
      .optional()
      .describe("the QAT qconfig preset torch names after a backend (default: quantize.backend, else 'fbgemm')"),
    freezeBnAfter: int(0)
      .optional()
      .describe(
        'epochs into this phase (0-based) from which BatchNorm uses and keeps its running statistics (default: never)',
      ),
    observersOffAfter: int(0)
      .optional()
      .describe('epochs into this phase (0-based) from which scales and zero points stop moving (default: never)'),
  })
  .describe(
    'quantization-aware training from this phase to the end of the run: the model trains fake-quantized (conv + BatchNorm folded, observers on activations), then becomes int8',
  );

export const QuantizeSpec = z
  .strictObject({
    mode: z
      .enum(['dynamic', 'static', 'qat'])
      .describe(
        "'dynamic': int8 Linear layers (transformers); 'static': int8 convs and linears with calibration (conv nets); 'qat': quantization-aware training (from the phase with a qat section, else the whole run), then int8",
      ),
    backend: z
      .enum(['fbgemm', 'x86', 'qnnpack', 'onednn'])
      .optional()
      .describe("static / qat: the qconfig preset torch names after a backend (default 'fbgemm')"),
    freezeBnAfter: int(0)
      .optional()
      .describe(
        'qat over the whole run: from this epoch (0-based) on BatchNorm uses and keeps its running statistics (default: never)',
      ),
    observersOffAfter: int(0)
      .optional()
      .describe(
        'qat over the whole run: from this epoch (0-based) on scales and zero points stop moving (default: never)',
      ),
    observer: z
      .enum(['histogram', 'minmax'])
      .optional()
      .describe("static: activation observer (default 'histogram', as torch's default qconfig)"),
    calibrationBatches: int(1).optional().describe('static: training batches run through the observers (default 8)'),
    perChannel: bool().optional().describe('dynamic: per-channel weight scales (default false, as quantize_dynamic)'),
    save: bool().optional().describe('write model.int8.safetensors to the run folder (default true)'),
  })
  .describe(
    'quantize the trained model to int8; size, accuracy and latency before and after go to metrics and the report',
  );
