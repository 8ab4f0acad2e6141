// The README's code runs: every ```ts block is written to a file in a scratch folder (where
// `import ... from 'graft-tune'` resolves to this package) and run in its own process; a block that
// throws fails its test. What a block takes from the reader (a model, a learning rate, a checkpoint
// file, an image folder) is declared below, in the open, as a prelude, textual replacements (only
// epoch counts) or files written into the scratch folder; an epilogue trains what a block only
// builds, so a setting that fails at the end of an epoch fails here. The ```yaml recipe is trained
// for one short epoch per phase by `graft train`, and `$ graft ...` command lines run. Printed
// output shown right after a block is compared.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { FASHION_MNIST_DIR } from '../../src/data/index.ts';
import { writePth } from '../../src/io/index.ts';
import * as models from '../../src/models/index.ts';
import { checkRecipe, loadRecipe } from '../../src/recipe/index.ts';
import { ROOT, rmDir, stateDictRaw, tmpDir, writeImage } from '../recipe/_helpers.ts';

interface Block {
  lang: string;
  code: string;
  /** the line of the opening fence (1-based) */
  line: number;
  /** the output block right after it (a ``` block with no language), if any */
  output?: string;
}

function readmeBlocks(text: string): Block[] {
  const out: Block[] = [];
  const fence = /^```(\w*)\n([\s\S]*?)^```$/gm;
  let m: RegExpExecArray | null;
  let prev: Block | undefined;
  let prevEnd = -1;
  // biome-ignore lint/suspicious/noAssignInExpressions: the usual exec loop
  while ((m = fence.exec(text)) !== null) {
    const [all, lang = '', code = ''] = m;
    const line = text.slice(0, m.index).split('\n').length;
    if (lang === '' && prev && text.slice(prevEnd, m.index).trim() === '') prev.output = code;
    const block: Block = { lang, code, line };
    if (lang) out.push(block);
    prev = lang ? block : undefined;
    prevEnd = m.index + all.length;
  }
  return out;
}

/** What a block needs from the reader. A README block not listed here runs as it is. */
interface Setup {
  /** a string the block contains: picks the block */
  find: string;
  /** code run before the block (graft is imported as `G`, so block imports never clash) */
  prelude?: string;
  /** [from, to] textual replacements in the block: epoch counts only */
  replace?: [string, string][];
  /** code run after the block */
  epilogue?: string;
  /** the printed output must equal the output block shown after the block in the README */
  compareOutput?: boolean;
}

// two 32x32 RGB images of two classes: enough for a forward, backward and step of every model used
const TINY_BATCHES = `
const trainLoader = [[G.randn([2, 3, 32, 32]), G.tensor([0, 1], { dtype: 'int64' })]];
const valLoader = trainLoader;
`;
const FIT = `await G.train.fit({ model, runner: run, train: trainLoader, valid: valLoader, progress: false });`;

const SETUPS: Setup[] = [
  {
    find: "io.loadCheckpoint(model, 'resnet18_dp.pth'",
    // resnet18_dp.pth (a DataParallel resnet18 state dict, 1000 classes) is written by before()
    compareOutput: true,
  },
  {
    find: "scheduler: { type: 'MultiStepLR', milestones: [3, 6]",
    prelude: `
const model = G.models.create('resnet18', { numClasses: 4 });
const report = G.io.loadCheckpoint(model, 'resnet18_dp.pth', { rename: [G.io.stripPrefix('module.')], onShapeMismatch: 'skip' });
const lr = 1e-3;
const K = 1;
${TINY_BATCHES}`,
    epilogue: FIT,
  },
  {
    find: "scheduler: { type: 'ReduceLROnPlateau'",
    prelude: `
const model = G.models.create('mobilenet_v2', { numClasses: 2 });
const lr = 1e-3;
${TINY_BATCHES}`,
    // the post's 1 + 29 + 30 epochs, shortened: each phase (and the optimizer switch) still runs
    replace: [
      ['epochs: 29', 'epochs: 1'],
      ['epochs: 30', 'epochs: 1'],
    ],
    epilogue: FIT,
  },
  {
    find: 'new optim.SGD(',
    prelude: `
const net = G.models.create('resnet18', { numClasses: 4 });
const head = [...net.getSubmodule('fc').parameters()];
const backbone = [...net.parameters()].filter((p) => !head.includes(p));`,
    epilogue: 'for (let e = 0; e < 8; e++) { opt.step(); sched.step(); }',
  },
  // data/pets (two classes of images) is written by before()
];

// tsx from this package (the scratch folder has no node_modules of its own but graft)
const TSX = import.meta.resolve('tsx');
let dir = '';
const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
const blocks = readmeBlocks(readme);
const tsBlocks = blocks.filter((b) => b.lang === 'ts');
const haveFashionMnist = existsSync(join(FASHION_MNIST_DIR, 'train-images-idx3-ubyte.gz'));

