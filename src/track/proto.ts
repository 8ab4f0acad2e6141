// TensorBoard's messages (Event, Summary, HistogramProto, the HParams plugin's data), loaded with
// protobufjs from the .proto files TensorBoard publishes, kept unchanged under proto/ (Apache-2.0,
// see proto/LICENSE). Fields are set only where they differ from proto3's defaults, as
// TensorBoard's and PyTorch's Python writers leave them, so the bytes match theirs.
import { fileURLToPath } from 'node:url';
import protobuf from 'protobufjs';
import { GraftError } from '../errors.ts';

/** The .proto files under proto/, as TensorBoard names them in its imports. */
export const PROTO_FILES = [
  'tensorboard/compat/proto/event.proto',
  'tensorboard/plugins/hparams/plugin_data.proto',
] as const;

/** The folder that holds proto/tensorboard/... (a .proto import path resolves against it). */
export const PROTO_DIR = fileURLToPath(new URL('./proto/', import.meta.url));

let root: protobuf.Root | undefined;

/** The loaded messages (once per process). */
export function protoRoot(): protobuf.Root {
  if (root) return root;
  const r = new protobuf.Root();
  // imports are written from TensorBoard's repository root ("tensorboard/compat/proto/...");
  // google/protobuf/struct.proto is one of protobufjs's bundled common types
  r.resolvePath = (_origin, target) => (target.startsWith('google/protobuf/') ? target : `${PROTO_DIR}${target}`);
  try {
    r.loadSync([...PROTO_FILES]);
    r.resolveAll();
  } catch (e) {
    throw new GraftError(
      'GRAFT_TRACK_PROTO',
      `cannot load TensorBoard's message definitions from ${PROTO_DIR}: ${(e as Error).message}`,
      'reinstall graft: its package ships these .proto files',
    );
  }
  root = r;
  return r;
}

export const messageType = (name: string): protobuf.Type => protoRoot().lookupType(name);

/** Serializes a plain object (protobufjs's camelCase field names) as message `name`. */
export function encodeMessage(name: string, obj: Record<string, unknown>): Uint8Array {
  const T = messageType(name);
  const err = T.verify(obj);
  if (err) throw new GraftError('GRAFT_TRACK_PROTO', `internal: malformed ${name}: ${err}`);
  return T.encode(T.fromObject(obj)).finish();
}
