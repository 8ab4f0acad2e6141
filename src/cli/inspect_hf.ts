// `graft inspect DIR` for a Hugging Face model directory: architecture, parameter count, dtypes,
// weight files (shards), tokenizer files; from the headers, no weights loaded.
import type { HfDirSummary } from '../io/index.ts';

const bytes = (n: number): string =>
  n >= 1e9 ? `${(n / 1e9).toFixed(2)} GB` : n >= 1e6 ? `${(n / 1e6).toFixed(1)} MB` : `${(n / 1e3).toFixed(1)} kB`;

export function renderHfDir(dir: string, s: HfDirSummary): string {
  const lines = [`Hugging Face model directory ${dir}`];
  lines.push(`architecture  ${s.architecture ?? '(not given)'}${s.modelType ? ` (model_type ${s.modelType})` : ''}`);
  lines.push(`parameters    ${s.parameters.toLocaleString('en-US')}`);
  const dts = Object.entries(s.dtypes).map(([d, n]) => `${d} (${n} tensors)`);
  lines.push(`dtype         ${dts.join(', ') || '(no tensors)'}`);
  const total = s.files.reduce((a, f) => a + f.bytes, 0);
  const index = s.format === 'safetensors' ? 'model.safetensors.index.json' : 'pytorch_model.bin.index.json';
  lines.push(`weights       ${s.sharded ? `${s.files.length} shards (${index})` : s.files[0]!.file}, ${bytes(total)}`);
  if (s.sharded) for (const f of s.files) lines.push(`  ${f.file}  ${bytes(f.bytes)}  ${f.tensors} tensors`);
  const tok = s.tokenizerFiles.length ? s.tokenizerFiles.join(', ') : '(none)';
  lines.push(`tokenizer     ${tok}${s.chatTemplate ? ' (chat template)' : ''}`);
  return lines.join('\n');
}
