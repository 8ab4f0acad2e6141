// ONNX's protobuf messages (onnx.proto next to this file, loaded with protobufjs) and the few
// constants graft writes: element types, attribute types, the IR version.
import { fileURLToPath } from 'node:url';
import protobuf from 'protobufjs';
import type { DType } from '../tensor/index.ts';
import { ExportError } from './errors.ts';

/** onnx.proto 1.12's IR version: files that onnx 1.12's checker and every current runtime read. */
export const IR_VERSION = 8;

/** TensorProto.DataType by graft dtype. */
export const ONNX_DTYPE: Record<DType, number> = {
  float32: 1,
  uint8: 2,
  int8: 3,
  int16: 5,
  int32: 6,
  int64: 7,
  bool: 9,
  float16: 10,
  float64: 11,
  bfloat16: 16,
};

/** AttributeProto.AttributeType */
export const ATTR = { FLOAT: 1, INT: 2, STRING: 3, TENSOR: 4, FLOATS: 6, INTS: 7 } as const;

/** TensorProto as plain data (protobufjs fromObject shape). */
export interface TensorMsg {
  name: string;
  dims: number[];
  dataType: number;
  rawData?: Uint8Array;
  dataLocation?: number;
  externalData?: { key: string; value: string }[];
}

export interface AttrMsg {
  name: string;
  type: number;
  i?: number;
  f?: number;
  s?: Uint8Array;
  t?: TensorMsg;
  ints?: number[];
  floats?: number[];
}

export interface NodeMsg {
  opType: string;
  input: string[];
  output: string[];
  name: string;
  attribute: AttrMsg[];
  domain?: string;
}

/** A dimension: a number, or a symbolic name such as 'batch' (undefined: unknown). */
export type DimMsg = number | string | undefined;

export interface ValueInfoMsg {
  name: string;
  dtype: DType;
  shape: DimMsg[];
}

export interface ModelMsg {
  opset: number;
  producerVersion: string;
  graphName: string;
  nodes: NodeMsg[];
  initializers: TensorMsg[];
  inputs: ValueInfoMsg[];
  outputs: ValueInfoMsg[];
  docString?: string;
  metadata?: Record<string, string>;
}

let root: protobuf.Root | undefined;

function modelType(): protobuf.Type {
  if (!root) {
    const file = fileURLToPath(new URL('./onnx.proto', import.meta.url));
    try {
      root = protobuf.loadSync(file);
    } catch (e) {
      throw new ExportError(`cannot load ONNX's message definitions from ${file}: ${(e as Error).message}`);
    }
  }
  return root.lookupType('onnx.ModelProto');
}

function valueInfo(v: ValueInfoMsg): object {
  return {
    name: v.name,
    type: {
      tensorType: {
        elemType: ONNX_DTYPE[v.dtype],
        shape: {
          dim: v.shape.map((d) =>
            typeof d === 'number' ? { dimValue: d } : typeof d === 'string' ? { dimParam: d } : {},
          ),
        },
      },
    },
  };
}

/** The serialized ModelProto. */
export function encodeModel(m: ModelMsg): Uint8Array {
  const Model = modelType();
  const obj = {
    irVersion: IR_VERSION,
    producerName: 'graft',
    producerVersion: m.producerVersion,
    docString: m.docString,
    opsetImport: [{ domain: '', version: m.opset }],
    metadataProps: Object.entries(m.metadata ?? {}).map(([key, value]) => ({ key, value })),
    graph: {
      name: m.graphName,
      node: m.nodes,
      initializer: m.initializers,
      input: m.inputs.map(valueInfo),
      output: m.outputs.map(valueInfo),
    },
  };
  const err = Model.verify(obj);
  if (err) throw new ExportError(`internal: the ONNX model message is malformed: ${err}`);
  return Model.encode(Model.fromObject(obj)).finish();
}

/** The parsed ModelProto of a file's bytes, as plain objects (tests and `graft inspect`). */
export function decodeModel(bytes: Uint8Array): any {
  const Model = modelType();
  return Model.toObject(Model.decode(bytes), { longs: Number, bytes: Uint8Array as any, defaults: false });
}
