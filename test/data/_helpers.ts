// Tiny image folders made by the tests (PNG and JPEG through sharp) in a temp dir.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';

export function tempDir(prefix = 'graft-data-'): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** A deterministic RGB pattern that differs per (seed, pixel). */
export function pattern(width: number, height: number, seed: number): Buffer {
  const b = Buffer.alloc(width * height * 3);
  for (let y = 0; y < height; y++)
    for (let x = 0; x < width; x++)
      for (let c = 0; c < 3; c++)
        b[(y * width + x) * 3 + c] = (x * (7 + c) + y * (3 + seed) + seed * 41 + c * 60) & 255;
  return b;
}

export async function writeImage(file: string, width: number, height: number, seed: number): Promise<void> {
  const img = sharp(pattern(width, height, seed), { raw: { width, height, channels: 3 } });
  await (file.endsWith('.png') ? img.png() : img.jpeg({ quality: 90 })).toFile(file);
}

/** root/<class>/<i>.{png,jpg} with `perClass[c]` images each, sizes varying around w x h. */
export async function makeFolder(
  root: string,
  perClass: Record<string, number>,
  o: { width?: number; height?: number } = {},
): Promise<string[]> {
  const files: string[] = [];
  let seed = 0;
  for (const [cls, n] of Object.entries(perClass)) {
    mkdirSync(join(root, cls), { recursive: true });
    for (let i = 0; i < n; i++) {
      const f = join(root, cls, `${String(i).padStart(3, '0')}.${i % 2 ? 'jpg' : 'png'}`);
      await writeImage(f, (o.width ?? 40) + (seed % 5), (o.height ?? 32) + (seed % 3), seed);
      files.push(f);
      seed++;
    }
  }
  return files;
}

export function writeCorrupt(file: string): void {
  writeFileSync(file, Buffer.from('this is not an image'));
}
