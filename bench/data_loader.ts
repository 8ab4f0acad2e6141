// Image-folder loading, graft vs torchvision's DataLoader with the same workers: RandomResizedCrop +
// RandomHorizontalFlip + Normalize, batch 32, shuffled, on generated folders of PNG and JPEG files
// (Fashion-MNIST 28x28 PNGs when the dataset is installed, CIFAR-sized PNGs, 320x240 JPEGs). The
// sides take turns; each number is the best epoch throughput of its turns, after a warm-up epoch.
// With 0 workers each side also reports its process CPU time per image (all threads; the measure to
// trust when other jobs load the machine: wall time then says more about the scheduler). With
// workers torchvision's CPU time is in its worker processes, so that column is left out.
//   node --import tsx bench/data_loader.ts [n=512] [repeats=3]
// env: GRAFT_BENCH_SHARP=1 adds graft's sharp + JS path (GRAFT_IMAGE_NATIVE=0) as a column;
//      GRAFT_BENCH_THREADS (default 2) sets both sides' intra-op threads.
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import sharp from 'sharp';
import { DataLoader, IMAGENET_MEAN, IMAGENET_STD, imageFolder, T } from '../src/data/index.ts';
import { setNumThreads } from '../src/tensor/index.ts';
import { startTorchSide } from './_torch_side.ts';

const FASHION = '/usr/share/datasets/fashion-mnist';

export interface DataBenchRow {
  name: string;
  workers: number;
  graft: number;
  torch?: number;
  sharp?: number;
  /** graft img/s over torchvision's */
  ratio?: number;
  /** workers 0: process CPU microseconds per image, best epoch of each side, and torch's over graft's */
  graftCpuUs?: number;
  torchCpuUs?: number;
  cpuRatio?: number;
}

interface Folder {
  name: string;
  root: string;
  crop: number;
}

/** Writes root/c<k>/<i>.<ext> once; `pixels(i)` gives [raw, width, height, channels]. */
async function makeFolder(
  root: string,
  n: number,
  ext: 'png' | 'jpg',
  pixels: (i: number) => [Buffer, number, number, 1 | 3],
): Promise<void> {
  const done = join(root, '.complete');
  if (existsSync(done)) return;
  for (let c = 0; c < 4; c++) mkdirSync(join(root, `c${c}`), { recursive: true });
  for (let i = 0; i < n; i++) {
    const [raw, width, height, channels] = pixels(i);
    const img = sharp(raw, { raw: { width, height, channels } });
    await (ext === 'png' ? img.png() : img.jpeg({ quality: 90 })).toFile(join(root, `c${i % 4}`, `${i}.${ext}`));
  }
  await sharp({ create: { width: 1, height: 1, channels: 3, background: 'black' } })
    .png()
    .toFile(done);
}

// a smooth pattern plus noise: compresses like a photo more than like noise
function synthetic(w: number, h: number, i: number): Buffer {
  const b = Buffer.alloc(w * h * 3);
  let s = (i * 2654435761) >>> 0;
  for (let y = 0; y < h; y++)
    for (let x = 0; x < w; x++)
      for (let c = 0; c < 3; c++) {
        s = (s * 1664525 + 1013904223) >>> 0;
        b[(y * w + x) * 3 + c] = (x * (2 + c) + y * (3 - c) + i * 17 + (s >>> 28) * 3) & 255;
      }
  return b;
}

export async function folders(n: number): Promise<Folder[]> {
  const base = join(tmpdir(), `graft-bench-data-${n}`);
  const out: Folder[] = [];
  const fm = join(FASHION, 'train-images-idx3-ubyte.gz');
  if (existsSync(fm)) {
    const idx = gunzipSync(readFileSync(fm));
    const root = join(base, 'fmnist28-png');
    await makeFolder(root, n, 'png', (i) => [idx.subarray(16 + i * 784, 16 + (i + 1) * 784), 28, 28, 1]);
    out.push({ name: 'Fashion-MNIST 28x28 PNG, RRC 112', root, crop: 112 });
  } else {
    const root = join(base, 'rgb28-png');
    await makeFolder(root, n, 'png', (i) => [synthetic(28, 28, i), 28, 28, 3]);
    out.push({ name: '28x28 RGB PNG, RRC 112', root, crop: 112 });
  }
  const cifar = join(base, 'rgb32-png');
  await makeFolder(cifar, n, 'png', (i) => [synthetic(32, 32, i), 32, 32, 3]);
  out.push({ name: '32x32 RGB PNG, RRC 32', root: cifar, crop: 32 });
  const big = join(base, 'rgb320x240-jpg');
  await makeFolder(big, n, 'jpg', (i) => [synthetic(320, 240, i), 320, 240, 3]);
  out.push({ name: '320x240 JPEG, RRC 224', root: big, crop: 224 });
  return out;
}

