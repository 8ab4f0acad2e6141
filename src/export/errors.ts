// The exporter's coded errors.
import { GraftError } from '../errors.ts';

/** A model or run that cannot be exported as asked: says what and where, and what to do. */
export class ExportError extends GraftError {
  constructor(message: string, hint?: string) {
    super('GRAFT_EXPORT', message, hint);
  }
}

/** An op of the traced forward that the ONNX exporter has no mapping for: names the op and the module. */
export class UnsupportedOpError extends ExportError {
  readonly op: string;
  readonly modulePath: string;
  constructor(op: string, modulePath: string, detail?: string) {
    super(
      `the ONNX exporter cannot map ${op}${detail ? ` (${detail})` : ''}, run by module '${modulePath || '<root>'}'`,
      'export another format (safetensors, pth, hf), or rewrite that module with ops the exporter maps (docs/export.md lists them)',
    );
    this.op = op;
    this.modulePath = modulePath;
  }
}
