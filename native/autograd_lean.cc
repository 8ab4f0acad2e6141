// A lean executor for the common backward(): `loss.backward()` on CPU tensors, one scalar output,
// no gradient given, no hooks, no retain_grad, no anomaly mode, no profiler, no create_graph.
// libtorch's Engine::execute builds a GraphTask (thread-local state capture, a Future, mutexes,
// hash maps with a heap node per entry, a warning handler) for every call: ~5 us of the ~8.6 us a
// [4,4] mul+sum backward costs. This runs the same nodes in exactly the engine's order (a max-heap
// by sequence_nr: all tasks of one non-reentrant CPU backward have the same reentrant depth),
// counts dependencies as compute_dependencies does, accumulates gradients as InputBuffer::add
// does, validates each node's outputs as validate_outputs does and releases saved variables
// when the graph is not kept, so gradients are bit-identical. Anything else returns false before
// touching the graph and the caller runs Engine::execute (torch::autograd::backward).
#include <ATen/ATen.h>
#include <ATen/ExpandUtils.h>
#include <ATen/record_function.h>
#include <c10/util/Exception.h>
#include <torch/csrc/autograd/anomaly_mode.h>
#include <torch/csrc/autograd/autograd.h>
#include <torch/csrc/autograd/function.h>
#include <torch/csrc/autograd/functions/accumulate_grad.h>
#include <torch/csrc/autograd/functions/basic_ops.h>
#include <torch/csrc/autograd/functions/tensor.h>
#include <torch/csrc/autograd/grad_mode.h>
#include <torch/csrc/autograd/variable.h>

#include <cstring>
#include <queue>
#include <sstream>
#include <typeinfo>
#include <vector>

#include "graft.h"

namespace graft {
namespace lean {
bool backward(const at::Tensor& root, bool keepGraph);

using torch::autograd::Edge;
using torch::autograd::InputMetadata;
using torch::autograd::Node;
using torch::autograd::variable_list;

namespace {

// Node* -> dependency count and pending input buffer (the engine's dependencies_ and not_ready_),
// open addressing, reused between calls: no allocation per node once warm.
struct Entry {
  Node* key = nullptr;
  int deps = 0;
  bool pending = false;  // has a not-ready input buffer
  variable_list buf;
};

struct Table {
  std::vector<Entry> slots = std::vector<Entry>(64);
  std::vector<size_t> used;

