// A small pool of worker threads running worker.ts. Workers are started through a bootstrap that
// registers tsx's loader when they run from the TypeScript sources (not in the compiled package),
// and are unref'd while idle so an unclosed loader never keeps the process alive.
import { Worker } from 'node:worker_threads';
import { GraftError } from '../errors.ts';
import { DataError } from './errors.ts';
import type { BatchTask, ImageJob, RawImageBatch } from './image.ts';
import type { WorkerReply } from './worker.ts';

const BOOT = `
const { workerData } = require('node:worker_threads');
(async () => {
  if (workerData.tsx) (await import(workerData.tsx)).register();
  await import(workerData.entry);
})().catch((e) => { console.error(e); process.exit(1); });
`;

/** A worker died or could not start. */
export class WorkerError extends GraftError {
  constructor(message: string, hint?: string) {
    super('GRAFT_DATA_WORKER', message, hint);
  }
}

interface Slot {
  worker: Worker;
  pending: Map<number, { resolve: (r: RawImageBatch) => void; reject: (e: Error) => void }>;
}

export class WorkerPool {
  private readonly slots: Slot[] = [];
  private nextId = 0;
  private closed = false;
  private broken: Error | null = null;

  constructor(job: ImageJob, size: number) {
    // the published package runs compiled JavaScript (dist/data/pool.js beside worker.js), no tsx
    const compiled = import.meta.url.endsWith('.js');
    const tsx = compiled ? '' : import.meta.resolve('tsx/esm/api');
    const entry = new URL(compiled ? './worker.js' : './worker.ts', import.meta.url).href;
    for (let i = 0; i < size; i++) {
      const worker = new Worker(BOOT, { eval: true, workerData: { job, tsx, entry } });
      const slot: Slot = { worker, pending: new Map() };
      worker.on('message', (m: WorkerReply | { ready: true }) => this.onMessage(slot, m));
      worker.on('error', (e) => this.fail(new WorkerError(`data worker ${i} failed: ${e.message}`)));
      worker.on('exit', (code) => {
        if (!this.closed) this.fail(new WorkerError(`data worker ${i} exited with code ${code}`));
      });
      worker.unref();
      this.slots.push(slot);
    }
  }

  get size(): number {
    return this.slots.length;
  }

  run(task: BatchTask): Promise<RawImageBatch> {
    if (this.broken) return Promise.reject(this.broken);
    if (this.closed) return Promise.reject(new WorkerError('the loader was closed'));
    // least busy worker; ties go to the lowest index
    const slot = this.slots.reduce((a, b) => (b.pending.size < a.pending.size ? b : a));
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      slot.pending.set(id, { resolve, reject });
      if (slot.pending.size === 1) slot.worker.ref();
      slot.worker.postMessage({ id, task });
    });
  }

  private onMessage(slot: Slot, m: WorkerReply | { ready: true }): void {
    if (!('id' in m)) return;
    const p = slot.pending.get(m.id);
    if (!p) return;
    slot.pending.delete(m.id);
    if (slot.pending.size === 0) slot.worker.unref();
    if ('ok' in m) p.resolve(m.ok);
    else if (m.error.file !== undefined)
      p.reject(new DataError(m.error.file, m.error.reason ?? m.error.message, m.error.hint));
    else p.reject(new WorkerError(`data worker failed: ${m.error.message}`));
  }

  private fail(e: Error): void {
    this.broken ??= e;
    for (const s of this.slots) {
      for (const p of s.pending.values()) p.reject(e);
      s.pending.clear();
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await Promise.all(this.slots.map((s) => s.worker.terminate()));
    for (const s of this.slots) for (const p of s.pending.values()) p.reject(new WorkerError('the loader was closed'));
  }
}
