// Quantized kernels (fbgemm / qnnpack / onednn, whichever this libtorch has) through the
// dispatcher. The generic op bridge (ops.cc) carries tensors and plain values only; the
// quantized ops' prepacked weights are custom-class objects (LinearPackedParamsBase,
// Conv2dPackedParamsBase), so this file keeps them in a table of IValues and hands JS a
// number per packed weight: quantCall converts a number at a custom-class argument to the
// packed object, and a custom-class result to a new number.
#include <ATen/core/dispatch/Dispatcher.h>
#include <ATen/core/function_schema.h>
#include <ATen/Context.h>

#include <string>
#include <vector>

#include "graft.h"

namespace graft {

struct PackTable {
  std::vector<c10::IValue> items;
  std::vector<uint32_t> freeSlots;
  size_t live = 0;
};

static PackTable& packs() {
  static thread_local PackTable* table = nullptr;  // one JS env per thread in Node
  if (!table) table = new PackTable();
  return *table;
}

static double storePack(c10::IValue v) {
  PackTable& t = packs();
  uint32_t i;
  if (!t.freeSlots.empty()) {
    i = t.freeSlots.back();
    t.freeSlots.pop_back();
    t.items[i] = std::move(v);
  } else {
    i = static_cast<uint32_t>(t.items.size());
    t.items.push_back(std::move(v));
  }
  t.live++;
  return static_cast<double>(i);
}

static const c10::IValue& packOf(napi_env env, napi_value v) {
  PackTable& t = packs();
  int64_t i = intOf(env, v);
  if (i < 0 || static_cast<size_t>(i) >= t.items.size() || t.items[i].isNone())
    throw JsError{"GRAFT_DISPOSED", "packed quantized weight " + std::to_string(i) + " was freed"};
  return t.items[i];
}

struct QuantOp {
  c10::OperatorHandle handle;
  std::string name;
};

static std::vector<QuantOp>& quantOps() {
  static thread_local std::vector<QuantOp>* ops = nullptr;
  if (!ops) ops = new std::vector<QuantOp>();
  return *ops;
}

// quantFind(name, overload) -> id: looks a quantized:: (or any) op up once
static napi_value quantFind(napi_env env, napi_callback_info info) {
  auto a = args(env, info, 2);
  std::string name = stringOf(env, a.at(0));
  std::string overload = a.size() > 1 ? stringOf(env, a[1]) : "";
  auto handle = c10::Dispatcher::singleton().findSchema({name, overload});
  if (!handle)
    throw JsError{"GRAFT_NO_OP", "no op " + name + (overload.empty() ? "" : "." + overload) +
                                     " in this libtorch (built without quantized kernels?)"};
  quantOps().push_back({*handle, name + (overload.empty() ? "" : "." + overload)});
  return jsNumber(env, static_cast<double>(quantOps().size() - 1));
}

static c10::IValue argOf(napi_env env, const c10::Argument& arg, napi_value v, bool given) {
  c10::TypePtr t = arg.type();
  bool optional = false;
  if (auto o = t->cast<c10::OptionalType>()) {
    optional = true;
    t = o->getElementType();
  }
  if (!given || isNullish(env, v)) {
    if (arg.default_value()) return *arg.default_value();
    if (optional) return c10::IValue();
    throw JsError{"GRAFT_ARGS", "missing argument '" + arg.name() + "'"};
  }
  switch (t->kind()) {
    case c10::TypeKind::TensorType: return tensorOf(env, v);
    case c10::TypeKind::IntType:
    case c10::TypeKind::SymIntType: return intOf(env, v);
    case c10::TypeKind::FloatType: return numberOf(env, v);
    case c10::TypeKind::BoolType: return boolOf(env, v);
    case c10::TypeKind::ScalarTypeType: return intOf(env, v);
    case c10::TypeKind::ListType: return intListOf(env, v);
    case c10::TypeKind::ClassType: return packOf(env, v);
    default: throw JsError{"GRAFT_TYPE", "argument '" + arg.name() + "' has a type graft cannot pass"};
  }
}

static napi_value resultOf(napi_env env, const c10::IValue& v) {
  if (v.isTensor()) return v.toTensor().defined() ? wrap(env, v.toTensor()) : undefinedValue(env);
  if (v.isNone()) return undefinedValue(env);
  if (v.isDouble()) return jsNumber(env, v.toDouble());
  if (v.isInt()) return jsNumber(env, static_cast<double>(v.toInt()));
  if (v.isBool()) return jsBool(env, v.toBool());
  if (v.isObject()) {
    napi_value o;
    NAPI_OK(napi_create_object(env, &o));
    NAPI_OK(napi_set_named_property(env, o, "pack", jsNumber(env, storePack(v))));
    return o;
  }
  if (v.isTuple()) {
    const auto& elems = v.toTupleRef().elements();
    napi_value arr;
    NAPI_OK(napi_create_array_with_length(env, elems.size(), &arr));
    for (size_t i = 0; i < elems.size(); i++) NAPI_OK(napi_set_element(env, arr, i, resultOf(env, elems[i])));
    return arr;
  }
  throw JsError{"GRAFT_TYPE", "quantized op returned a value graft cannot convert: " + v.tagKind()};
}

// quantCall(id, ...args): args in schema order; a packed weight is passed as its number.
// One result comes back as itself, several as an array; a packed result as { pack }.
static napi_value quantCall(napi_env env, napi_callback_info info) {
  napi_value argv[16];
  size_t argc = 16;
  NAPI_OK(napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr));
  if (argc < 1) throw JsError{"GRAFT_ARGS", "quantCall needs an op id"};
  int64_t id = intOf(env, argv[0]);
  if (id < 0 || static_cast<size_t>(id) >= quantOps().size()) throw JsError{"GRAFT_NO_OP", "bad quantized op id"};
  const QuantOp& op = quantOps()[id];
  const auto& schema = op.handle.schema();
  const auto& formal = schema.arguments();
  if (argc - 1 > formal.size())
    throw JsError{"GRAFT_ARGS", op.name + ": " + std::to_string(argc - 1) + " arguments given, schema has " +
                                    std::to_string(formal.size())};
  torch::jit::Stack stack;
  try {
    for (size_t i = 0; i < formal.size(); i++) {
      try {
        stack.push_back(argOf(env, formal[i], i + 1 < argc ? argv[i + 1] : nullptr, i + 1 < argc));
      } catch (const JsError& e) {
        throw JsError{e.code, op.name + ": " + e.message};
      }
    }
    op.handle.callBoxed(&stack);
  } catch (const c10::Error& e) {
    throw JsError{"GRAFT_TORCH", op.name + ": " + e.what_without_backtrace()};
  } catch (const JsError&) {
    throw;
  } catch (const std::exception& e) {
    throw JsError{"GRAFT_TORCH", op.name + ": " + e.what()};
  }
  if (stack.empty()) return undefinedValue(env);
  if (stack.size() == 1) return resultOf(env, stack[0]);
  napi_value arr;
  NAPI_OK(napi_create_array_with_length(env, stack.size(), &arr));
  for (size_t i = 0; i < stack.size(); i++) NAPI_OK(napi_set_element(env, arr, i, resultOf(env, stack[i])));
  return arr;
}

