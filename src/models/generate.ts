// Text generation for causal LMs as transformers' generate() does it: greedy or sampling (temperature,
// top-k, top-p), repetition penalty, eos / stop sequences, left-padded batches, seeded sampling,
// and a KV cache for Llama-family and GPT-2 models (each step feeds only the new token).
import { ArgumentError } from '../errors.ts';
import type { Module } from '../nn/index.ts';
import { argmax, aten, dispose, manualSeed, noGrad, type Tensor, tensor, tidy } from '../tensor/index.ts';
import { type ProcessOptions, processScores } from './generate_processors.ts';
import { GPT2LMHeadModel } from './gpt2.ts';
import { LlamaForCausalLM } from './llama.ts';

export interface GenerateOptions extends ProcessOptions {
  /** tokens to add per sequence (default 20) */
  maxNewTokens?: number;
  /** sample from the processed distribution (default false: greedy, temperature / top-k / top-p unused) */
  doSample?: boolean;
  /** end-of-sequence id(s): a sequence that emits one is finished; default the Llama config's eos */
  eosTokenId?: number | number[];
  /** fills finished sequences; default the config's pad, else the first eos id, else 0 */
  padTokenId?: number;
  /** also finish a sequence when its generated tokens end with one of these id sequences */
  stopSequences?: number[][];
  /** [B, L] 1 = token, 0 = padding, for left-padded prompts (default all ones) */
  attentionMask?: Tensor;
  /** seeds libtorch's generator first (torch.manual_seed) so sampling repeats */
  seed?: number;
  /** reuse past keys and values (default true where the model has a cache) */
  useCache?: boolean;
  /** called after every step with the new token of each sequence */
  onToken?: (tokens: number[], step: number) => void;
}

/** One decoding step's model call: the last position's logits [B, V]; the cache (if any) lives inside. */
interface Stepper {
  cached: boolean;
  /** mask / pos: the whole mask so far and the new tokens' positions (undefined: no padding anywhere) */
  step(ids: Tensor, mask: Tensor | undefined, pos: Tensor | undefined): Tensor;
  dispose(): void;
}

/** The largest q/k/v weights (all layers) generate() fuses into one projection per layer: 64 MiB. */
const FUSE_QKV_MAX_BYTES = 64 * 2 ** 20;

function stepper(model: Module, useCache: boolean, capacity: number): Stepper {
  if (model instanceof LlamaForCausalLM) {
    // an in-place cache; only the last position goes through lm_head. Fused q/k/v copies those
    // weights for the call: worth it for small models, whose steps are mostly per-op overhead
    const c = model.config;
    const bytes = { float64: 8, float32: 4 }[String(model.model.embed_tokens.weight.dtype)] ?? 2;
    const qkvBytes =
      c.numHiddenLayers * c.hiddenSize * (c.numAttentionHeads + 2 * c.numKeyValueHeads) * c.headDim * bytes;
    const cache = useCache ? model.newCache(capacity, { fuseQkv: qkvBytes <= FUSE_QKV_MAX_BYTES }) : undefined;
    return {
      cached: useCache,
      step: (ids, attentionMask, positionIds) =>
        model.call(ids, { attentionMask, positionIds, cache, logitsToKeep: 1 }).logits.select(1, 0),
      dispose: () => cache?.dispose(),
    };
  }
  if (model instanceof GPT2LMHeadModel) {
    let past: [Tensor, Tensor][] | undefined;
    return {
      cached: useCache,
      step: (ids, attentionMask, positionIds) => {
        const out = model.call(ids, { attentionMask, positionIds, pastKeyValues: past, useCache });
        const old = past;
        past = out.pastKeyValues;
        for (const kv of past ?? []) for (const x of kv) x.keep();
        if (old) dispose(old);
        return out.logits.select(1, -1);
      },
      dispose: () => {
        if (past) dispose(past);
        past = undefined;
      },
    };
  }
  // any other module: forward(inputIds, {attentionMask}) -> logits or {logits}, the whole sequence each step
  const anyModel = model as unknown as { call(ids: Tensor, o: object): Tensor | { logits: Tensor } };
  return {
    cached: false,
    step: (ids, attentionMask) => {
      const out = anyModel.call(ids, { attentionMask });
      return ('logits' in out ? out.logits : (out as Tensor)).select(1, -1);
    },
    dispose: () => {},
  };
}

function defaults(model: Module, o: GenerateOptions): { eos: number[]; pad: number } {
  const cfg = model instanceof LlamaForCausalLM ? model.config : undefined;
  const eosOpt = o.eosTokenId;
  const eos = eosOpt === undefined ? (cfg?.eosTokenId ?? []) : Array.isArray(eosOpt) ? eosOpt : [eosOpt];
  const pad = o.padTokenId ?? cfg?.padTokenId ?? eos[0] ?? 0;
  return { eos, pad };
}

const i64 = (rows: number[][], device = 'cpu'): Tensor =>
  tensor(
    BigInt64Array.from(rows.flat(), (v) => BigInt(v)),
    { shape: [rows.length, rows[0]!.length], device },
  );

