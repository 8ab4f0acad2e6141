// Loader throughput: decoding + augmenting 224px JPEGs, main thread vs worker threads.
// node --import tsx bench/data_loader.ts [n=256]   (images are written once to $TMPDIR/graft-bench-<n>)
import { existsSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { DataLoader, evalTransforms, IMAGENET_MEAN, IMAGENET_STD, imageFolder, T } from '../src/data/index.ts';

const n = Number(process.argv[2] ?? 256);
const root = join(tmpdir(), `graft-bench-${n}`);
if (!existsSync(root)) {
  for (let c = 0; c < 4; c++) mkdirSync(`${root}/c${c}`, { recursive: true });
  for (let i = 0; i < n; i++) {
    const w = 224,
      h = 224;
    const b = Buffer.alloc(w * h * 3);
    let s = (i * 2654435761) >>> 0;
    for (let p = 0; p < b.length; p++) {
      s = (s * 1664525 + 1013904223) >>> 0;
      b[p] = ((p % (w * 3)) / 3 + p / (w * 3) + (s >>> 28) * 4 + i) & 255;
    }
    await sharp(b, { raw: { width: w, height: h, channels: 3 } })
      .jpeg({ quality: 90 })
      .toFile(`${root}/c${i % 4}/${i}.jpg`);
  }
}
const pipelines = {
  train: [
    T.randomResizedCrop(224),
    T.randomHorizontalFlip(),
    T.colorJitter({ brightness: 0.4, contrast: 0.4, saturation: 0.4 }),
    T.normalize(IMAGENET_MEAN, IMAGENET_STD),
  ],
  'train (no jitter)': [T.randomResizedCrop(224), T.randomHorizontalFlip(), T.normalize(IMAGENET_MEAN, IMAGENET_STD)],
  eval: evalTransforms(224),
};
for (const [name, ts] of Object.entries(pipelines)) {
  const ds = imageFolder(root, { transforms: ts });
  for (const workers of [0, 2]) {
    const l = new DataLoader(ds, { batchSize: 32, shuffle: true, seed: 0, workers });
    for await (const b of l.iterate({ epoch: 99, startBatch: l.length - 2 })) b.dispose(); // warm-up (worker start)
    const t0 = performance.now();
    let seen = 0;
    for await (const b of l) {
      seen += b.size;
      b.dispose();
    }
    const s = (performance.now() - t0) / 1000;
    console.log(
      `${name.padEnd(18)} workers=${workers}  ${(seen / s).toFixed(0).padStart(5)} img/s  (${seen} images, ${s.toFixed(2)} s)`,
    );
    await l.close();
  }
}
