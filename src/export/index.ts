// Deployment formats: ONNX export from a trace of graft's own forward.
export { ExportError, UnsupportedOpError } from './errors.ts';
export {
  type DynamicAxes,
  type ExampleInputs,
  exportOnnx,
  type OnnxExportInfo,
  type OnnxExportOptions,
  type OnnxModelBytes,
  supportedOnnxOps,
  toOnnx,
} from './onnx.ts';
export { decodeModel as decodeOnnxModel } from './onnx_proto.ts';