before(async () => {
  dir = tmpDir('graft-readme-');
  // `import ... from 'graft-tune'` in the scratch folder resolves to this checkout's sources (the
  // published package points at the compiled dist/, which a checkout need not have built)
  const pkg = join(dir, 'node_modules', 'graft-tune');
  mkdirSync(pkg, { recursive: true });
  writeFileSync(
    join(pkg, 'package.json'),
    JSON.stringify({ name: 'graft-tune', type: 'module', exports: { '.': './src/index.ts' } }),
  );
  symlinkSync(join(ROOT, 'src'), join(pkg, 'src'), 'dir');
  const dp = models.create('resnet18', { numClasses: 1000 });
  writePth(join(dir, 'resnet18_dp.pth'), stateDictRaw(dp, 'module.') as never);
  for (const [k, cls] of ['cat', 'dog'].entries())
    for (let i = 0; i < 5; i++) await writeImage(join(dir, 'data', 'pets', cls, `${i}.png`), k, i, 40, 30);
});

after(() => rmDir(dir));

function runFile(file: string, args: string[] = []) {
  return spawnSync(process.execPath, ['--import', TSX, file, ...args], {
    cwd: dir,
    encoding: 'utf8',
    env: { ...process.env, GRAFT_NUM_THREADS: '1' },
    timeout: 180_000,
  });
}

/** The block as the file that runs: prelude, block (with its replacements), epilogue. */
function program(b: Block, s: Setup | undefined): string {
  let code = b.code;
  for (const [from, to] of s?.replace ?? []) {
    assert.ok(code.includes(from), `README line ${b.line}: replacement '${from}' no longer applies`);
    code = code.replaceAll(from, to);
  }
  return [
    "import * as G from 'graft-tune';",
    s?.prelude ?? '',
    `// ---- README.md line ${b.line}`,
    code,
    '// ----',
    s?.epilogue ?? '',
  ].join('\n');
}

test('the README has ts blocks, and every setup here still finds its block', () => {
  assert.ok(tsBlocks.length >= 6, `${tsBlocks.length} ts blocks`);
  for (const s of SETUPS)
    assert.equal(tsBlocks.filter((b) => b.code.includes(s.find)).length, 1, `exactly one block contains ${s.find}`);
});

for (const b of tsBlocks) {
  const first = b.code.split('\n').find((l) => l.trim() && !l.startsWith('import')) ?? '';
  test(`README.md line ${b.line} runs: ${first.trim().slice(0, 60)}`, () => {
    const s = SETUPS.find((x) => b.code.includes(x.find));
    const file = join(dir, `block-${b.line}.mts`);
    writeFileSync(file, program(b, s));
    const r = runFile(file);
    assert.equal(r.status, 0, `README.md line ${b.line} failed:\n${r.stderr.slice(-3000)}`);
    if (s?.compareOutput) {
      assert.ok(b.output, `README line ${b.line}: no output block after it`);
      assert.equal(r.stdout.trim(), b.output.trim(), 'the printed output differs from the README');
    }
  });
}

test('the README recipe trains (one short epoch per phase)', {
  skip: !haveFashionMnist && 'no Fashion-MNIST',
}, () => {
  const yaml = blocks.filter((b) => b.lang === 'yaml');
  assert.ok(yaml.length >= 1, 'a yaml block');
  const file = join(dir, 'recipe.yaml');
  writeFileSync(file, yaml[0]!.code);
  // declared substitutions: tiny subsets and one epoch per phase
  const sets = [
    'data.subset={train: 16, val: 8}',
    'data.batchSize=8',
    'phases[0].epochs=1',
    'phases[1].epochs=1',
    'train.report=false',
  ].flatMap((x) => ['--set', x]);
  const r = runFile(join(ROOT, 'bin', 'graft.mjs'), ['train', file, ...sets, '--out', join(dir, 'run'), '--quiet']);
  assert.equal(r.status, 0, `${r.stdout.slice(-1000)}\n${r.stderr.slice(-3000)}`);
});

// the other recipes name files a reader brings (a Hugging Face folder, a corpus): each must at least
// be a valid recipe, checked as `graft train` checks it before reading any file
test('every other README recipe is valid', () => {
  for (const b of blocks.filter((x) => x.lang === 'yaml').slice(1)) {
    const file = join(dir, `recipe-${b.line}.yaml`);
    writeFileSync(file, b.code);
    const { recipe } = loadRecipe(file);
    checkRecipe(recipe);
  }
});

test("the README's `$ graft ...` command lines run (in the folder holding resnet18_dp.pth)", () => {
  const lines = readme.split('\n').filter((l) => l.startsWith('$ graft '));
  assert.ok(lines.length >= 1);
  for (const line of lines) {
    const r = runFile(join(ROOT, 'bin', 'graft.mjs'), line.slice('$ graft '.length).trim().split(/\s+/));
    assert.equal(r.status, 0, `${line}\n${r.stdout.slice(-1000)}\n${r.stderr.slice(-2000)}`);
  }
});
