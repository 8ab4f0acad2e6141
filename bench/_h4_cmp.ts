// temporary (H4): interleaved graft/torch samples of the ResNet modes with process CPU time
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { startSide, torchSideEnv } from './_side.ts';
const root = '/work/main';
const ticks = (pid: number) => {
  const s = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
  return (Number(f[11]) + Number(f[12])) * 10;
};
const modes = (process.argv[2] ?? 'frozen,features').split(',');
const n = Number(process.argv[3] ?? 6);
const reps = Number(process.argv[4] ?? 4);
const g = await startSide(process.execPath, ['--import', 'tsx', join(root, 'bench/_graft_worker.ts'), '2'], process.env, root);
const t = await startSide('/usr/bin/python3', [join(root, 'bench/train_torch.py'), '2'], torchSideEnv(process.env), root);
const one = async (side: typeof g, mode: string) => {
  const c0 = ticks(side.pid);
  const a = await side.ask(mode, n);
  return { img: a.img_s as number, cpu: (ticks(side.pid) - c0) / n };
};
for (const m of modes) { await g.ask(m, 2); await t.ask(m, 2); }
const res: Record<string, string[]> = {};
for (let i = 0; i < reps; i++)
  for (const m of modes) {
    const first = i % 2 === 0;
    const a = first ? await one(g, m) : undefined;
    const b = await one(t, m);
    const a2 = a ?? (await one(g, m));
    (res[m] ??= []).push(`g ${a2.img.toFixed(1)}img/s ${a2.cpu.toFixed(0)}cpu-ms | t ${b.img.toFixed(1)} ${b.cpu.toFixed(0)} | wall ratio ${(a2.img / b.img).toFixed(2)}`);
  }
for (const [m, v] of Object.entries(res)) console.log(m, '\n  ' + v.join('\n  '));
g.close(); t.close();
