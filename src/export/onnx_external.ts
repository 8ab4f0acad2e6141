// ONNX external data: the weights in a side file (PATH.data) that the model file points into by
// offset and length, as onnx.save_model(..., save_as_external_data=True) writes them. Protobuf
// messages stop at 2 GB, so larger models (LLMs) need it; onnxruntime reads the side file from the
// model's folder.
import { basename } from 'node:path';
import { writeAtomic } from '../io/file.ts';
import type { ModelMsg } from './onnx_proto.ts';

/** Weights above this many bytes go to a side file when externalData is 'auto'. */
export const EXTERNAL_ABOVE = 1.8e9;
/** Smaller tensors (shape constants, scalars) stay inside the model file. */
const SMALL = 1024;
/** Each tensor starts at a multiple of this in the side file (page-aligned for memory mapping). */
const ALIGN = 4096;

/** Moves the initializers' bytes of msg into `${modelPath}.data` (written now); returns its path. */
export function writeExternalData(msg: ModelMsg, modelPath: string): string {
  const file = `${modelPath}.data`;
  const location = basename(file);
  let offset = 0;
  const parts: { at: number; bytes: Uint8Array }[] = [];
  for (const t of msg.initializers) {
    const bytes = t.rawData;
    if (!bytes || bytes.byteLength < SMALL) continue;
    offset = Math.ceil(offset / ALIGN) * ALIGN;
    parts.push({ at: offset, bytes });
    t.rawData = undefined;
    t.dataLocation = 1;
    t.externalData = [
      { key: 'location', value: location },
      { key: 'offset', value: String(offset) },
      { key: 'length', value: String(bytes.byteLength) },
    ];
    offset += bytes.byteLength;
  }
  writeAtomic(file, (sink) => {
    let at = 0;
    for (const p of parts) {
      if (p.at > at) sink.write(new Uint8Array(p.at - at));
      sink.write(p.bytes);
      at = p.at + p.bytes.byteLength;
    }
  });
  return file;
}