/** prepare_inputs_for_generation's positions: cumsum(mask) - 1, and 1 on padding. */
function positions(mask: number[][]): number[][] {
  return mask.map((row) => {
    let c = -1;
    return row.map((m) => {
      c += m;
      return m === 0 ? 1 : c;
    });
  });
}

function rowsOf(t: Tensor): number[][] {
  if (t.ndim !== 2) throw new ArgumentError(`inputIds must be [batch, seq], got [${t.shape}]`);
  const [B, L] = t.shape as [number, number];
  const flat = tidy(() => t.to('int64').toArray());
  return Array.from({ length: B }, (_, b) => flat.slice(b * L, (b + 1) * L));
}

function check(o: GenerateOptions): number {
  const n = o.maxNewTokens ?? 20;
  if (!Number.isInteger(n) || n < 0) throw new ArgumentError(`maxNewTokens must be an integer >= 0, got ${n}`);
  for (const s of o.stopSequences ?? [])
    if (!Array.isArray(s) || s.length === 0) throw new ArgumentError('stopSequences must be non-empty lists of ids');
  return n;
}

/**
 * Continues each prompt (inputIds [B, L], left-padded with attentionMask for mixed lengths) by up to
 * maxNewTokens tokens; returns the sequences [B, L + n] (finished ones filled with padTokenId), as
 * transformers' generate() with the same options gives.
 */
export function generate(model: Module, inputIds: Tensor, o: GenerateOptions = {}): Tensor {
  const maxNew = check(o);
  const seqs = rowsOf(inputIds);
  const mask = o.attentionMask ? rowsOf(o.attentionMask) : seqs.map((r) => r.map(() => 1));
  if (mask.length !== seqs.length || mask[0]!.length !== seqs[0]!.length)
    throw new ArgumentError(`attentionMask [${o.attentionMask?.shape}] must match inputIds [${inputIds.shape}]`);
  const { eos, pad } = defaults(model, o);
  const promptLen = seqs[0]!.length;
  const stepperOf = stepper(model, o.useCache ?? true, promptLen + maxNew);
  const { step, cached } = stepperOf;
  if (o.seed !== undefined) manualSeed(o.seed);
  const B = seqs.length;
  const unfinished = seqs.map(() => true);
  // the whole sequences go to the processors only for the repetition penalty
  const penalised = o.repetitionPenalty !== undefined && o.repetitionPenalty !== 1;
  const stops = eos.length > 0 || (o.stopSequences?.length ?? 0) > 0;
  // without padding a Llama needs no mask and its positions are the cache's: neither is sent
  const plain = model instanceof LlamaForCausalLM && mask.every((r) => r.every((m) => m === 1));
  // the ids go where the weights are (the returned sequences stay on the CPU)
  const device = model.parameters()[0]?.device ?? 'cpu';
  try {
    noGrad(() => {
      for (let t = 0; t < maxNew; t++) {
        const done = cached && t > 0 ? seqs[0]!.length - 1 : 0;
        const next = tidy(() => {
          const ids = i64(
            seqs.map((r) => r.slice(done)),
            device,
          );
          const pos = plain
            ? undefined
            : i64(
                positions(mask).map((r) => r.slice(done)),
                device,
              );
          const logits = step(ids, plain ? undefined : i64(mask, device), pos);
          const scores = logits.dtype === 'float32' ? logits : logits.to('float32');
          const processed = processScores(penalised ? i64(seqs, device) : undefined, scores, o);
          const chosen = o.doSample
            ? (aten('aten::multinomial')(processed.softmax(-1), 1) as Tensor).squeeze(1)
            : argmax(processed, -1);
          const picked = chosen.device === 'cpu' ? chosen : chosen.to({ device: 'cpu' });
          return picked.toArray();
        });
        // finished sequences get padding (transformers does so with an eos; stop sequences here too)
        for (let b = 0; b < B; b++) {
          const tok = stops && !unfinished[b] ? pad : next[b]!;
          seqs[b]!.push(tok);
          mask[b]!.push(1);
        }
        o.onToken?.(
          seqs.map((r) => r.at(-1)!),
          t,
        );
        for (let b = 0; b < B; b++) {
          if (!unfinished[b]) continue;
          const row = seqs[b]!;
          if (eos.includes(row.at(-1)!)) unfinished[b] = false;
          else if (o.stopSequences?.some((s) => endsWith(row, s, promptLen))) unfinished[b] = false;
        }
        if (unfinished.every((u) => !u)) break;
      }
    });
  } finally {
    stepperOf.dispose();
  }
  return i64(seqs);
}

/** True when the generated part of row (after promptLen) ends with s. */
function endsWith(row: number[], s: number[], promptLen: number): boolean {
  if (row.length - promptLen < s.length) return false;
  for (let i = 1; i <= s.length; i++) if (row[row.length - i] !== s[s.length - i]) return false;
  return true;
}