/** One timed epoch of graft's loader (after its warm-up): images per second and process CPU µs per image. */
async function graftEpoch(l: DataLoader): Promise<{ imgS: number; cpuUs: number }> {
  const t0 = performance.now();
  const c0 = process.cpuUsage();
  let seen = 0;
  for await (const b of l) {
    seen += b.size;
    b.dispose();
  }
  const c = process.cpuUsage(c0);
  return { imgS: seen / ((performance.now() - t0) / 1000), cpuUs: (c.user + c.system) / seen };
}

const lowest = (a: number | undefined, b: number) => (a === undefined ? b : Math.min(a, b));

async function graftLoader(f: Folder, workers: number, native: boolean): Promise<DataLoader> {
  const ts = [T.randomResizedCrop(f.crop), T.randomHorizontalFlip(), T.normalize(IMAGENET_MEAN, IMAGENET_STD)];
  const before = process.env.GRAFT_IMAGE_NATIVE;
  process.env.GRAFT_IMAGE_NATIVE = native ? '1' : '0';
  const l = new DataLoader(imageFolder(f.root, { transforms: ts }), { batchSize: 32, shuffle: true, seed: 0, workers });
  await graftEpoch(l); // warm-up: picks the path (read at first batch), starts workers, fills the page cache
  if (before === undefined) delete process.env.GRAFT_IMAGE_NATIVE;
  else process.env.GRAFT_IMAGE_NATIVE = before;
  return l;
}

export async function runDataBench(o: { n?: number; repeats?: number; sharp?: boolean; threads?: number } = {}) {
  const n = o.n ?? 512;
  const repeats = o.repeats ?? 3;
  const threads = o.threads ?? 2;
  setNumThreads(threads);
  const fs = await folders(n);
  const side = await startTorchSide('data_loader_torch.py', [String(threads)], 'python3-torch python3-torchvision');
  const rows: DataBenchRow[] = [];
  for (const f of fs)
    for (const workers of [0, 2]) {
      const l = await graftLoader(f, workers, true);
      const s = o.sharp ? await graftLoader(f, workers, false) : null;
      const row: DataBenchRow = { name: f.name, workers, graft: 0 };
      for (let r = 0; r < repeats; r++) {
        const g = await graftEpoch(l);
        row.graft = Math.max(row.graft, g.imgS);
        if (workers === 0) row.graftCpuUs = lowest(row.graftCpuUs, g.cpuUs);
        if (typeof side !== 'string') {
          const t = await side.ask(`${f.root},${f.crop},${workers}`, 1);
          row.torch = Math.max(row.torch ?? 0, t.img_s as number);
          if (workers === 0) row.torchCpuUs = lowest(row.torchCpuUs, t.cpu_us as number);
        }
        if (s) row.sharp = Math.max(row.sharp ?? 0, (await graftEpoch(s)).imgS);
      }
      await l.close();
      await s?.close();
      if (row.torch) row.ratio = row.graft / row.torch;
      if (row.graftCpuUs && row.torchCpuUs) row.cpuRatio = row.torchCpuUs / row.graftCpuUs;
      rows.push(row);
    }
  if (typeof side !== 'string') side.close();
  return { rows, note: typeof side === 'string' ? side : side.note, n, repeats, threads };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const n = Number(process.argv[2] ?? 512);
  const repeats = Number(process.argv[3] ?? 3);
  const r = await runDataBench({
    n,
    repeats,
    sharp: process.env.GRAFT_BENCH_SHARP === '1',
    threads: Number(process.env.GRAFT_BENCH_THREADS ?? 2),
  });
  console.log(
    `image-folder loading, batch 32, RandomResizedCrop + flip + normalize; ${n} images per folder; ${r.threads} threads; ${r.note}; best of ${repeats}`,
  );
  const fmt = (v?: number) => (v === undefined ? '-' : v.toFixed(0)).padStart(8);
  console.log(
    `${'folder'.padEnd(36)} workers  graft img/s  torch img/s  ratio   cpu µs/img graft  torch  ratio${r.rows[0]?.sharp ? '  sharp img/s' : ''}`,
  );
  const x = (v?: number) => (v ? `${v.toFixed(2)}x` : '-').padStart(6);
  for (const row of r.rows)
    console.log(
      `${row.name.padEnd(36)} ${String(row.workers).padStart(7)}  ${fmt(row.graft)}     ${fmt(row.torch)}   ${x(row.ratio)}  ${fmt(row.graftCpuUs)}   ${fmt(row.torchCpuUs)} ${x(row.cpuRatio)}${row.sharp ? `  ${fmt(row.sharp)}` : ''}`,
    );
}