static napi_value quantFree(napi_env env, napi_callback_info info) {
  auto a = args(env, info, 1);
  PackTable& t = packs();
  int64_t i = intOf(env, a.at(0));
  if (i >= 0 && static_cast<size_t>(i) < t.items.size() && !t.items[i].isNone()) {
    t.items[i] = c10::IValue();
    t.freeSlots.push_back(static_cast<uint32_t>(i));
    t.live--;
  }
  return undefinedValue(env);
}

static napi_value quantLive(napi_env env, napi_callback_info) {
  return jsNumber(env, static_cast<double>(packs().live));
}

// the engines this libtorch was built with, and the one in use ("fbgemm", "qnnpack", "onednn", ...)
static const char* engineName(at::QEngine e) {
  switch (e) {
    case at::QEngine::FBGEMM: return "fbgemm";
    case at::QEngine::QNNPACK: return "qnnpack";
    case at::QEngine::ONEDNN: return "onednn";
    default: return "none";
  }
}

static napi_value quantEngines(napi_env env, napi_callback_info) {
  const auto& engines = at::globalContext().supportedQEngines();
  napi_value arr;
  NAPI_OK(napi_create_array_with_length(env, engines.size() + 1, &arr));
  NAPI_OK(napi_set_element(env, arr, 0, jsString(env, engineName(at::globalContext().qEngine()))));
  for (size_t i = 0; i < engines.size(); i++) NAPI_OK(napi_set_element(env, arr, i + 1, jsString(env, engineName(engines[i]))));
  return arr;
}

static napi_value quantSetEngine(napi_env env, napi_callback_info info) {
  auto a = args(env, info, 1);
  std::string name = stringOf(env, a.at(0));
  for (auto e : at::globalContext().supportedQEngines())
    if (name == engineName(e)) {
      at::globalContext().setQEngine(e);
      return undefinedValue(env);
    }
  throw JsError{"GRAFT_ARGS", "quantized engine '" + name + "' is not in this libtorch"};
}

void initQuant(napi_env env, napi_value exports) {
  defineFn(env, exports, "quantFind", entry<quantFind>);
  defineFn(env, exports, "quantCall", entry<quantCall>);
  defineFn(env, exports, "quantFree", entry<quantFree>);
  defineFn(env, exports, "quantLive", entry<quantLive>);
  defineFn(env, exports, "quantEngines", entry<quantEngines>);
  defineFn(env, exports, "quantSetEngine", entry<quantSetEngine>);
}

}  // namespace graft
