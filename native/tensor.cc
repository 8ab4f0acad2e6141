// Tensor handles: data in and out of JS, metadata, autograd, disposal.
#include <torch/csrc/autograd/autograd.h>
#include <torch/csrc/autograd/function.h>
#include <torch/csrc/autograd/variable.h>

#include <cstring>

#include "graft.h"

namespace graft {

static void bytesOfValue(napi_env env, napi_value v, void** data, size_t* length) {
  bool is = false;
  napi_is_typedarray(env, v, &is);
  if (is) {
    napi_typedarray_type type;
    size_t n, offset;
    napi_value ab;
    NAPI_OK(napi_get_typedarray_info(env, v, &type, &n, data, &ab, &offset));
    size_t elem = 1;
    switch (type) {
      case napi_int16_array: case napi_uint16_array: elem = 2; break;
      case napi_int32_array: case napi_uint32_array: case napi_float32_array: elem = 4; break;
      case napi_float64_array: case napi_bigint64_array: case napi_biguint64_array: elem = 8; break;
      default: elem = 1;
    }
    *length = n * elem;
    return;
  }
  napi_is_arraybuffer(env, v, &is);
  if (is) {
    NAPI_OK(napi_get_arraybuffer_info(env, v, data, length));
    return;
  }
  throw JsError{"GRAFT_TYPE", "expected a TypedArray, Buffer or ArrayBuffer"};
}

// fromBuffer(bytes, shape, dtype): copies the bytes into a new CPU tensor.
static napi_value fromBuffer(napi_env env, napi_callback_info info) {
  auto a = args(env, info, 3);
  if (a.size() < 3) throw JsError{"GRAFT_ARGS", "fromBuffer(bytes, shape, dtype)"};
  void* data = nullptr;
  size_t length = 0;
  bytesOfValue(env, a[0], &data, &length);
  auto shape = intListOf(env, a[1]);
  auto dtype = static_cast<at::ScalarType>(intOf(env, a[2]));
  at::Tensor t = at::empty(shape, at::TensorOptions().dtype(dtype));
  size_t need = t.numel() * t.element_size();
  if (need != length)
    throw JsError{"GRAFT_SHAPE", "fromBuffer: shape needs " + std::to_string(need) + " bytes, got " + std::to_string(length)};
  if (need) std::memcpy(t.data_ptr(), data, need);
  return wrap(env, t);
}

// toBuffer(t): a copy of the (contiguous, CPU) bytes as an ArrayBuffer.
static napi_value toBuffer(napi_env env, napi_callback_info info) {
  auto a = args(env, info, 1);
  at::Tensor t = tensorOf(env, a.at(0)).detach().to(at::kCPU).contiguous();
  size_t n = t.numel() * t.element_size();
  void* out = nullptr;
  napi_value ab;
  NAPI_OK(napi_create_arraybuffer(env, n, &out, &ab));
  if (n) std::memcpy(out, t.data_ptr(), n);
  return ab;
}

static napi_value shape(napi_env env, napi_callback_info info) {
  auto a = args(env, info, 1);
  auto sizes = tensorOf(env, a.at(0)).sizes();
  napi_value arr;
  NAPI_OK(napi_create_array_with_length(env, sizes.size(), &arr));
  for (size_t i = 0; i < sizes.size(); i++) NAPI_OK(napi_set_element(env, arr, i, jsNumber(env, sizes[i])));
  return arr;
}

static napi_value strides(napi_env env, napi_callback_info info) {
  auto a = args(env, info, 1);
  auto st = tensorOf(env, a.at(0)).strides();
  napi_value arr;
  NAPI_OK(napi_create_array_with_length(env, st.size(), &arr));
  for (size_t i = 0; i < st.size(); i++) NAPI_OK(napi_set_element(env, arr, i, jsNumber(env, st[i])));
  return arr;
}

static napi_value dtype(napi_env env, napi_callback_info info) {
  auto a = args(env, info, 1);
  return jsNumber(env, static_cast<int>(tensorOf(env, a.at(0)).scalar_type()));
}

static napi_value device(napi_env env, napi_callback_info info) {
  auto a = args(env, info, 1);
  return jsString(env, tensorOf(env, a.at(0)).device().str());
}

static napi_value item(napi_env env, napi_callback_info info) {
  auto a = args(env, info, 1);
  at::Tensor& t = tensorOf(env, a.at(0));
  if (t.numel() != 1)
    throw JsError{"GRAFT_SHAPE", "item(): a tensor with " + std::to_string(t.numel()) + " elements cannot be converted to a number"};
  c10::Scalar s = t.item();
  if (s.isBoolean()) return jsBool(env, s.toBool());
  return jsNumber(env, s.toDouble());
}

static napi_value dispose(napi_env env, napi_callback_info info) {
  auto a = args(env, info, 1);
  release(env, a.at(0));
  return undefinedValue(env);
}

// disposeMany(handles[]): one call for a whole tidy() scope
static napi_value disposeMany(napi_env env, napi_callback_info info) {
  auto a = args(env, info, 1);
  uint32_t n = 0;
  NAPI_OK(napi_get_array_length(env, a.at(0), &n));
  for (uint32_t i = 0; i < n; i++) {
    napi_value e;
    NAPI_OK(napi_get_element(env, a[0], i, &e));
    release(env, e);
  }
  return undefinedValue(env);
}

// setExternalReporting(on): whether new handles count as V8 external memory (off inside tidy()).
static napi_value setExternalReporting(napi_env env, napi_callback_info info) {
  auto a = args(env, info, 1);
  envState(env).report = boolOf(env, a.at(0));
  return undefinedValue(env);
}

// reportExternal(h): a tensor made inside a scope now lives on, freed by GC: report its bytes.
static napi_value reportExternal(napi_env env, napi_callback_info info) {
  auto a = args(env, info, 1);
  if (Slot* slot = slotOf(env, a.at(0))) reportBytes(env, *slot);
  return undefinedValue(env);
}

static napi_value liveTensors(napi_env env, napi_callback_info) {
  return jsNumber(env, static_cast<double>(envState(env).live));
}

static napi_value isDisposed(napi_env env, napi_callback_info info) {
  auto a = args(env, info, 1);
  return jsBool(env, slotOf(env, a.at(0)) == nullptr);
}

static napi_value sameTensor(napi_env env, napi_callback_info info) {
  auto a = args(env, info, 2);
  return jsBool(env, tensorOf(env, a.at(0)).is_same(tensorOf(env, a.at(1))));
}

static napi_value dataPtr(napi_env env, napi_callback_info info) {
  auto a = args(env, info, 1);
  auto& t = tensorOf(env, a.at(0));
  return jsNumber(env, static_cast<double>(reinterpret_cast<uintptr_t>(t.data_ptr())));
}

// ---- autograd ----

static napi_value requiresGrad(napi_env env, napi_callback_info info) {
  auto a = args(env, info, 1);
  return jsBool(env, tensorOf(env, a.at(0)).requires_grad());
}

static napi_value setRequiresGrad(napi_env env, napi_callback_info info) {
  auto a = args(env, info, 2);
  tensorOf(env, a.at(0)).set_requires_grad(boolOf(env, a.at(1)));
  return undefinedValue(env);
}

static napi_value grad(napi_env env, napi_callback_info info) {
  auto a = args(env, info, 1);
  const at::Tensor& g = tensorOf(env, a.at(0)).grad();
  return g.defined() ? wrap(env, g) : undefinedValue(env);
}

static napi_value setGrad(napi_env env, napi_callback_info info) {
  auto a = args(env, info, 2);
  at::Tensor& t = tensorOf(env, a.at(0));
  if (a.size() < 2 || isNullish(env, a[1])) t.mutable_grad() = at::Tensor();
  else t.mutable_grad() = tensorOf(env, a[1]);
  return undefinedValue(env);
}

static napi_value isLeaf(napi_env env, napi_callback_info info) {
  auto a = args(env, info, 1);
  return jsBool(env, tensorOf(env, a.at(0)).is_leaf());
}

static napi_value gradFnName(napi_env env, napi_callback_info info) {
  auto a = args(env, info, 1);
  auto fn = torch::autograd::impl::grad_fn_unsafe(tensorOf(env, a.at(0)));
  return fn ? jsString(env, fn->name()) : undefinedValue(env);
}

static napi_value retainGrad(napi_env env, napi_callback_info info) {
  auto a = args(env, info, 1);
  tensorOf(env, a.at(0)).retain_grad();
  return undefinedValue(env);
}

static std::vector<at::Tensor> tensorList(napi_env env, napi_value v, bool allowHoles) {
  std::vector<at::Tensor> out;
  if (isNullish(env, v)) return out;
  uint32_t n = 0;
  NAPI_OK(napi_get_array_length(env, v, &n));
  for (uint32_t i = 0; i < n; i++) {
    napi_value e;
    NAPI_OK(napi_get_element(env, v, i, &e));
    if (allowHoles && isNullish(env, e)) out.emplace_back();
    else out.push_back(tensorOf(env, e));
  }
  return out;
}

// backward(outputs[], grads[]|undefined, retainGraph, createGraph, inputs[]|undefined)
static napi_value backward(napi_env env, napi_callback_info info) {
  auto a = args(env, info, 5);
  a.resize(5, undefinedValue(env));
  auto outputs = tensorList(env, a[0], false);
  auto grads = tensorList(env, a[1], true);
  c10::optional<bool> retain;
  if (!isNullish(env, a[2])) retain = boolOf(env, a[2]);
  bool create = isNullish(env, a[3]) ? false : boolOf(env, a[3]);
  auto inputs = tensorList(env, a[4], false);
  torch::autograd::backward(outputs, grads, retain, create, inputs);
  return undefinedValue(env);
}

// grad(outputs[], inputs[], gradOutputs[]|undefined, retainGraph, createGraph, allowUnused)
static napi_value autogradGrad(napi_env env, napi_callback_info info) {
  auto a = args(env, info, 6);
  a.resize(6, undefinedValue(env));
  auto outputs = tensorList(env, a[0], false);
  auto inputs = tensorList(env, a[1], false);
  auto gradOutputs = tensorList(env, a[2], true);
  c10::optional<bool> retain;
  if (!isNullish(env, a[3])) retain = boolOf(env, a[3]);
  bool create = isNullish(env, a[4]) ? false : boolOf(env, a[4]);
  bool allowUnused = isNullish(env, a[5]) ? false : boolOf(env, a[5]);
  auto res = torch::autograd::grad(outputs, inputs, gradOutputs, retain, create, allowUnused);
  napi_value arr;
  NAPI_OK(napi_create_array_with_length(env, res.size(), &arr));
  for (size_t i = 0; i < res.size(); i++)
    NAPI_OK(napi_set_element(env, arr, i, res[i].defined() ? wrap(env, res[i]) : undefinedValue(env)));
  return arr;
}

void initTensor(napi_env env, napi_value exports) {
  defineFn(env, exports, "fromBuffer", entry<fromBuffer>);
  defineFn(env, exports, "toBuffer", entry<toBuffer>);
  defineFn(env, exports, "shape", entry<shape>);
  defineFn(env, exports, "strides", entry<strides>);
  defineFn(env, exports, "dtype", entry<dtype>);
  defineFn(env, exports, "device", entry<device>);
  defineFn(env, exports, "item", entry<item>);
  defineFn(env, exports, "dispose", entry<dispose>);
  defineFn(env, exports, "isDisposed", entry<isDisposed>);
  defineFn(env, exports, "liveTensors", entry<liveTensors>);
  defineFn(env, exports, "setExternalReporting", entry<setExternalReporting>);
  defineFn(env, exports, "reportExternal", entry<reportExternal>);
  defineFn(env, exports, "disposeMany", entry<disposeMany>);
  defineFn(env, exports, "sameTensor", entry<sameTensor>);
  defineFn(env, exports, "dataPtr", entry<dataPtr>);
  defineFn(env, exports, "requiresGrad", entry<requiresGrad>);
  defineFn(env, exports, "setRequiresGrad", entry<setRequiresGrad>);
  defineFn(env, exports, "grad", entry<grad>);
  defineFn(env, exports, "setGrad", entry<setGrad>);
  defineFn(env, exports, "isLeaf", entry<isLeaf>);
  defineFn(env, exports, "gradFnName", entry<gradFnName>);
  defineFn(env, exports, "retainGrad", entry<retainGrad>);
  defineFn(env, exports, "backward", entry<backward>);
  defineFn(env, exports, "autogradGrad", entry<autogradGrad>);
}

}  // namespace graft
