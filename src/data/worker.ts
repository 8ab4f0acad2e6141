// Worker-thread entry: decodes and augments image batches for the loader and sends back raw float32
// buffers (transferred, not copied). Imports only pure-JS modules and sharp, never the native addon.
import { parentPort, workerData } from 'node:worker_threads';
import { DataError } from './errors.ts';
import { type BatchTask, type ImageJob, loadImageBatch } from './image.ts';

export interface WorkerRequest {
  id: number;
  task: BatchTask;
}

export type WorkerReply =
  | {
      id: number;
      ok: {
        x: { data: Float32Array; shape: number[] };
        kept: number[];
        bad: { file: string; reason: string; index?: number }[];
      };
    }
  | { id: number; error: { message: string; file?: string; reason?: string; hint?: string } };

const job = (workerData as { job: ImageJob }).job;
const port = parentPort!;

port.on('message', async (msg: WorkerRequest) => {
  try {
    const r = await loadImageBatch(job, msg.task);
    const reply: WorkerReply = { id: msg.id, ok: r };
    port.postMessage(reply, [r.x.data.buffer as ArrayBuffer]);
  } catch (e) {
    const err = e as Error;
    const reply: WorkerReply =
      e instanceof DataError
        ? { id: msg.id, error: { message: err.message, file: e.file, reason: e.reason, hint: e.hint } }
        : { id: msg.id, error: { message: err?.stack ?? String(e) } };
    port.postMessage(reply);
  }
});
port.postMessage({ ready: true });
