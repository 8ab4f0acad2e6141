// Fast paths (see fast.h) for elementwise math, in-place updates, matrix products and reductions.
#include <c10/util/Exception.h>

#include <ATen/CPUFunctions.h>
#include <ATen/ScalarOps.h>
#include <ATen/ops/as_strided_native.h>

#include <cstring>

#include "fast.h"

namespace graft {
namespace fast {

std::string describeCall(const Sig& sig, napi_env env, const napi_value* v, size_t n) {
  // sig.args: "Tensor self, Tensor? bias, int[] size"; describe every tensor argument given
  std::string out, args = sig.args;
  size_t i = 0, start = 0;
  while (start <= args.size() && i < n) {
    size_t end = args.find(',', start);
    if (end == std::string::npos) end = args.size();
    std::string arg = args.substr(start, end - start);
    while (!arg.empty() && arg[0] == ' ') arg.erase(0, 1);
    std::string name = arg.substr(arg.rfind(' ') + 1);
    bool tensor = arg.rfind("Tensor", 0) == 0 && arg.rfind("Tensor[]", 0) != 0;
    if (tensor && !isNullish(env, v[i])) {
      out += (out.empty() ? "" : ", ") + name + "=";
      try {
        out += describe(tensorOf(env, v[i]));
      } catch (...) {
        out += "?";
      }
    }
    start = end + 1;
    i++;
  }
  return out;
}

static std::string argName(const Sig& sig, size_t index) {
  std::string args = sig.args;
  size_t start = 0;
  for (size_t i = 0; i < index && start != std::string::npos; i++) {
    start = args.find(',', start);
    if (start != std::string::npos) start++;
  }
  if (start == std::string::npos) return "?";
  size_t end = args.find(',', start);
  std::string arg = args.substr(start, end == std::string::npos ? std::string::npos : end - start);
  return arg.substr(arg.rfind(' ') + 1);
}

void rethrow(const Sig& sig, napi_env env, const napi_value* v, size_t n) {
  try {
    throw;
  } catch (const ArgError& e) {
    throw JsError{e.error.code, std::string(sig.name) + ": argument '" + argName(sig, e.index) + "': " + e.error.message};
  } catch (const JsError&) {
    throw;
  } catch (const c10::Error& e) {
    throw JsError{"GRAFT_TORCH", std::string(sig.name) + "(" + describeCall(sig, env, v, n) + "): " + e.what_without_backtrace()};
  } catch (const std::exception& e) {
    // some libtorch checks (e.g. infer_size in 1.13) throw std::runtime_error, not c10::Error
    throw JsError{"GRAFT_TORCH", std::string(sig.name) + "(" + describeCall(sig, env, v, n) + "): " + e.what()};
  }
}

namespace {

// The Scalar overloads (add.Scalar, ...) wrap the scalar in a 0-dim int64 or double tensor and call
// the Tensor overload, whose TensorIterator casts that operand to the common dtype (a static_cast in
// the copy kernel). For a float32 / float64 tensor and a number the common dtype is the tensor's, so
// the direct entry makes the cast operand at once: a 0-dim tensor per thread and dtype, rewritten for
// each call, the operand the kernel would see, without the second dispatch and the cast's copy.
// nullptr where that does not hold (other dtypes, a bool or complex scalar): the generic path then.
const at::Tensor* scalarOperand(const at::Tensor& a, const c10::Scalar& s) {
  if (s.isBoolean() || s.isComplex()) return nullptr;
  const at::ScalarType st = a.scalar_type();
  if (st != at::kFloat && st != at::kDouble) return nullptr;
  thread_local at::Tensor f32, f64;
  at::Tensor& t = st == at::kFloat ? f32 : f64;
  // a result never holds its operand, but a tensor still in use is never rewritten
  if (!t.defined() || t.use_count() != 1) {
    t = at::detail::scalar_tensor_static(c10::Scalar(0), st, at::kCPU);
    t.unsafeGetTensorImpl()->set_wrapped_number(true);
  }
  const bool integral = s.isIntegral(false);
  if (st == at::kFloat)
    *static_cast<float*>(t.data_ptr()) = integral ? static_cast<float>(s.toLong()) : static_cast<float>(s.toDouble());
  else
    *static_cast<double*>(t.data_ptr()) = integral ? static_cast<double>(s.toLong()) : s.toDouble();
  return &t;
}

// binary ops: (Tensor self, Tensor other[, Scalar alpha]) and (Tensor self, Scalar other[, Scalar alpha]);
// DIRECT: the direct CPU entry (fast.h), taken where HAS_DIRECT (not for in-place ops)
#define FAST_BINARY(fn, NAME, EXPR, DIRECT, HAS_DIRECT)                                  \
  napi_value fn##T(napi_env env, napi_callback_info info) {                              \
    static const Sig sig{NAME ".Tensor", "Tensor self, Tensor other, Scalar alpha"};    \
    In<3> in(env, info);                                                                 \
    const at::Tensor& a = in.t(0);                                                       \
    const at::Tensor& b = in.t(1);                                                       \
    if (HAS_DIRECT && direct(a, b)) return run(sig, in, false, [&] { return DIRECT(a, b); });  \
    return run(sig, in, allPlain(a, b), [&] { return EXPR(a, b); });                     \
  }                                                                                      \
  napi_value fn##S(napi_env env, napi_callback_info info) {                              \
    static const Sig sig{NAME ".Scalar", "Tensor self, Scalar other, Scalar alpha"};    \
    In<3> in(env, info);                                                                 \
    const at::Tensor& a = in.t(0);                                                       \
    return run(sig, in, false, [&] {                                                     \
      c10::Scalar s = in.s(1); /* in run(): a conversion error names the argument */     \
      if (HAS_DIRECT && direct(a))                                                       \
        if (const at::Tensor* b = scalarOperand(a, s)) return DIRECT(a, *b);             \
      if (plain(a)) {                                                                    \
        at::AutoDispatchBelowAutograd below;                                             \
        return EXPR(a, s);                                                               \
      }                                                                                  \
      return EXPR(a, s);                                                                 \
    });                                                                                  \
  }

#define WITH_ALPHA(op) [&](const at::Tensor& a, const auto& b) { return out(env, at::op(a, b, in.s(2, 1))); }
#define NO_ALPHA(op) [&](const at::Tensor& a, const auto& b) { return out(env, at::op(a, b)); }
#define INPLACE_ALPHA(op) [&](const at::Tensor& a, const auto& b) { a.op(b, in.s(2, 1)); return undefinedValue(env); }
#define INPLACE(op) [&](const at::Tensor& a, const auto& b) { a.op(b); return undefinedValue(env); }

#define CPU_ALPHA(op) [&](const at::Tensor& a, const at::Tensor& b) { return out(env, at::cpu::op(a, b, in.s(2, 1))); }
#define CPU_NO_ALPHA(op) [&](const at::Tensor& a, const at::Tensor& b) { return out(env, at::cpu::op(a, b)); }

FAST_BINARY(add, "aten::add", WITH_ALPHA(add), CPU_ALPHA(add), true)
FAST_BINARY(sub, "aten::sub", WITH_ALPHA(sub), CPU_ALPHA(sub), true)
FAST_BINARY(mul, "aten::mul", NO_ALPHA(mul), CPU_NO_ALPHA(mul), true)
FAST_BINARY(div, "aten::div", NO_ALPHA(div), CPU_NO_ALPHA(div), true)
FAST_BINARY(add_, "aten::add_", INPLACE_ALPHA(add_), INPLACE_ALPHA(add_), false)
FAST_BINARY(sub_, "aten::sub_", INPLACE_ALPHA(sub_), INPLACE_ALPHA(sub_), false)
FAST_BINARY(mul_, "aten::mul_", INPLACE(mul_), INPLACE(mul_), false)
FAST_BINARY(div_, "aten::div_", INPLACE(div_), INPLACE(div_), false)

// unary ops: (Tensor self)
#define FAST_UNARY(fn, NAME, EXPR)                                             \
  napi_value fn(napi_env env, napi_callback_info info) {                       \
    static const Sig sig{NAME, "Tensor self"};                                 \
    In<1> in(env, info);                                                       \
    const at::Tensor& a = in.t(0);                                             \
    return run(sig, in, plain(a), [&] { return EXPR; });                       \
  }

// out-of-place unary ops with a direct CPU entry (fast.h). INNER: the CPU kernel itself dispatches
// ops (relu's is clamp_min): those run below the autograd kernels too, as the generic path's do.
#define FAST_UNARY_DIRECT(fn, NAME, INNER)                                     \
  napi_value fn(napi_env env, napi_callback_info info) {                       \
    static const Sig sig{NAME, "Tensor self"};                                 \
    In<1> in(env, info);                                                       \
    const at::Tensor& a = in.t(0);                                             \
    if (direct(a)) return run(sig, in, INNER, [&] { return out(env, at::cpu::fn(a)); }); \
    return run(sig, in, plain(a), [&] { return out(env, at::fn(a)); });        \
  }

FAST_UNARY_DIRECT(relu, "aten::relu", true)
FAST_UNARY_DIRECT(sigmoid, "aten::sigmoid", false)
FAST_UNARY_DIRECT(tanh, "aten::tanh", false)
FAST_UNARY_DIRECT(neg, "aten::neg", false)
FAST_UNARY_DIRECT(exp, "aten::exp", false)
FAST_UNARY_DIRECT(log, "aten::log", false)
FAST_UNARY_DIRECT(sqrt, "aten::sqrt", false)
FAST_UNARY_DIRECT(rsqrt, "aten::rsqrt", false)
FAST_UNARY(abs, "aten::abs", out(env, at::abs(a)))
FAST_UNARY(detach, "aten::detach", out(env, at::detach(a)))
FAST_UNARY(relu_, "aten::relu_", (a.relu_(), undefinedValue(env)))
FAST_UNARY(zero_, "aten::zero_", (a.zero_(), undefinedValue(env)))

// two tensors: (Tensor self, Tensor other)
#define FAST_PAIR(fn, NAME, ARGS, EXPR)                                        \
  napi_value fn(napi_env env, napi_callback_info info) {                       \
    static const Sig sig{NAME, ARGS};                                          \
    In<2> in(env, info);                                                       \
    const at::Tensor& a = in.t(0);                                             \
    const at::Tensor& b = in.t(1);                                             \
    return run(sig, in, allPlain(a, b), [&] { return EXPR; });                 \
  }

FAST_PAIR(matmul, "aten::matmul", "Tensor self, Tensor other", out(env, at::matmul(a, b)))
#define FAST_PAIR_DIRECT(fn, NAME, ARGS)                                       \
  napi_value fn(napi_env env, napi_callback_info info) {                       \
    static const Sig sig{NAME, ARGS};                                          \
    In<2> in(env, info);                                                       \
    const at::Tensor& a = in.t(0);                                             \
    const at::Tensor& b = in.t(1);                                             \
    if (direct(a, b)) return run(sig, in, false, [&] { return out(env, at::cpu::fn(a, b)); }); \
    return run(sig, in, allPlain(a, b), [&] { return out(env, at::fn(a, b)); }); \
  }
FAST_PAIR_DIRECT(mm, "aten::mm", "Tensor self, Tensor mat2")
FAST_PAIR_DIRECT(bmm, "aten::bmm", "Tensor self, Tensor mat2")

napi_value copy_(napi_env env, napi_callback_info info) {
  static const Sig sig{"aten::copy_", "Tensor self, Tensor src, bool non_blocking"};
  In<3> in(env, info);
  const at::Tensor& a = in.t(0);
  const at::Tensor& b = in.t(1);
  return run(sig, in, allPlain(a, b), [&] {
    a.copy_(b, in.b(2, false));
    return undefinedValue(env);
  });
}

napi_value fill_(napi_env env, napi_callback_info info) {
  static const Sig sig{"aten::fill_.Scalar", "Tensor self, Scalar value"};
  In<2> in(env, info);
  const at::Tensor& a = in.t(0);
  return run(sig, in, plain(a), [&] {
    a.fill_(in.s(1));
    return undefinedValue(env);
  });
}

napi_value addmm(napi_env env, napi_callback_info info) {
  static const Sig sig{"aten::addmm", "Tensor self, Tensor mat1, Tensor mat2, Scalar beta, Scalar alpha"};
  In<5> in(env, info);
  const at::Tensor& c = in.t(0);
  const at::Tensor& a = in.t(1);
  const at::Tensor& b = in.t(2);
  // addmm's CPU kernel copies `self` into the result through the dispatcher: below autograd and
  // ADInplaceOrView, as PyTorch's own autograd kernel for addmm runs it (no version bump, no view)
  if (direct(c, a, b))
    return run(sig, in, false, [&] {
      at::AutoDispatchBelowADInplaceOrView below;
      return out(env, at::cpu::addmm(c, a, b, in.s(3, 1), in.s(4, 1)));
    });
  return run(sig, in, allPlain(c, a, b), [&] { return out(env, at::addmm(c, a, b, in.s(3, 1), in.s(4, 1))); });
}

// addmm(bias, x, wt) for a small output with a bias row that fits: the result is filled with the
// bias rows by memcpy, then at::cpu::addmm_ runs the same gemm (beta 1, alpha 1, the same strides) on
// it. addmm would fill it with a TensorIterator copy of bias.expand(m, n): the same bytes (a copy
// within one dtype), for 0.9 us more (a C++ loop, [8,64]x[32,64]). Outputs below the copy's grain
// size only, where that copy would run on one thread as well. Undefined where this does not apply.
at::Tensor linearByRows(const at::Tensor& x, const at::Tensor& w, const at::Tensor& wt, const at::Tensor& bias) {
  const int64_t m = x.size(0), n = w.size(0);
  if (bias.dim() != 1 || bias.size(0) != n || !bias.is_contiguous() || x.size(1) != w.size(1) || x.size(1) == 0 ||
      m == 0 || n == 0 || m * n >= at::internal::GRAIN_SIZE || bias.scalar_type() != x.scalar_type() ||
      w.scalar_type() != x.scalar_type())
    return at::Tensor();
  // as addmm's structured kernel makes its output: contiguous, x's dtype
  at::Tensor r = at::detail::empty_cpu({m, n}, x.scalar_type(), c10::nullopt, c10::nullopt, c10::nullopt, c10::nullopt);
  const size_t row = static_cast<size_t>(n) * bias.element_size();
  char* dst = static_cast<char*>(r.data_ptr());
  const char* src = static_cast<const char*>(bias.data_ptr());
  for (int64_t i = 0; i < m; i++) std::memcpy(dst + i * row, src, row);
  at::cpu::addmm_(r, x, wt);  // self is the result: the kernel skips its copy of self
  return r;
}

napi_value linear(napi_env env, napi_callback_info info) {
  static const Sig sig{"aten::linear", "Tensor input, Tensor weight, Tensor? bias"};
  In<3> in(env, info);
  const at::Tensor& x = in.t(0);
  const at::Tensor& w = in.t(1);
  auto bias = in.optT(2);
  // at::linear's own route for a 2-D input with a bias (at::native::linear): addmm(bias, x, w.t());
  // direct, w.t() is the CPU as_strided kernel's view (the strides t() gives) and addmm the CPU entry
  if (x.dim() == 2 && w.dim() == 2 && bias && bias->defined() && direct(x, w, bias))
    return run(sig, in, false, [&] {
      // below autograd and ADInplaceOrView, as PyTorch's autograd kernel for addmm runs it: addmm's
      // copy of the bias dispatches, and an expanded view needs no view tracking
      at::AutoDispatchBelowADInplaceOrView below;
      at::Tensor wt = at::native::as_strided_tensorimpl(w, {w.size(1), w.size(0)}, {w.stride(1), w.stride(0)}, w.storage_offset());
      at::Tensor r = linearByRows(x, w, wt, *bias);
      return out(env, r.defined() ? std::move(r) : at::cpu::addmm(*bias, x, wt));
    });
  return run(sig, in, allPlain(x, w, bias), [&] { return out(env, at::linear(x, w, bias)); });
}

// self += value * t1 op t2 (addcmul_, addcdiv_)
#define FAST_ADDC(fn, NAME)                                                                          \
  napi_value fn(napi_env env, napi_callback_info info) {                                             \
    static const Sig sig{NAME, "Tensor self, Tensor tensor1, Tensor tensor2, Scalar value"};        \
    In<4> in(env, info);                                                                             \
    const at::Tensor& a = in.t(0);                                                                   \
    const at::Tensor& t1 = in.t(1);                                                                  \
    const at::Tensor& t2 = in.t(2);                                                                  \
    return run(sig, in, allPlain(a, t1, t2), [&] {                                                   \
      a.fn(t1, t2, in.s(3, 1));                                                                      \
      return undefinedValue(env);                                                                    \
    });                                                                                              \
  }
FAST_ADDC(addcmul_, "aten::addcmul_")
FAST_ADDC(addcdiv_, "aten::addcdiv_")

napi_value lerp_(napi_env env, napi_callback_info info) {
  static const Sig sig{"aten::lerp_.Scalar", "Tensor self, Tensor end, Scalar weight"};
  In<3> in(env, info);
  const at::Tensor& a = in.t(0);
  const at::Tensor& b = in.t(1);
  return run(sig, in, allPlain(a, b), [&] {
    a.lerp_(b, in.s(2));
    return undefinedValue(env);
  });
}

// reductions: (Tensor self, ScalarType? dtype) and (Tensor self, int[1]? dim, bool keepdim, ScalarType? dtype)
#define FAST_REDUCE(fn, NAME, DIM_OVERLOAD)                                                             \
  napi_value fn(napi_env env, napi_callback_info info) {                                                \
    static const Sig sig{NAME, "Tensor self, ScalarType? dtype"};                                       \
    In<2> in(env, info);                                                                                \
    const at::Tensor& a = in.t(0);                                                                      \
    return run(sig, in, plain(a), [&] { return out(env, at::fn(a, in.optDtype(1))); });                 \
  }                                                                                                     \
  napi_value fn##Dim(napi_env env, napi_callback_info info) {                                           \
    static const Sig sig{NAME "." DIM_OVERLOAD, "Tensor self, int[1]? dim, bool keepdim, ScalarType? dtype"}; \
    In<4> in(env, info);                                                                                \
    const at::Tensor& a = in.t(0);                                                                      \
    return run(sig, in, plain(a), [&] {                                                                 \
      c10::optional<std::vector<int64_t>> dims;                                                         \
      if (in.given(1)) dims = in.ints(1);                                                               \
      at::OptionalIntArrayRef dimRef;                                                                   \
      if (dims) dimRef = *dims;                                                                         \
      return out(env, at::fn(a, dimRef, in.b(2, false), in.optDtype(3)));                               \
    });                                                                                                 \
  }
