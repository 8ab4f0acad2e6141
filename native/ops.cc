// Every ATen op through libtorch's boxed dispatcher: find an op once by name and
// overload, then call it with JS values converted by the op's schema. Autograd and
// autocast apply because the call goes through the dispatcher like Python's does.
#include <ATen/core/dispatch/Dispatcher.h>
#include <ATen/core/function_schema.h>

#include <cmath>
#include <sstream>

#include "graft.h"

namespace graft {

enum class Kind {
  Tensor, TensorList, OptTensorList, Int, IntList, Float, FloatList, Bool, BoolList, ScalarList,
  Scalar, ScalarType, Layout, Device, MemoryFormat, String, Generator, Unsupported
};

struct ArgSpec {
  Kind kind;
  bool optional;
  std::string name;
  c10::optional<c10::IValue> defaultValue;
};

struct OpEntry {
  c10::OperatorHandle handle;
  std::string name;
  std::vector<ArgSpec> args;
  bool returnsSelfInplace;  // `Tensor(a!)` returned for argument 0: JS keeps `this`
};

// per env: worker threads that load the addon get their own table
struct OpTable {
  std::vector<OpEntry> ops;
};

static std::vector<OpEntry>& opsOf(napi_env env) {
  static thread_local OpTable* table = nullptr;
  if (!table) table = new OpTable();  // one JS env per thread in Node
  (void)env;
  return table->ops;
}

static Kind kindOf(const c10::TypePtr& raw, bool& optional) {
  c10::TypePtr t = raw;
  optional = false;
  if (auto o = t->cast<c10::OptionalType>()) {
    optional = true;
    t = o->getElementType();
  }
  switch (t->kind()) {
    case c10::TypeKind::TensorType: return Kind::Tensor;
    case c10::TypeKind::IntType: return Kind::Int;
    case c10::TypeKind::SymIntType: return Kind::Int;
    case c10::TypeKind::FloatType: return Kind::Float;
    case c10::TypeKind::BoolType: return Kind::Bool;
    case c10::TypeKind::NumberType: return Kind::Scalar;
    case c10::TypeKind::ScalarTypeType: return Kind::ScalarType;
    case c10::TypeKind::LayoutType: return Kind::Layout;
    case c10::TypeKind::DeviceObjType: return Kind::Device;
    case c10::TypeKind::MemoryFormatType: return Kind::MemoryFormat;
    case c10::TypeKind::StringType: return Kind::String;
    case c10::TypeKind::GeneratorType: return Kind::Generator;
    case c10::TypeKind::ListType: {
      auto elem = t->castRaw<c10::ListType>()->getElementType();
      if (elem->kind() == c10::TypeKind::TensorType) return Kind::TensorList;
      if (auto eo = elem->cast<c10::OptionalType>())
        if (eo->getElementType()->kind() == c10::TypeKind::TensorType) return Kind::OptTensorList;
      if (elem->kind() == c10::TypeKind::IntType || elem->kind() == c10::TypeKind::SymIntType)
        return Kind::IntList;
      if (elem->kind() == c10::TypeKind::FloatType) return Kind::FloatList;
      if (elem->kind() == c10::TypeKind::BoolType) return Kind::BoolList;
      if (elem->kind() == c10::TypeKind::NumberType) return Kind::ScalarList;
      return Kind::Unsupported;
    }
    default: return Kind::Unsupported;
  }
}

static napi_value opFind(napi_env env, napi_callback_info info) {
  auto a = args(env, info, 2);
  std::string name = stringOf(env, a.at(0));
  std::string overload = a.size() > 1 ? stringOf(env, a[1]) : "";
  auto handle = c10::Dispatcher::singleton().findSchema({name, overload});
  if (!handle) throw JsError{"GRAFT_NO_OP", "no ATen op " + name + (overload.empty() ? "" : "." + overload) + " in this libtorch"};
  const auto& schema = handle->schema();
  OpEntry entry{*handle, name + (overload.empty() ? "" : "." + overload), {}, false};
  for (const auto& arg : schema.arguments()) {
    ArgSpec spec;
    spec.kind = kindOf(arg.type(), spec.optional);
    spec.name = arg.name();
    if (arg.default_value()) spec.defaultValue = *arg.default_value();
    entry.args.push_back(spec);
  }
  const auto& rets = schema.returns();
  if (rets.size() == 1 && rets[0].alias_info() && rets[0].alias_info()->isWrite() &&
      !schema.arguments().empty() && schema.arguments()[0].alias_info() &&
      schema.arguments()[0].alias_info()->isWrite() && schema.arguments()[0].kwarg_only() == false)
    entry.returnsSelfInplace = true;
  opsOf(env).push_back(std::move(entry));
  // [id, inplaceSelf, tensorArgs]: which positions take a Tensor (1), a Tensor list (2) or other (0)
  const OpEntry& added = opsOf(env).back();
  napi_value kinds;
  NAPI_OK(napi_create_array_with_length(env, added.args.size(), &kinds));
  for (size_t i = 0; i < added.args.size(); i++) {
    Kind k = added.args[i].kind;
    int code = k == Kind::Tensor ? 1 : (k == Kind::TensorList || k == Kind::OptTensorList) ? 2 : 0;
    NAPI_OK(napi_set_element(env, kinds, i, jsNumber(env, code)));
  }
  napi_value arr;
  NAPI_OK(napi_create_array_with_length(env, 3, &arr));
  NAPI_OK(napi_set_element(env, arr, 0, jsNumber(env, static_cast<double>(opsOf(env).size() - 1))));
  NAPI_OK(napi_set_element(env, arr, 1, jsBool(env, added.returnsSelfInplace)));
  NAPI_OK(napi_set_element(env, arr, 2, kinds));
  return arr;
}

static std::vector<napi_value> arrayItems(napi_env env, napi_value v) {
  bool isArray = false;
  napi_is_array(env, v, &isArray);
  if (!isArray) throw JsError{"GRAFT_TYPE", "expected an array"};
  uint32_t n = 0;
  NAPI_OK(napi_get_array_length(env, v, &n));
  std::vector<napi_value> out(n);
  for (uint32_t i = 0; i < n; i++) NAPI_OK(napi_get_element(env, v, i, &out[i]));
  return out;
}

static c10::IValue toIValue(napi_env env, const ArgSpec& spec, napi_value v) {
  switch (spec.kind) {
    case Kind::Tensor: return tensorOf(env, v);
    case Kind::Int: return intOf(env, v);
    case Kind::Float: return numberOf(env, v);
    case Kind::Bool: return boolOf(env, v);
    case Kind::Scalar: return scalarOf(env, v);
    case Kind::IntList: return intListOf(env, v);
    case Kind::ScalarType: return intOf(env, v);
    case Kind::Layout: return intOf(env, v);
    case Kind::MemoryFormat: return intOf(env, v);
    case Kind::Device: return c10::Device(stringOf(env, v));
    case Kind::String: return stringOf(env, v);
    case Kind::TensorList: {
      std::vector<at::Tensor> ts;
      for (auto e : arrayItems(env, v)) ts.push_back(tensorOf(env, e));
      return ts;
    }
    case Kind::OptTensorList: {
      c10::List<c10::optional<at::Tensor>> ts;
      for (auto e : arrayItems(env, v))
        ts.push_back(isNullish(env, e) ? c10::optional<at::Tensor>() : c10::optional<at::Tensor>(tensorOf(env, e)));
      return ts;
    }
    case Kind::FloatList: {
      std::vector<double> ds;
      for (auto e : arrayItems(env, v)) ds.push_back(numberOf(env, e));
      return ds;
    }
    case Kind::ScalarList: {
      c10::impl::GenericList list(c10::NumberType::get());
      for (auto e : arrayItems(env, v)) {
        c10::Scalar sc = scalarOf(env, e);
        list.push_back(sc.isIntegral(false) ? c10::IValue(sc.toLong()) : sc.isBoolean() ? c10::IValue(sc.toBool()) : c10::IValue(sc.toDouble()));
      }
      return list;
    }
    case Kind::BoolList: {
      c10::List<bool> bs;
      for (auto e : arrayItems(env, v)) bs.push_back(boolOf(env, e));
      return bs;
    }
    default: throw JsError{"GRAFT_TYPE", "argument type not supported from JS"};
  }
}

// Tensor handles are plain numbers, so a numeric result is boxed as { value } to stay distinct.
static napi_value boxed(napi_env env, napi_value v) {
  napi_value o;
  NAPI_OK(napi_create_object(env, &o));
  NAPI_OK(napi_set_named_property(env, o, "value", v));
  return o;
}

static napi_value fromIValue(napi_env env, const c10::IValue& v) {
  if (v.isTensor()) {
    const auto& t = v.toTensor();
    return t.defined() ? wrap(env, t) : undefinedValue(env);
  }
  if (v.isNone()) return undefinedValue(env);
  if (v.isDouble()) return boxed(env, jsNumber(env, v.toDouble()));
  if (v.isInt()) return boxed(env, jsNumber(env, static_cast<double>(v.toInt())));
  if (v.isBool()) return jsBool(env, v.toBool());
  if (v.isScalar()) return boxed(env, jsNumber(env, v.toScalar().toDouble()));
  if (v.isTensorList()) {
    auto list = v.toTensorList();
    napi_value arr;
    NAPI_OK(napi_create_array_with_length(env, list.size(), &arr));
    for (size_t i = 0; i < list.size(); i++) NAPI_OK(napi_set_element(env, arr, i, wrap(env, list.get(i))));
    return arr;
  }
  if (v.isIntList()) {
    auto list = v.toIntVector();
    napi_value arr;
    NAPI_OK(napi_create_array_with_length(env, list.size(), &arr));
    for (size_t i = 0; i < list.size(); i++) NAPI_OK(napi_set_element(env, arr, i, jsNumber(env, list[i])));
    return boxed(env, arr);
  }
  if (v.isTuple()) {
    const auto& elems = v.toTupleRef().elements();
    napi_value arr;
    NAPI_OK(napi_create_array_with_length(env, elems.size(), &arr));
    for (size_t i = 0; i < elems.size(); i++) NAPI_OK(napi_set_element(env, arr, i, fromIValue(env, elems[i])));
    return arr;
  }
  throw JsError{"GRAFT_TYPE", "op returned a value graft cannot convert: " + v.tagKind()};
}

static std::string describeArgs(napi_env env, const OpEntry& op, const napi_value* a, size_t na) {
  std::ostringstream s;
  for (size_t i = 0; i < na && i < op.args.size(); i++) {
    if (op.args[i].kind != Kind::Tensor && op.args[i].kind != Kind::TensorList) continue;
    if (isNullish(env, a[i])) continue;
    s << (s.tellp() ? ", " : "") << op.args[i].name << "=";
    try {
      if (op.args[i].kind == Kind::Tensor) {
        s << describe(tensorOf(env, a[i]));
      } else {
        s << "[";
        auto items = arrayItems(env, a[i]);
        for (size_t j = 0; j < items.size() && j < 4; j++) s << (j ? ", " : "") << describe(tensorOf(env, items[j]));
        s << (items.size() > 4 ? ", ...]" : "]");
      }
    } catch (...) {
      s << "?";
    }
  }
  return s.str();
}

// opCall(id, ...args): args in schema order; undefined takes the schema default.
static napi_value opCall(napi_env env, napi_callback_info info) {
  napi_value argv[24];
  size_t argc = 24;
  NAPI_OK(napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr));
  if (argc < 1) throw JsError{"GRAFT_TYPE", "opCall needs an op id"};
  uint32_t id = 0;
  NAPI_OK(napi_get_value_uint32(env, argv[0], &id));
  if (id >= opsOf(env).size()) throw JsError{"GRAFT_NO_OP", "bad op id"};
  const OpEntry& op = opsOf(env)[id];
  const napi_value* a = argv + 1;
  const size_t na = argc - 1;
  if (na > op.args.size())
    throw JsError{"GRAFT_ARGS", op.name + ": " + std::to_string(na) + " arguments given, schema has " + std::to_string(op.args.size())};
  // reused across calls: ops never re-enter JS, so one stack per thread is safe
  static thread_local torch::jit::Stack stack;
  stack.clear();
  try {
    for (size_t i = 0; i < op.args.size(); i++) {
      const ArgSpec& spec = op.args[i];
      if (spec.kind == Kind::Tensor && i < na) {
        // fast path: a tensor handle is a number; anything else takes the general route
        double id;
        if (napi_get_value_double(env, a[i], &id) == napi_ok) {
          stack.emplace_back(tensorOf(env, a[i]));
          continue;
        }
      }
      napi_valuetype t = napi_undefined;
      if (i < na) napi_typeof(env, a[i], &t);
      if (t == napi_undefined || t == napi_null) {
        if (t == napi_undefined && spec.defaultValue) stack.push_back(*spec.defaultValue);
        else if (spec.optional || spec.kind == Kind::Generator) stack.emplace_back();
        else throw JsError{"GRAFT_ARGS", op.name + ": missing argument '" + spec.name + "'"};
        continue;
      }
      try {
        stack.push_back(toIValue(env, spec, a[i]));
      } catch (const JsError& e) {
        throw JsError{e.code, op.name + ": argument '" + spec.name + "': " + e.message};
      }
    }
    op.handle.callBoxed(&stack);
  } catch (const c10::Error& e) {
    throw JsError{"GRAFT_TORCH", op.name + "(" + describeArgs(env, op, a, na) + "): " + e.what_without_backtrace()};
  } catch (const JsError&) {
    throw;
  } catch (const std::exception& e) {
    // some libtorch checks (e.g. infer_size in 1.13) throw std::runtime_error, not c10::Error
    throw JsError{"GRAFT_TORCH", op.name + "(" + describeArgs(env, op, a, na) + "): " + e.what()};
  }
  napi_value result;
  if (op.returnsSelfInplace || stack.empty()) {
    result = undefinedValue(env);
  } else if (stack.size() == 1) {
    result = fromIValue(env, stack[0]);
  } else {
    NAPI_OK(napi_create_array_with_length(env, stack.size(), &result));
    for (size_t i = 0; i < stack.size(); i++) NAPI_OK(napi_set_element(env, result, i, fromIValue(env, stack[i])));
  }
  stack.clear();  // release the results' references now
  return result;
}

