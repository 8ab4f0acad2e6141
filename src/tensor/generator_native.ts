// libtorch's default CPU generator's state (native/generator.cc): torch.get_rng_state() and
// torch.set_rng_state(), so that code which draws random numbers for itself (the LR finder's sweep)
// can leave the generator as it found it. Here because only src/tensor/ reaches the binding.
import { type Handle, native } from '../binding/index.ts';
import { ArgumentError } from '../errors.ts';
import { guard } from './_core.ts';
import { Tensor } from './tensor.ts';

interface GeneratorNative {
  getRngState(): Handle;
  setRngState(state: Handle): void;
}

const g = native as unknown as GeneratorNative;

/** The CPU generator's state as a new uint8 tensor (torch.get_rng_state): later draws leave it as it is. */
export function getRngState(): Tensor {
  return new Tensor(guard(() => g.getRngState()));
}

/** Puts back a state getRngState returned (torch.set_rng_state): the next draws repeat the ones after it. */
export function setRngState(state: Tensor): void {
  if (!(state instanceof Tensor)) throw new ArgumentError('setRngState needs the tensor getRngState returned');
  if (state.dtype !== 'uint8' || state.device !== 'cpu')
    throw new ArgumentError(
      `setRngState needs a uint8 CPU tensor, got ${state.dtype} on ${state.device}`,
      'pass the tensor getRngState returned',
    );
  guard(() => g.setRngState(state.h));
}
