// dtypes by their PyTorch names; codes are c10::ScalarType values (stable across libtorch 1.13..2.x).

export type DType =
  | 'float32'
  | 'float64'
  | 'float16'
  | 'bfloat16'
  | 'int64'
  | 'int32'
  | 'int16'
  | 'int8'
  | 'uint8'
  | 'bool';

export const DTYPE_CODE: Record<DType, number> = {
  uint8: 0,
  int8: 1,
  int16: 2,
  int32: 3,
  int64: 4,
  float16: 5,
  float32: 6,
  float64: 7,
  bool: 11,
  bfloat16: 15,
};

const BY_CODE = new Map<number, DType>(Object.entries(DTYPE_CODE).map(([k, v]) => [v, k as DType]));

export function dtypeFromCode(code: number): DType {
  const d = BY_CODE.get(code);
  if (!d) throw new Error(`unsupported scalar type code ${code}`);
  return d;
}

export const DTYPE_BYTES: Record<DType, number> = {
  uint8: 1,
  int8: 1,
  int16: 2,
  int32: 4,
  int64: 8,
  float16: 2,
  float32: 4,
  float64: 8,
  bool: 1,
  bfloat16: 2,
};

export const isFloating = (d: DType): boolean =>
  d === 'float32' || d === 'float64' || d === 'float16' || d === 'bfloat16';

export function isDType(s: unknown): s is DType {
  return typeof s === 'string' && s in DTYPE_CODE;
}