static napi_value opSchema(napi_env env, napi_callback_info info) {
  auto a = args(env, info, 1);
  uint32_t id = 0;
  NAPI_OK(napi_get_value_uint32(env, a.at(0), &id));
  if (id >= opsOf(env).size()) throw JsError{"GRAFT_NO_OP", "bad op id"};
  std::ostringstream s;
  s << opsOf(env)[id].handle.schema();
  return jsString(env, s.str());
}

static napi_value listOps(napi_env env, napi_callback_info) {
  auto names = c10::Dispatcher::singleton().getAllOpNames();
  napi_value arr;
  NAPI_OK(napi_create_array_with_length(env, names.size(), &arr));
  for (size_t i = 0; i < names.size(); i++) {
    const auto& n = names[i];
    NAPI_OK(napi_set_element(env, arr, i, jsString(env, n.name + (n.overload_name.empty() ? "" : "." + n.overload_name))));
  }
  return arr;
}

void initOps(napi_env env, napi_value exports) {
  fast::initFastMath(env, exports);
  fast::initFastShape(env, exports);
  defineFn(env, exports, "opFind", entry<opFind>);
  defineFn(env, exports, "opCall", entry<opCall>);
  defineFn(env, exports, "opSchema", entry<opSchema>);
  defineFn(env, exports, "listOps", entry<listOps>);
}

}  // namespace graft
