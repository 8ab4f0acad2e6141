// Process-wide state: threads, seed, grad mode, autocast, CUDA, versions.
#include <ATen/Parallel.h>
#include <ATen/autocast_mode.h>
#include <c10/core/GradMode.h>
#include <c10/core/impl/LocalDispatchKeySet.h>
#include <torch/csrc/api/include/torch/version.h>
#include <torch/library.h>

#include "graft.h"

namespace graft {

static napi_value setNumThreads(napi_env env, napi_callback_info info) {
  auto a = args(env, info, 1);
  int n = static_cast<int>(intOf(env, a.at(0)));
  if (n < 1) throw JsError{"GRAFT_ARGS", "setNumThreads needs n >= 1"};
  at::set_num_threads(n);
  return undefinedValue(env);
}

static napi_value getNumThreads(napi_env env, napi_callback_info) {
  return jsNumber(env, at::get_num_threads());
}

static napi_value manualSeed(napi_env env, napi_callback_info info) {
  auto a = args(env, info, 1);
  at::manual_seed(static_cast<uint64_t>(intOf(env, a.at(0))));
  return undefinedValue(env);
}

// setGradEnabled(b) -> previous value; JS restores it in `finally`.
static napi_value setGradEnabled(napi_env env, napi_callback_info info) {
  auto a = args(env, info, 1);
  bool prev = c10::GradMode::is_enabled();
  c10::GradMode::set_enabled(boolOf(env, a.at(0)));
  return jsBool(env, prev);
}

static napi_value isGradEnabled(napi_env env, napi_callback_info) {
  return jsBool(env, c10::GradMode::is_enabled());
}

#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 4)
#define GRAFT_NEW_AUTOCAST 1
#endif

// setAutocast(deviceType "cpu"|"cuda", enabled, dtype) -> [prevEnabled, prevDtype]
static napi_value setAutocast(napi_env env, napi_callback_info info) {
  auto a = args(env, info, 3);
  std::string dev = stringOf(env, a.at(0));
  bool enabled = boolOf(env, a.at(1));
  auto dtype = static_cast<at::ScalarType>(intOf(env, a.at(2)));
  bool prevEnabled;
  at::ScalarType prevDtype;
  bool cuda = dev == "cuda";
  if (!cuda && dev != "cpu") throw JsError{"GRAFT_ARGS", "autocast device must be cpu or cuda, got " + dev};
#ifdef GRAFT_NEW_AUTOCAST
  auto type = cuda ? at::kCUDA : at::kCPU;
  prevEnabled = at::autocast::is_autocast_enabled(type);
  prevDtype = at::autocast::get_autocast_dtype(type);
  at::autocast::set_autocast_enabled(type, enabled);
  at::autocast::set_autocast_dtype(type, dtype);
#else
  prevEnabled = cuda ? at::autocast::is_enabled() : at::autocast::is_cpu_enabled();
  prevDtype = cuda ? at::autocast::get_autocast_gpu_dtype() : at::autocast::get_autocast_cpu_dtype();
  if (cuda) {
    at::autocast::set_enabled(enabled);
    at::autocast::set_autocast_gpu_dtype(dtype);
  } else {
    at::autocast::set_cpu_enabled(enabled);
    at::autocast::set_autocast_cpu_dtype(dtype);
  }
#endif
  napi_value arr;
  NAPI_OK(napi_create_array_with_length(env, 2, &arr));
  NAPI_OK(napi_set_element(env, arr, 0, jsBool(env, prevEnabled)));
  NAPI_OK(napi_set_element(env, arr, 1, jsNumber(env, static_cast<int>(prevDtype))));
  return arr;
}

// autocast scopes nest; the cast-weight cache is cleared when the outermost one ends
static napi_value autocastNest(napi_env env, napi_callback_info info) {
  auto a = args(env, info, 1);
  if (boolOf(env, a.at(0))) return jsNumber(env, at::autocast::increment_nesting());
  int depth = at::autocast::decrement_nesting();
  if (depth == 0) at::autocast::clear_cache();
  return jsNumber(env, depth);
}

// CPU autocast's fp32 list, extended: libtorch 1.13 has no bfloat16 kernel for hardtanh's backward
// ("hardshrink_backward_cpu" not implemented for 'BFloat16'), so ReLU6 (MobileNetV2's activation)
// under bf16 autocast failed in backward, in PyTorch 1.13 as here. Under CPU autocast hardtanh now
// runs in float32, as PyTorch's own fp32-policy ops do; the next conv casts its output back down.
// Later libtorch versions have the kernel and keep their own behaviour.
#if TORCH_VERSION_MAJOR < 2
namespace {
at::Tensor hardtanhAutocastFp32(const at::Tensor& self, const at::Scalar& min, const at::Scalar& max) {
  c10::impl::ExcludeDispatchKeyGuard noAutocast(c10::DispatchKey::AutocastCPU);
  return at::hardtanh(self.scalar_type() == at::kBFloat16 ? self.to(at::kFloat) : self, min, max);
}
}  // namespace

TORCH_LIBRARY_IMPL(aten, AutocastCPU, m) {
  m.impl("hardtanh", TORCH_FN(hardtanhAutocastFp32));
}
#endif

static napi_value cudaDeviceCount(napi_env env, napi_callback_info) {
  return jsNumber(env, at::hasCUDA() ? at::getNumGPUs() : 0);
}

static napi_value version(napi_env env, napi_callback_info) {
  return jsString(env, TORCH_VERSION);
}

static napi_value parallelInfo(napi_env env, napi_callback_info) {
  return jsString(env, at::get_parallel_info());
}

void initAlloc(napi_env env, napi_value exports);  // alloc.cc: the caching CPU allocator
void initGenerator(napi_env env, napi_value exports);  // generator.cc: the CPU generator's state
void initAutogradLean(napi_env env, napi_value exports);  // autograd_lean.cc: lean backward executor

void initRuntime(napi_env env, napi_value exports) {
  defineFn(env, exports, "setNumThreads", entry<setNumThreads>);
  defineFn(env, exports, "getNumThreads", entry<getNumThreads>);
  defineFn(env, exports, "manualSeed", entry<manualSeed>);
  defineFn(env, exports, "setGradEnabled", entry<setGradEnabled>);
  defineFn(env, exports, "isGradEnabled", entry<isGradEnabled>);
  defineFn(env, exports, "setAutocast", entry<setAutocast>);
  defineFn(env, exports, "autocastNest", entry<autocastNest>);
  defineFn(env, exports, "cudaDeviceCount", entry<cudaDeviceCount>);
  defineFn(env, exports, "version", entry<version>);
  defineFn(env, exports, "parallelInfo", entry<parallelInfo>);
}

}  // namespace graft

static napi_value Init(napi_env env, napi_value exports) {
  try {
    graft::initTensor(env, exports);
    graft::initAutogradLean(env, exports);
    graft::initOps(env, exports);
    graft::initRuntime(env, exports);
    graft::initGenerator(env, exports);
    graft::initMalloc(env, exports);
    graft::initAlloc(env, exports);
    graft::initDist(env, exports);
    graft::initQuant(env, exports);
    graft::initImage(env, exports);
  } catch (const graft::JsError& e) {
    napi_throw_error(env, e.code.c_str(), e.message.c_str());
  }
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, Init)
