// Shared declarations for the graft addon. Only native/ includes torch headers.
#pragma once
#define NAPI_VERSION 8
#include <node_api.h>
#include <ATen/ATen.h>
#include <string>
#include <vector>

namespace graft {

// A JS tensor handle is a number: slot + generation * 2^24 in a per-env table of
// at::Tensor references. Numbers cost JS nothing to create, where a napi external with a
// finalizer cost 0.75 us per result here; JS frees slots with a FinalizationRegistry or
// dispose(), and the generation makes a late or repeated release of a reused slot harmless.
struct Slot {
  at::Tensor t;
  uint32_t gen = 0;
  int64_t reported = 0;  // bytes reported to V8 via napi_adjust_external_memory
};

constexpr double kGenScale = 16777216.0;  // 2^24 slots per env

struct EnvState {
  std::vector<Slot> slots;
  std::vector<uint32_t> freeSlots;
  size_t live = 0;
  // Off while JS is inside a tidy() scope: those tensors are freed by the scope, not by GC, so
  // reporting them only made V8 run a major GC every training step (setExternalReporting).
  bool report = true;
  // bytes reported to V8 since the last napi_adjust_external_memory call (reportBytes batches them)
  int64_t pendingExternal = 0;
  // glibc: V8 hears of the rises of the malloc heap's in-use troughs (common.cc sampleHeap)
  int64_t heapBaseline = -1;  // the last window's trough
  int64_t heapReported = 0;   // rises not reported yet (batched)
  int64_t nextSampleNs = 0;
  int64_t handleBytes = 0;  // the bytes reported for live handles (Slot::reported summed)
  int64_t trough = -1;      // the lowest in-use bytes, less handleBytes, sampled in this window
  int64_t windowEndNs = 0;
  int64_t heapHigh = -1;    // the malloc heap's largest size so far (arena + mmapped)
};

EnvState& envState(napi_env env);

// Thrown inside bindings; converted to a pending JS exception at the entry point.
struct JsError {
  std::string code;
  std::string message;
};

#define NAPI_OK(call)                                                    \
  do {                                                                   \
    if ((call) != napi_ok) throw ::graft::JsError{"GRAFT_NAPI", #call}; \
  } while (0)

// Runs fn and turns every C++ exception into a JS exception, so nothing aborts Node.
napi_value guard(napi_env env, const char* what, napi_value (*fn)(napi_env, napi_callback_info),
                 napi_callback_info info);

template <napi_value (*F)(napi_env, napi_callback_info)>
napi_value entry(napi_env env, napi_callback_info info) {
  return guard(env, "", F, info);
}

// argument helpers
std::vector<napi_value> args(napi_env env, napi_callback_info info, size_t max = 16);
at::Tensor& tensorOf(napi_env env, napi_value v);
Slot* slotOf(napi_env env, napi_value v);  // nullptr for a stale handle
void release(napi_env env, napi_value v);
void reportBytes(napi_env env, Slot& slot);
napi_value wrap(napi_env env, at::Tensor t);
napi_value undefinedValue(napi_env env);
napi_value jsNumber(napi_env env, double v);
// obj[name] = v (a number); returns obj, for the stats objects the allocators answer
napi_value setNumberField(napi_env env, napi_value obj, const char* name, double v);
napi_value jsBool(napi_env env, bool v);
napi_value jsString(napi_env env, const std::string& s);
double numberOf(napi_env env, napi_value v);
// A JS number as PyTorch's Python binding reads a literal: integral values are int scalars, others
// (inf and nan too) double; a boolean is a bool scalar.
c10::Scalar scalarOf(napi_env env, napi_value v);
int64_t intOf(napi_env env, napi_value v);
bool boolOf(napi_env env, napi_value v);
std::string stringOf(napi_env env, napi_value v);
std::vector<int64_t> intListOf(napi_env env, napi_value v);
bool isNullish(napi_env env, napi_value v);
std::string describe(const at::Tensor& t);

// registration: each file adds its functions to the exports object
void defineFn(napi_env env, napi_value exports, const char* name, napi_callback cb);
void initTensor(napi_env env, napi_value exports);
void initOps(napi_env env, napi_value exports);
void initRuntime(napi_env env, napi_value exports);
void initMalloc(napi_env env, napi_value exports);
void initDist(napi_env env, napi_value exports);   // dist.cc: c10d process groups, DDP reducer
void initQuant(napi_env env, napi_value exports);  // quant.cc: quantized kernels (fbgemm/qnnpack)
namespace fast {
void initFastMath(napi_env env, napi_value exports);   // fast_math.cc: typed calls of hot ops
void initFastShape(napi_env env, napi_value exports);  // fast_shape.cc: views, indexing, layers
}  // namespace fast
void initImage(napi_env env, napi_value exports);  // image.cc: PNG/JPEG decode + Pillow resample

}  // namespace graft
