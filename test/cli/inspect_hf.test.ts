// `graft inspect DIR` on a Hugging Face model directory.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { run } from '../../src/cli/inspect.ts';
import { capture } from '../_capture.ts';

const DIR = join(import.meta.dirname, '..', 'fixtures', 'models', 'hf_qwen2_sharded');

test('graft inspect DIR: architecture, parameters, dtype and shards', async () => {
  const r = await capture(() => run([DIR]));
  assert.equal(r.code, 0);
  assert.match(r.out, /architecture {2}Qwen2ForCausalLM \(model_type qwen2\)/);
  assert.match(r.out, /parameters {4}4,752/);
  assert.match(r.out, /dtype {9}float32 \(26 tensors\)/);
  assert.match(r.out, /3 shards \(model\.safetensors\.index\.json\)/);
  assert.match(r.out, /model-00002-of-00003\.safetensors {2}9\.1 kB {2}12 tensors/);
  const j = await capture(() => run([DIR, '--json']));
  const s = JSON.parse(j.out);
  assert.equal(s.parameters, 4752);
  assert.equal(s.files.length, 3);
});
