// TFRecord framing, the container of TensorBoard's event files: each record is
//   uint64 length (little-endian) | uint32 masked CRC32C of those 8 bytes | data | uint32 masked CRC32C of data
// (tensorflow/core/lib/io/record_writer.cc).
import { maskedCrc32c } from './crc32c.ts';

/** One record, framed: 8 + 4 + data.length + 4 bytes. */
export function frameRecord(data: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(16 + data.length);
  out.writeBigUInt64LE(BigInt(data.length), 0);
  out.writeUInt32LE(maskedCrc32c(out.subarray(0, 8)), 8);
  out.set(data, 12);
  out.writeUInt32LE(maskedCrc32c(data), 12 + data.length);
  return out;
}
