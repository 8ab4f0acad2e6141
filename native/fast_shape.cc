// Fast paths (see fast.h) for views and indexing, and the layers a training step runs.
#include "fast.h"

namespace graft {
namespace fast {
namespace {

// (Tensor self, <one argument read by GET>)
#define FAST_SELF1(fn, NAME, ARGS, EXPR)                              \
  napi_value fn(napi_env env, napi_callback_info info) {              \
    static const Sig sig{NAME, ARGS};                                 \
    In<5> in(env, info);                                              \
    const at::Tensor& a = in.t(0);                                    \
    return run(sig, in, plain(a), [&] { return out(env, EXPR); });    \
  }

FAST_SELF1(view, "aten::view", "Tensor self, int[] size", a.view(in.ints(1)))
FAST_SELF1(reshape, "aten::reshape", "Tensor self, int[] shape", at::reshape(a, in.ints(1)))
FAST_SELF1(permute, "aten::permute", "Tensor self, int[] dims", at::permute(a, in.ints(1)))
FAST_SELF1(expand, "aten::expand", "Tensor self, int[] size, bool implicit", a.expand(in.ints(1), in.b(2, false)))
FAST_SELF1(transpose, "aten::transpose.int", "Tensor self, int dim0, int dim1", at::transpose(a, in.i64(1), in.i64(2)))
FAST_SELF1(flatten, "aten::flatten.using_ints", "Tensor self, int start_dim, int end_dim",
           at::flatten(a, in.i64(1, 0), in.i64(2, -1)))
FAST_SELF1(unsqueeze, "aten::unsqueeze", "Tensor self, int dim", at::unsqueeze(a, in.i64(1)))
FAST_SELF1(squeeze, "aten::squeeze", "Tensor self", at::squeeze(a))
FAST_SELF1(squeezeDim, "aten::squeeze.dim", "Tensor self, int dim", at::squeeze(a, in.i64(1)))
FAST_SELF1(select, "aten::select.int", "Tensor self, int dim, int index", at::select(a, in.i64(1), in.i64(2)))
FAST_SELF1(narrow, "aten::narrow", "Tensor self, int dim, int start, int length",
           at::narrow(a, in.i64(1), in.i64(2), in.i64(3)))
FAST_SELF1(slice, "aten::slice.Tensor", "Tensor self, int dim, int? start, int? end, int step",
           at::slice(a, in.i64(1, 0), in.optI64(2), in.optI64(3), in.i64(4, 1)))
FAST_SELF1(clone, "aten::clone", "Tensor self, MemoryFormat? memory_format",
           at::clone(a, in.given(1) ? c10::optional<at::MemoryFormat>(static_cast<at::MemoryFormat>(in.i64(1)))
                                    : c10::nullopt))
FAST_SELF1(softmax, "aten::softmax.int", "Tensor self, int dim, ScalarType? dtype",
           at::softmax(a, in.i64(1), in.optDtype(2)))
FAST_SELF1(logSoftmax, "aten::log_softmax.int", "Tensor self, int dim, ScalarType? dtype",
           at::log_softmax(a, in.i64(1), in.optDtype(2)))
FAST_SELF1(adaptiveAvgPool2d, "aten::adaptive_avg_pool2d", "Tensor self, int[2] output_size",
           at::adaptive_avg_pool2d(a, in.ints(1)))
FAST_SELF1(dropout, "aten::dropout", "Tensor input, float p, bool train",
           at::dropout(a, in.f64(1), in.b(2, false)))

// (Tensor self, int dim, Tensor index)
#define FAST_INDEX(fn, NAME, ARGS, EXPR)                                   \
  napi_value fn(napi_env env, napi_callback_info info) {                   \
    static const Sig sig{NAME, ARGS};                                      \
    In<4> in(env, info);                                                   \
    const at::Tensor& a = in.t(0);                                         \
    const at::Tensor& index = in.t(2);                                     \
    return run(sig, in, allPlain(a, index), [&] { return out(env, EXPR); }); \
  }
FAST_INDEX(indexSelect, "aten::index_select", "Tensor self, int dim, Tensor index",
           at::index_select(a, in.i64(1), index))
FAST_INDEX(gather, "aten::gather", "Tensor self, int dim, Tensor index, bool sparse_grad",
           at::gather(a, in.i64(1), index, in.b(3, false)))

napi_value maxPool2d(napi_env env, napi_callback_info info) {
  static const Sig sig{"aten::max_pool2d",
                       "Tensor self, int[2] kernel_size, int[2] stride, int[2] padding, int[2] dilation, bool ceil_mode"};
  In<6> in(env, info);
  const at::Tensor& a = in.t(0);
  return run(sig, in, plain(a), [&] {
    std::vector<int64_t> stride;
    if (in.given(2)) stride = in.ints(2);
    return out(env, at::max_pool2d(a, in.ints(1), stride, in.given(3) ? in.ints(3) : std::vector<int64_t>{0},
                                   in.given(4) ? in.ints(4) : std::vector<int64_t>{1}, in.b(5, false)));
  });
}

napi_value conv2d(napi_env env, napi_callback_info info) {
  static const Sig sig{"aten::conv2d",
                       "Tensor input, Tensor weight, Tensor? bias, int[2] stride, int[2] padding, int[2] dilation, int groups"};
  In<7> in(env, info);
  const at::Tensor& x = in.t(0);
  const at::Tensor& w = in.t(1);
  auto bias = in.optT(2);
  return run(sig, in, allPlain(x, w, bias), [&] {
    auto ints = [&](size_t i, int64_t dflt) { return in.given(i) ? in.ints(i) : std::vector<int64_t>{dflt}; };
    return out(env, at::conv2d(x, w, bias, ints(3, 1), ints(4, 0), ints(5, 1), in.i64(6, 1)));
  });
}

napi_value batchNorm(napi_env env, napi_callback_info info) {
  static const Sig sig{"aten::batch_norm",
                       "Tensor input, Tensor? weight, Tensor? bias, Tensor? running_mean, Tensor? running_var, "
                       "bool training, float momentum, float eps, bool cudnn_enabled"};
  In<9> in(env, info);
  const at::Tensor& x = in.t(0);
  auto w = in.optT(1), b = in.optT(2), mean = in.optT(3), var = in.optT(4);
  return run(sig, in, allPlain(x, w, b, mean, var), [&] {
    return out(env, at::batch_norm(x, w, b, mean, var, in.b(5, false), in.f64(6), in.f64(7), in.b(8, false)));
  });
}

napi_value crossEntropy(napi_env env, napi_callback_info info) {
  static const Sig sig{"aten::cross_entropy_loss",
                       "Tensor self, Tensor target, Tensor? weight, int reduction, int ignore_index, float label_smoothing"};
  In<6> in(env, info);
  const at::Tensor& x = in.t(0);
  const at::Tensor& target = in.t(1);
  auto weight = in.optT(2);
  return run(sig, in, allPlain(x, target, weight), [&] {
    return out(env, at::cross_entropy_loss(x, target, weight, in.i64(3, at::Reduction::Mean), in.i64(4, -100),
                                           in.f64(5, 0.0)));
  });
}

}  // namespace

void initFastShape(napi_env env, napi_value exports) {
  struct Def {
    const char* name;
    napi_callback cb;
  };
  static const Def defs[] = {
      {"fastView", entry<view>},
      {"fastReshape", entry<reshape>},
      {"fastPermute", entry<permute>},
      {"fastExpand", entry<expand>},
      {"fastTranspose", entry<transpose>},
      {"fastFlatten", entry<flatten>},
      {"fastUnsqueeze", entry<unsqueeze>},
      {"fastSqueeze", entry<squeeze>},
      {"fastSqueezeDim", entry<squeezeDim>},
      {"fastSelect", entry<select>},
      {"fastNarrow", entry<narrow>},
      {"fastSlice", entry<slice>},
      {"fastClone", entry<clone>},
      {"fastSoftmax", entry<softmax>},
      {"fastLogSoftmax", entry<logSoftmax>},
      {"fastAdaptiveAvgPool2d", entry<adaptiveAvgPool2d>},
      {"fastDropout", entry<dropout>},
      {"fastIndexSelect", entry<indexSelect>},
      {"fastGather", entry<gather>},
      {"fastMaxPool2d", entry<maxPool2d>},
      {"fastConv2d", entry<conv2d>},
      {"fastBatchNorm", entry<batchNorm>},
      {"fastCrossEntropy", entry<crossEntropy>},
  };
  for (const Def& d : defs) defineFn(env, exports, d.name, d.cb);
}

}  // namespace fast
}  // namespace graft
