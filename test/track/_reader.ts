// An event-file reader for the tests that shares no code with graft's writer: its own TFRecord
// parser and CRC32C (bit by bit), and the messages from TensorBoard's .proto files loaded here with
// protobufjs's reflection (not through src/track/proto.ts).
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import protobuf from 'protobufjs';

const PROTO_DIR = join(import.meta.dirname, '..', '..', 'src', 'track', 'proto');

function crc32cBitwise(bytes: Uint8Array): number {
  let crc = 0xffffffff;
  for (const b of bytes) {
    crc ^= b;
    for (let k = 0; k < 8; k++) crc = crc & 1 ? (crc >>> 1) ^ 0x82f63b78 : crc >>> 1;
  }
  return (crc ^ 0xffffffff) >>> 0;
}

const masked = (b: Uint8Array): number => {
  const c = crc32cBitwise(b);
  return ((((c >>> 15) | (c << 17)) >>> 0) + 0xa282ead8) % 2 ** 32;
};

/** The data of each record, both CRCs checked; throws on a torn or corrupt file. */
export function tfrecords(buf: Buffer): Buffer[] {
  const out: Buffer[] = [];
  let pos = 0;
  while (pos < buf.length) {
    if (pos + 12 > buf.length) throw new Error(`torn record header at byte ${pos}`);
    const lenBytes = buf.subarray(pos, pos + 8);
    const len = Number(buf.readBigUInt64LE(pos));
    if (buf.readUInt32LE(pos + 8) !== masked(lenBytes)) throw new Error(`bad length CRC at byte ${pos}`);
    if (pos + 16 + len > buf.length) throw new Error(`torn record at byte ${pos}`);
    const data = buf.subarray(pos + 12, pos + 12 + len);
    if (buf.readUInt32LE(pos + 12 + len) !== masked(data)) throw new Error(`bad data CRC at byte ${pos}`);
    out.push(data);
    pos += 16 + len;
  }
  return out;
}

let root: protobuf.Root | undefined;
function types(): protobuf.Root {
  if (root) return root;
  root = new protobuf.Root();
  root.resolvePath = (_o, target) => (target.startsWith('google/protobuf/') ? target : join(PROTO_DIR, target));
  root.loadSync(['tensorboard/compat/proto/event.proto', 'tensorboard/plugins/hparams/plugin_data.proto']);
  return root;
}

// decoded messages are plain objects of any shape
export type Decoded = any;

const opts = { longs: Number, enums: String, bytes: Buffer, defaults: false, oneofs: true } as const;

/** The Events of one file as plain objects; hparams plugin contents decoded into `hparams`. */
export function readEvents(path: string): Decoded[] {
  const Event = types().lookupType('tensorboard.Event');
  const Plugin = types().lookupType('tensorboard.hparams.HParamsPluginData');
  return tfrecords(readFileSync(path)).map((data) => {
    const e = Event.toObject(Event.decode(data), opts);
    for (const v of e.summary?.value ?? []) {
      const pd = v.metadata?.pluginData;
      if (pd?.pluginName === 'hparams') v.hparams = Plugin.toObject(Plugin.decode(pd.content), opts);
    }
    return e;
  });
}

/** The event files of a folder, oldest first (TensorBoard reads them in name order). */
export function eventFiles(dir: string): string[] {
  return readdirSync(dir)
    .filter((f) => f.startsWith('events.out.tfevents.'))
    .sort()
    .map((f) => join(dir, f));
}

/**
 * Scalars by tag: [step, value] pairs in file order, as TensorBoard shows them: a SessionLog START
 * event at step S drops the values logged before it at step S or later, for every tag
 * (plugin_event_accumulator.py, _CheckForRestartAndMaybePurge, files of version 2).
 */
export function scalarsOf(events: Decoded[]): Map<string, [number, number][]> {
  const out = new Map<string, [number, number][]>();
  for (const e of events) {
    if (e.sessionLog?.status === 'START')
      for (const [tag, series] of out)
        out.set(
          tag,
          series.filter(([step]) => step < (e.step ?? 0)),
        );
    for (const v of e.summary?.value ?? [])
      if (v.simpleValue !== undefined) {
        if (!out.has(v.tag)) out.set(v.tag, []);
        out.get(v.tag)!.push([e.step ?? 0, v.simpleValue]);
      }
  }
  return out;
}
