// CRC32C (Castagnoli, reflected polynomial 0x82F63B78) as TFRecord files use it, and TensorFlow's
// mask over it: a CRC stored next to the data it covers is rotated and offset, so that computing the
// CRC of a string that itself contains CRCs does not degenerate (tensorflow/core/lib/hash/crc32c.h).

const TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0x82f63b78 : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

/** CRC32C of `bytes` (RFC 3720's iSCSI CRC), as an unsigned 32-bit number. */
export function crc32c(bytes: Uint8Array): number {
  let c = 0xffffffff;
  for (let i = 0; i < bytes.length; i++) c = TABLE[(c ^ bytes[i]!) & 0xff]! ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

/** TensorFlow's masked CRC: ((crc >>> 15) | (crc << 17)) + 0xa282ead8, modulo 2^32. */
export function maskCrc(crc: number): number {
  return (((crc >>> 15) | (crc << 17)) + 0xa282ead8) >>> 0;
}

/** The masked CRC32C of `bytes`. */
export const maskedCrc32c = (bytes: Uint8Array): number => maskCrc(crc32c(bytes));
