// A module's 4-d parameters and buffers (conv weights) in a memory format, as torch's
// model.to(memory_format=torch.channels_last): the data moves, the Parameter objects stay (an
// optimizer built before still holds them).
import { isMemoryFormat, type MemoryFormat, noGrad, toMemoryFormat } from '../tensor/index.ts';
import type { Module } from './module.ts';

/** Converts every 4-d parameter and buffer of `model` to `format` in place; returns the model. */
export function toMemoryFormatModule<M extends Module>(model: M, format: MemoryFormat): M {
  noGrad(() => {
    for (const t of [...model.parameters(), ...model.buffers()]) {
      if (t.ndim !== 4 || isMemoryFormat(t, format)) continue;
      const moved = toMemoryFormat(t, format);
      t.setData_(moved);
      moved.dispose();
    }
  });
  return model;
}
