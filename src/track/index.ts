// Run tracking: TensorBoard event files (TFRecord framing, masked CRC32C, the Event / Summary /
// HistogramProto / HParams messages of TensorBoard's published .proto files), a CSV logger, the
// Logger interface both implement, and the training callback that feeds them.

export { type HistogramOptions, splitTags, TrackingCallback, type TrackingOptions } from './callback.ts';
export { crc32c, maskCrc, maskedCrc32c } from './crc32c.ts';
export { CsvLogger, type CsvLoggerOptions, splitCsvLine } from './csv.ts';
export { type EventFileOptions, EventFileWriter, eventFileName } from './event_file.ts';
export { DEFAULT_EDGES, type Histogram, histogramOf } from './histogram.ts';
export { type Logger, removeEventFiles, TensorBoardLogger, type TensorBoardLoggerOptions } from './logger.ts';
export { encodeMessage, messageType, PROTO_DIR, protoRoot } from './proto.ts';
export {
  type EventData,
  encodeEvent,
  FILE_VERSION,
  type HparamValue,
  histogramValue,
  type SessionStatus,
  type SummaryValue,
  scalarValue,
  sessionEndValue,
  sessionStartValue,
} from './summary.ts';
export { frameRecord } from './tfrecord.ts';