FAST_REDUCE(sum, "aten::sum", "dim_IntList")
FAST_REDUCE(mean, "aten::mean", "dim")

}  // namespace

void initFastMath(napi_env env, napi_value exports) {
  struct Def {
    const char* name;
    napi_callback cb;
  };
  static const Def defs[] = {
      {"fastAdd", entry<addT>},         {"fastAddScalar", entry<addS>},   {"fastSub", entry<subT>},
      {"fastSubScalar", entry<subS>},   {"fastMul", entry<mulT>},         {"fastMulScalar", entry<mulS>},
      {"fastDiv", entry<divT>},         {"fastDivScalar", entry<divS>},   {"fastAdd_", entry<add_T>},
      {"fastAddScalar_", entry<add_S>}, {"fastSub_", entry<sub_T>},       {"fastSubScalar_", entry<sub_S>},
      {"fastMul_", entry<mul_T>},       {"fastMulScalar_", entry<mul_S>}, {"fastDiv_", entry<div_T>},
      {"fastDivScalar_", entry<div_S>}, {"fastRelu", entry<relu>},        {"fastSigmoid", entry<sigmoid>},
      {"fastTanh", entry<tanh>},        {"fastNeg", entry<neg>},          {"fastExp", entry<exp>},
      {"fastLog", entry<log>},          {"fastSqrt", entry<sqrt>},        {"fastRsqrt", entry<rsqrt>},
      {"fastAbs", entry<abs>},          {"fastDetach", entry<detach>},    {"fastRelu_", entry<relu_>},
      {"fastZero_", entry<zero_>},      {"fastMatmul", entry<matmul>},    {"fastMm", entry<mm>},
      {"fastBmm", entry<bmm>},          {"fastCopy_", entry<copy_>},      {"fastFill_", entry<fill_>},
      {"fastAddmm", entry<addmm>},      {"fastLinear", entry<linear>},    {"fastAddcmul_", entry<addcmul_>},
      {"fastAddcdiv_", entry<addcdiv_>}, {"fastLerp_", entry<lerp_>},     {"fastSum", entry<sum>},
      {"fastSumDim", entry<sumDim>},    {"fastMean", entry<mean>},        {"fastMeanDim", entry<meanDim>},
  };
  for (const Def& d : defs) defineFn(env, exports, d.name, d.cb);
}

}  // namespace fast
}  // namespace graft
