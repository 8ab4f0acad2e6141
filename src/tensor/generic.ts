// Any ATen op by name: the escape hatch for ops graft has no typed wrapper for.
import { ArgumentError } from '../errors.ts';
import { callRaw, op, schemaOf } from './_core.ts';
import { Tensor, wrap } from './tensor.ts';

function lower(v: unknown): unknown {
  if (v instanceof Tensor) return v.h;
  if (Array.isArray(v)) return v.map(lower);
  return v;
}

/**
 * aten('aten::addcmul', '')(a, b, c, 0.5): arguments in schema order (`schemaOf` prints it),
 * undefined takes the schema's default, tensors in and out are graft Tensors.
 */
export function aten(name: string, overload = ''): (...args: unknown[]) => any {
  const full = name.includes('::') ? name : `aten::${name}`;
  const ref = op(full, overload);
  return (...args: unknown[]) => {
    ref.argKinds.forEach((kind, i) => {
      const a = args[i];
      if (kind === 1 && a !== undefined && a !== null && !(a instanceof Tensor))
        throw new ArgumentError(
          `${ref.name}: argument ${i} must be a Tensor, got ${typeof a}`,
          schemaOf(full, overload),
        );
    });
    const r = callRaw(ref, ...args.map(lower));
    if (ref.inplace) return args[0];
    return wrap(r);
  };
}

export { schemaOf };
