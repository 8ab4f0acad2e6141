// Fixed-arity fast paths (fast_math.cc, fast_shape.cc): the hot ops called through their typed C++
// functions (at::add, ...) instead of opCall's boxed route. opCall converts every argument by the
// op's schema into a Stack of IValues and boxes around the kernel; a typed call reaches the same
// dispatcher entry (autograd, autocast, the same kernels), so results, dtypes and broadcasting are
// the boxed path's by construction. Arguments arrive in schema order; undefined takes the schema's
// default, as in opCall.
#pragma once
#include <ATen/core/LegacyTypeDispatch.h>
#include <ATen/record_function.h>
#include <c10/core/impl/LocalDispatchKeySet.h>

#include "graft.h"

namespace graft {
namespace fast {

// The op's name and arguments as its schema writes them ("Tensor self, Scalar other"): an error
// reads it to name the op and describe the tensors it was given, as opCall's messages do.
struct Sig {
  const char* name;
  const char* args;
};

// A conversion error of argument `index` (a JS value of the wrong type).
struct ArgError {
  size_t index;
  JsError error;
};

template <size_t N>
struct In {
  napi_env env;
  napi_value v[N];
  In(napi_env e, napi_callback_info info) : env(e) {
    size_t n = N;  // Node-API fills the arguments not given with undefined
    NAPI_OK(napi_get_cb_info(env, info, &n, v, nullptr, nullptr));
  }
  // argument i; an entry reading past its arity is a bug here, not a user's error
  napi_value at(size_t i) const {
    if (i >= N) throw JsError{"GRAFT_NATIVE", "fast path reads argument " + std::to_string(i) + " of " + std::to_string(N)};
    return v[i];
  }
  bool given(size_t i) const { return !isNullish(env, at(i)); }
  // a reference into the handle table: use it before the next wrap(), which may grow the table
  const at::Tensor& t(size_t i) const { return tensorOf(env, at(i)); }
  c10::optional<at::Tensor> optT(size_t i) const { return given(i) ? c10::optional<at::Tensor>(t(i)) : c10::nullopt; }
  template <class F>
  auto conv(size_t i, F f) const -> decltype(f()) {
    try {
      return f();
    } catch (const JsError& e) {
      throw ArgError{i, e};
    }
  }
  c10::Scalar s(size_t i) const { return conv(i, [&] { return scalarOf(env, at(i)); }); }
  c10::Scalar s(size_t i, int64_t dflt) const { return given(i) ? s(i) : c10::Scalar(dflt); }
  int64_t i64(size_t i) const { return conv(i, [&] { return intOf(env, at(i)); }); }
  int64_t i64(size_t i, int64_t dflt) const { return given(i) ? i64(i) : dflt; }
  c10::optional<int64_t> optI64(size_t i) const { return given(i) ? c10::optional<int64_t>(i64(i)) : c10::nullopt; }
  double f64(size_t i) const { return conv(i, [&] { return numberOf(env, at(i)); }); }
  double f64(size_t i, double dflt) const { return given(i) ? f64(i) : dflt; }
  bool b(size_t i, bool dflt) const { return given(i) ? conv(i, [&] { return boolOf(env, at(i)); }) : dflt; }
  std::vector<int64_t> ints(size_t i) const { return conv(i, [&] { return intListOf(env, at(i)); }); }
  c10::optional<at::ScalarType> optDtype(size_t i) const {
    return given(i) ? c10::optional<at::ScalarType>(static_cast<at::ScalarType>(i64(i))) : c10::nullopt;
  }
};

// True when the tensor carries no autograd metadata: it does not require grad, is no view, has no
// forward gradient. When every tensor argument is plain, the autograd kernel would only redispatch,
// so the call may start below it. ADInplaceOrView (version counters, view tracking) still runs.
inline bool plain(const at::Tensor& t) { return t.unsafeGetTensorImpl()->autograd_meta() == nullptr; }
inline bool plain(const c10::optional<at::Tensor>& t) { return !t || !t->defined() || plain(*t); }
template <class... T>
inline bool allPlain(const T&... ts) {
  return (plain(ts) && ...);
}

// Direct CPU entries (at::cpu::add, ...): the function the dispatcher itself calls for the CPU key,
// the same structured kernel (meta + impl), reached without the dispatcher. Taken only where the
// dispatcher could reach nothing else: every tensor is a dense CPU tensor carrying only the keys
// every such tensor carries (no conjugate/negative bit, sparse, quantized, mkldnn, Python... key)
// and no autograd metadata (so the autograd kernel would only redispatch), this thread includes and
// excludes only the default keys (no autocast, tracer, inference mode, functorch, functionalize, no
// AutoDispatchBelowAutograd guard), and no RecordFunction callback (profiler, observer) is set.
// Out-of-place ops only: an in-place op's ADInplaceOrView kernel bumps the version counter.
constexpr c10::DispatchKeySet kDenseCpuKeys = c10::DispatchKeySet({c10::DispatchKey::CPU,
                                                                    c10::DispatchKey::AutogradCPU,
                                                                    c10::DispatchKey::ADInplaceOrView,
                                                                    c10::DispatchKey::AutocastCPU});
inline bool denseCpu(const at::Tensor& t) {
  // raw bits: DispatchKeySet's operator- keeps the backend bits, so a CUDA tensor would pass it
  c10::DispatchKeySet ks = t.key_set(), allowed = kDenseCpuKeys;  // raw_repr() is not const in 1.13
  return (ks.raw_repr() & ~allowed.raw_repr()) == 0 && ks.has(c10::DispatchKey::CPU) && plain(t);
}
inline bool denseCpu(const c10::optional<at::Tensor>& t) { return !t || !t->defined() || denseCpu(*t); }
inline bool defaultDispatchState() {
  c10::impl::LocalDispatchKeySet tls = c10::impl::tls_local_dispatch_key_set();
  return tls.included_ == c10::default_included_set && tls.excluded_ == c10::default_excluded_set &&
         !at::hasCallbacks();
}
template <class... T>
inline bool direct(const T&... ts) {
  return (denseCpu(ts) && ...) && defaultDispatchState();
}

// Runs f (which returns the op's result), skipping the autograd kernels when `skipAutograd`;
// errors become JsErrors that name the op and its arguments.
template <size_t N, class F>
napi_value run(const Sig& sig, const In<N>& in, bool skipAutograd, F f);

std::string describeCall(const Sig& sig, napi_env env, const napi_value* v, size_t n);
[[noreturn]] void rethrow(const Sig& sig, napi_env env, const napi_value* v, size_t n);

template <size_t N, class F>
napi_value run(const Sig& sig, const In<N>& in, bool skipAutograd, F f) {
  try {
    if (skipAutograd) {
      at::AutoDispatchBelowAutograd below;
      return f();
    }
    return f();
  } catch (...) {
    rethrow(sig, in.env, in.v, N);
  }
}

// The result of an out-of-place op: a new handle.
inline napi_value out(napi_env env, at::Tensor t) { return wrap(env, std::move(t)); }

}  // namespace fast
}  // namespace graft
