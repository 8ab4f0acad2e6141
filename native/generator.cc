// libtorch's default CPU generator, read and written back as torch.get_rng_state() /
// torch.set_rng_state() do: its state is a uint8 CPU tensor (the Mersenne Twister's words plus the
// cached normal), taken and restored under the generator's own mutex.
#include <ATen/CPUGeneratorImpl.h>
#include <ATen/core/Generator.h>

#include <mutex>

#include "graft.h"

namespace graft {

// getRngState() -> a new uint8 tensor holding the state (a copy: later draws do not change it)
static napi_value getRngState(napi_env env, napi_callback_info) {
  auto gen = at::detail::getDefaultCPUGenerator();
  at::Tensor state;
  {
    std::lock_guard<std::mutex> lock(gen.mutex());
    state = gen.get_state();
  }
  return wrap(env, state);
}

// setRngState(state): libtorch checks the dtype (uint8) and the size, and throws otherwise
static napi_value setRngState(napi_env env, napi_callback_info info) {
  auto a = args(env, info, 1);
  const at::Tensor& state = tensorOf(env, a.at(0));
  auto gen = at::detail::getDefaultCPUGenerator();
  std::lock_guard<std::mutex> lock(gen.mutex());
  gen.set_state(state);
  return undefinedValue(env);
}

void initGenerator(napi_env env, napi_value exports) {
  defineFn(env, exports, "getRngState", entry<getRngState>);
  defineFn(env, exports, "setRngState", entry<setRngState>);
}

}  // namespace graft