  static size_t hash(Node* p) { return (reinterpret_cast<uintptr_t>(p) >> 4) * 0x9E3779B97F4A7C15ull; }
  Entry* find(Node* p) {
    size_t mask = slots.size() - 1;
    for (size_t i = hash(p) & mask;; i = (i + 1) & mask) {
      if (slots[i].key == p) return &slots[i];
      if (slots[i].key == nullptr) return nullptr;
    }
  }
  // returns the entry and whether it was inserted
  std::pair<Entry*, bool> insert(Node* p) {
    if ((used.size() + 1) * 2 > slots.size()) grow();
    size_t mask = slots.size() - 1;
    for (size_t i = hash(p) & mask;; i = (i + 1) & mask) {
      if (slots[i].key == p) return {&slots[i], false};
      if (slots[i].key == nullptr) {
        slots[i].key = p;
        used.push_back(i);
        return {&slots[i], true};
      }
    }
  }
  void grow() {
    std::vector<Entry> old;
    old.swap(slots);
    slots = std::vector<Entry>(old.size() * 2);
    std::vector<size_t> oldUsed;
    oldUsed.swap(used);
    for (size_t i : oldUsed) {
      auto [e, _] = insert(old[i].key);
      e->deps = old[i].deps;
      e->pending = old[i].pending;
      e->buf = std::move(old[i].buf);
    }
  }
  void clear() {
    for (size_t i : used) {
      slots[i].key = nullptr;
      slots[i].deps = 0;
      slots[i].pending = false;
      variable_list().swap(slots[i].buf);
    }
    used.clear();
  }
};

struct Task {
  std::shared_ptr<Node> fn;
  variable_list inputs;
};
// the engine's CompareNodeTaskTime for tasks of one graph task (equal reentrant depth)
struct Later {
  bool operator()(const Task& a, const Task& b) const { return a.fn->sequence_nr() < b.fn->sequence_nr(); }
};

// The engine runs each node under a DelayWarningHandler and replays the warnings once the
// backward succeeded; this does the same.
struct DelayWarnings : c10::WarningHandler {
  struct W {
    c10::SourceLocation loc;
    std::string msg;
    bool verbatim;
  };
  std::vector<W> warnings;
  void process(const c10::SourceLocation& loc, const std::string& msg, const bool verbatim) override {
    warnings.push_back({loc, msg, verbatim});
  }
  void replay() {
    for (auto& w : warnings) c10::Warning::warn(w.loc, w.msg, w.verbatim);
  }
};

thread_local int depth = 0;  // a backward inside a node's backward takes the engine's path

bool plainCpuMeta(const InputMetadata& m) {
  return m.device().is_cpu() && m.layout() == at::kStrided && !m.is_tensor_subclass();
}

// Node classes whose apply() only computes: the generated derivative formulas and the basic
// nodes. A custom C++ Function (CppNode) may query or extend the current graph task, so it
// takes the engine's path.
bool knownNode(const Node& n) {
  const std::type_info& t = typeid(n);
  if (t == typeid(torch::autograd::AccumulateGrad) || t == typeid(torch::autograd::CopySlices) ||
      t == typeid(torch::autograd::CopyBackwards) || t == typeid(torch::autograd::Error) ||
      t == typeid(torch::autograd::DelayedError) || t == typeid(torch::autograd::UndefinedGradBackward))
    return true;
  const char* name = t.name();
  return std::strncmp(name, "N5torch8autograd9generated", 26) == 0;
}

// validate_outputs (engine.cpp) for CPU, strided, non-nested gradients
void validateOutputs(const torch::autograd::edge_list& edges, variable_list& grads,
                     const std::function<std::string(const std::string&)>& formatError) {
  if (grads.size() != edges.size()) {
    std::stringstream ss;
    ss << "invalid number of gradients - expected " << edges.size() << ", but got " << grads.size();
    AT_ERROR(formatError(ss.str()));
  }
  for (size_t i = 0; i < grads.size(); i++) {
    const auto& edge = edges[i];
    if (!edge.is_valid()) continue;
    const auto& metadata = edge.function->input_metadata(edge.input_nr);
    auto& grad = grads[i];
    if (!grad.defined()) continue;
    if (!metadata.is_same_shape(grad)) {
      if (metadata.is_expandable_to_shape(grad)) {
        grad = metadata.reduce_grad(grad);
      } else {
        const auto message = metadata.incompatible_shape_error_message(i, grad);
        AT_ERROR(formatError(message.str()));
      }
    }
    bool inputIsComplex = c10::isComplexType(c10::typeMetaToScalarType(metadata.options().dtype()));
    bool gradIsComplex = c10::isComplexType(grad.scalar_type());
    TORCH_CHECK(c10::isFloatingType(grad.scalar_type()) || (inputIsComplex == gradIsComplex));
    if (c10::typeMetaToScalarType(metadata.options().dtype()) != grad.scalar_type())
      grad = grad.to(c10::typeMetaToScalarType(metadata.options().dtype()));
    if (grad.dtype() != metadata.dtype()) {
      std::stringstream ss;
      ss << "invalid gradient at index " << i << " - expected dtype " << metadata.dtype() << " but got "
         << grad.dtype();
      AT_ERROR(formatError(ss.str()));
    }
    if (grad.layout() != metadata.layout()) {
      if (!grad.is_sparse() && !(grad.layout() == at::kStrided &&
                                 (metadata.layout() == at::kSparseCsr || metadata.layout() == at::kSparseCsc ||
                                  metadata.layout() == at::kSparseBsr || metadata.layout() == at::kSparseBsc ||
                                  metadata.layout() == at::kSparse))) {
        std::stringstream ss;
        ss << "invalid gradient at index " << i << " - expected layout ";
        ss << metadata.layout() << " but got " << grad.layout();
        AT_ERROR(formatError(ss.str()));
      }
    }
    if (grad.device() != metadata.device()) {
      if (!(metadata.is_tensor_subclass() || grad.unsafeGetTensorImpl()->is_python_dispatch())) {
        if (grad.dim() == 0) {
          grad = grad.to(metadata.device());
        } else {
          std::stringstream ss;
          ss << "invalid gradient at index " << i << " - expected device ";
          ss << metadata.device() << " but got " << grad.device();
          AT_ERROR(formatError(ss.str()));
        }
      }
    }
    TORCH_INTERNAL_ASSERT(torch::autograd::isDifferentiableType(grad.scalar_type()));
  }
}

// input_buffer.cpp's accumulate in libtorch 1.13 (CPU: no streams): dense gradients are summed
// out of place; a sparse and a dense one are summed into the dense one when nothing else holds it
void bufferAdd(variable_list& buffer, size_t pos, at::Tensor&& var) {
  TORCH_INTERNAL_ASSERT(pos < buffer.size());
  if (!var.defined()) return;
  auto& old = buffer[pos];
  if (!old.defined()) {
    old = std::move(var);
    return;
  }
  if (old.is_sparse()) {
    if (!var.requires_grad() && var.is_contiguous() && var.use_count() == 1 && var.storage().use_count() == 1)
      buffer[pos] = var.add_(old);
    else
      buffer[pos] = var + old;
  } else {
    if (var.is_sparse() && !old.requires_grad() && old.is_contiguous() && old.use_count() == 1 &&
        old.storage().use_count() == 1)
      buffer[pos] = old.add_(var);
    else
      buffer[pos] = old + var;
  }
}

}  // namespace

bool backward(const at::Tensor& root, bool keepGraph) {
  if (depth > 0 || !root.defined() || !root.requires_grad() || root.numel() != 1 || !root.device().is_cpu() ||
      root.layout() != at::kStrided || root.is_nested() || torch::autograd::AnomalyMode::is_enabled() ||
      at::hasCallbacks())
    return false;
  // grad_fn() (not grad_fn_unsafe): a view whose base changed in place regenerates it, as the
  // engine's gradient_edge does
  std::shared_ptr<Node> rootFn = root.grad_fn();
  if (!rootFn) return false;  // a leaf: rare, the engine's path

  thread_local Table table;
  // every exit (done, handed to the engine, or an exception) leaves the table empty
  struct Reset {
    Table& t;
    ~Reset() {
      t.clear();
      depth--;
    }
  } reset{table};
  depth++;

  // compute_dependencies, and every node checked before anything runs
  {
    thread_local std::vector<Node*> stack;
    stack.clear();
    stack.push_back(rootFn.get());
    bool ok = true;
    while (ok && !stack.empty()) {
      Node* fn = stack.back();
      stack.pop_back();
      if (!fn->pre_hooks().empty() || !fn->post_hooks().empty() || !knownNode(*fn)) {
        ok = false;
        break;
      }
      for (uint32_t i = 0, n = fn->num_inputs(); i < n; i++)
        if (!plainCpuMeta(fn->input_metadata(i))) ok = false;
      for (const Edge& e : fn->next_edges()) {
        if (Node* next = e.function.get()) {
          auto [entry, inserted] = table.insert(next);
          entry->deps += 1;
          if (inserted) stack.push_back(next);
        }
      }
    }
    if (!ok) return false;
  }

  // torch::autograd::backward's _make_grads, then Engine::execute's validate_outputs of the roots
  variable_list rootGrads;
  rootGrads.emplace_back(at::ones_like(root, LEGACY_CONTIGUOUS_MEMORY_FORMAT));
  torch::autograd::edge_list rootEdges{torch::autograd::impl::gradient_edge(root)};
  validateOutputs(rootEdges, rootGrads, [](const std::string& msg) { return msg; });

  DelayWarnings warnings;
  {
    c10::Warning::WarningHandlerGuard warningGuard(&warnings);
    at::AutoGradMode gradMode(false);  // GraphTask's grad mode: create_graph
    std::priority_queue<Task, std::vector<Task>, Later> ready;
    {
      variable_list buf(rootFn->num_inputs());
      bufferAdd(buf, rootEdges[0].input_nr, std::move(rootGrads[0]));
      ready.push(Task{rootFn, std::move(buf)});
    }
    while (!ready.empty()) {
      Task task = std::move(const_cast<Task&>(ready.top()));
      ready.pop();
      Node& fn = *task.fn;
      // call_function
      if (!keepGraph) fn.will_release_variables();
      variable_list outputs = fn(std::move(task.inputs));
      validateOutputs(fn.next_edges(), outputs, [&](const std::string& msg) {
        std::ostringstream ss;
        ss << "Function " << fn.name() << " returned an " << msg;
        return ss.str();
      });
      // evaluate_function
      if (!keepGraph) fn.release_variables();
      for (size_t i = 0; i < outputs.size(); i++) {
        const Edge& next = fn.next_edge(i);
        if (!next.is_valid()) continue;
        Entry* e = table.find(next.function.get());
        if (e == nullptr || e->deps == 0)
          throw std::runtime_error(std::string("dependency not found for ") + next.function->name());
        bool isReady = --e->deps == 0;
        if (!e->pending) {
          variable_list buf(next.function->num_inputs());
          bufferAdd(buf, next.input_nr, std::move(outputs[i]));
          if (isReady) ready.push(Task{next.function, std::move(buf)});
          else {
            e->buf = std::move(buf);
            e->pending = true;
          }
        } else {
          bufferAdd(e->buf, next.input_nr, std::move(outputs[i]));
          if (isReady) {
            ready.push(Task{next.function, std::move(e->buf)});
            e->pending = false;
          }
        }
      }
    }
    for (size_t i : table.used)
      if (table.slots[i].pending) throw std::runtime_error("could not compute gradients for some functions");
  }
  warnings.replay();
  return true;
}

}  // namespace lean

#ifndef GRAFT_LEAN_BENCH
// backwardRoot(h, retainGraph?, lean?): t.backward() for one output with no gradient given and no
// create_graph: the lean executor when `lean` is true and the graph allows it, otherwise
// torch::autograd::backward (Engine::execute). Returns whether the lean executor ran.
static napi_value backwardRoot(napi_env env, napi_callback_info info) {
  napi_value argv[3];
  size_t argc = 3;
  NAPI_OK(napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr));
  if (argc < 1) throw JsError{"GRAFT_ARGS", "backwardRoot(handle, retainGraph, lean)"};
  at::Tensor& t = tensorOf(env, argv[0]);
  c10::optional<bool> retain;
  if (argc > 1 && !isNullish(env, argv[1])) retain = boolOf(env, argv[1]);
  bool useLean = argc > 2 && !isNullish(env, argv[2]) && boolOf(env, argv[2]);
  if (useLean && lean::backward(t, retain.value_or(false))) return jsBool(env, true);
  torch::autograd::backward({t}, {}, retain, false, {});
  return jsBool(env, false);
}

void initAutogradLean(napi_env env, napi_value exports) {
  defineFn(env, exports, "backwardRoot", entry<backwardRoot>);
}
#endif

}  // namespace graft
