// DataParallel's gradient averaging: libtorch's own c10d::Reducer, driven from C++. It puts a
// post-hook on each trainable parameter's gradient accumulator (native autograd hooks, no
// Python), copies each ready gradient into its bucket scaled by 1/worldSize, allreduces a bucket
// as soon as it fills while backward goes on, and at the end of backward writes the averages
// back into .grad. Bucket assignment is c10d::compute_bucket_assignment_by_size, as in
// torch.nn.parallel.DistributedDataParallel 1.13.
#include <torch/csrc/autograd/grad_mode.h>

#include <limits>
#include <map>
#include <tuple>
#include <unordered_map>

#include "dist.h"

// reducer.hpp includes torch/csrc/distributed/autograd headers that Debian's libtorch-dev does
// not ship. Where they are missing we declare the few exported members we call; the object is
// then built in storage at least as large as libtorch 1.13's Reducer (912 bytes on x86-64).
#if __has_include(<torch/csrc/distributed/autograd/context/context.h>)
#include <torch/csrc/distributed/c10d/reducer.hpp>
#define GRAFT_REDUCER_HEADER 1
#else
namespace c10d {
class Logger;
class TORCH_API Reducer {
 public:
  explicit Reducer(std::vector<at::Tensor> params, std::vector<std::vector<size_t>> bucket_indices,
                   std::vector<size_t> per_bucket_size_limits,
                   c10::intrusive_ptr<c10d::ProcessGroup> process_group,
                   std::vector<bool> expect_sparse_gradients, int64_t bucket_bytes_cap,
                   bool find_unused_parameters, bool gradient_as_bucket_view,
                   std::unordered_map<size_t, std::string> param_names, int64_t first_bucket_bytes_cap);
  ~Reducer() noexcept(false);
  void prepare_for_backward(const std::vector<at::Tensor>& outputs);
  void prepare_for_forward();
  bool rebuild_buckets();
  Reducer(const Reducer&) = delete;
  Reducer& operator=(const Reducer&) = delete;
};
TORCH_API std::tuple<std::vector<std::vector<size_t>>, std::vector<size_t>> compute_bucket_assignment_by_size(
    const std::vector<at::Tensor>& tensors, const std::vector<size_t>& bucket_size,
    const std::vector<bool>& expect_sparse_gradient, const std::vector<int64_t>& tensor_indices,
    const c10::optional<std::weak_ptr<c10d::Logger>>& logger);
}  // namespace c10d
#endif

namespace graft {

namespace {

constexpr size_t kReducerStorage = 4096;  // > sizeof(c10d::Reducer) in libtorch 1.13 (912)

// Owns a Reducer and the group it talks to (the group must outlive it).
struct ReducerBox {
  std::shared_ptr<DistGroup> group;
  c10d::Reducer* reducer = nullptr;
  void* storage = nullptr;
  size_t numParams = 0;
  ~ReducerBox() {
    if (!reducer) return;
    try {
      reducer->~Reducer();  // removes its autograd hooks
    } catch (...) {
    }
#ifdef GRAFT_REDUCER_HEADER
    ::operator delete(storage);
#else
    ::operator delete(storage, std::align_val_t(64));
#endif
  }
};

std::mutex reducersMutex;
std::map<int64_t, std::unique_ptr<ReducerBox>> reducers;
int64_t nextReducerId = 1;

ReducerBox& reducerOf(napi_env env, napi_value id) {
  std::lock_guard<std::mutex> lock(reducersMutex);
  auto it = reducers.find(intOf(env, id));
  if (it == reducers.end()) throw JsError{"GRAFT_DIST", "the gradient reducer was destroyed (call rebuild())"};
  return *it->second;
}

std::vector<at::Tensor> handleList(napi_env env, napi_value v) {
  std::vector<at::Tensor> out;
  if (isNullish(env, v)) return out;
  uint32_t n = 0;
  NAPI_OK(napi_get_array_length(env, v, &n));
  for (uint32_t i = 0; i < n; i++) {
    napi_value e;
    NAPI_OK(napi_get_element(env, v, i, &e));
    out.push_back(tensorOf(env, e));
  }
  return out;
}

}  // namespace

// reducerCreate(group, params[], bucketCapBytes, findUnusedParameters, names[], firstBucketBytes)
// -> id. firstBucketBytes is torch.distributed._DEFAULT_FIRST_BUCKET_BYTES (1 MiB there).
// As DistributedDataParallel 1.13: without unused-parameter search the first iteration uses one
// bucket; rebuildBuckets() after it regroups them in the order gradients became ready.
static napi_value reducerCreate(napi_env env, napi_callback_info info) {
  auto a = args(env, info, 6);
  if (a.size() < 6)
    throw JsError{"GRAFT_ARGS", "reducerCreate(group, params, bucketCapBytes, findUnused, names, firstBucketBytes)"};
  auto group = distGroupOf(env, a[0]);
  auto params = handleList(env, a[1]);
  int64_t cap = intOf(env, a[2]);
  bool findUnused = boolOf(env, a[3]);
  int64_t firstBucketBytes = intOf(env, a[5]);
  if (cap <= 0 || firstBucketBytes <= 0) throw JsError{"GRAFT_ARGS", "bucket sizes must be > 0"};
  std::unordered_map<size_t, std::string> names;
  uint32_t n = 0;
  NAPI_OK(napi_get_array_length(env, a[4], &n));
  for (uint32_t i = 0; i < n; i++) {
    napi_value e;
    NAPI_OK(napi_get_element(env, a[4], i, &e));
    names[i] = stringOf(env, e);
  }
  if (params.empty()) throw JsError{"GRAFT_DIST", "the gradient reducer needs at least one trainable parameter"};
  for (size_t i = 0; i < params.size(); i++)
    if (!params[i].requires_grad() || !params[i].is_leaf())
      throw JsError{"GRAFT_DIST", "parameter " + names[i] + " is not a trainable leaf tensor"};
  std::vector<size_t> limits{findUnused ? static_cast<size_t>(firstBucketBytes) : std::numeric_limits<size_t>::max()};
  if (findUnused) limits.push_back(static_cast<size_t>(cap));
  std::vector<bool> sparse(params.size(), false);
  auto [indices, perBucket] =
      c10d::compute_bucket_assignment_by_size(params, limits, sparse, {}, c10::nullopt);
  std::reverse(indices.begin(), indices.end());
  std::reverse(perBucket.begin(), perBucket.end());

  auto box = std::make_unique<ReducerBox>();
  box->group = group;
  box->numParams = params.size();
#ifdef GRAFT_REDUCER_HEADER
  box->storage = ::operator new(sizeof(c10d::Reducer));
#else
  box->storage = ::operator new(kReducerStorage, std::align_val_t(64));
#endif
  try {
    box->reducer = new (box->storage) c10d::Reducer(params, indices, perBucket, group->pg, sparse, cap, findUnused,
                                                    /*gradient_as_bucket_view=*/false, names, firstBucketBytes);
  } catch (...) {
#ifdef GRAFT_REDUCER_HEADER
    ::operator delete(box->storage);
#else
    ::operator delete(box->storage, std::align_val_t(64));
#endif
    box->storage = nullptr;
    throw;
  }
  std::lock_guard<std::mutex> lock(reducersMutex);
  int64_t id = nextReducerId++;
  reducers[id] = std::move(box);
  return jsNumber(env, static_cast<double>(id));
}

// reducerPrepareForward(id): counts the iteration (DDP.forward before running the module).
static napi_value reducerPrepareForward(napi_env env, napi_callback_info info) {
  auto a = args(env, info, 1);
  reducerOf(env, a.at(0)).reducer->prepare_for_forward();
  return undefinedValue(env);
}

// reducerRebuildBuckets(id) -> bool: after the first synced backward, regroups the buckets in
// gradient-ready order; rank 0's order is broadcast (a collective, within the group timeout).
static napi_value reducerRebuildBuckets(napi_env env, napi_callback_info info) {
  auto a = args(env, info, 1);
  return jsBool(env, reducerOf(env, a.at(0)).reducer->rebuild_buckets());
}

// reducerPrepareBackward(id, outputs[]): arms the hooks for the next backward. With unused-
// parameter search, the outputs' graph is walked to mark the parameters it does not reach.
static napi_value reducerPrepareBackward(napi_env env, napi_callback_info info) {
  auto a = args(env, info, 2);
  a.resize(2, undefinedValue(env));
  auto outputs = handleList(env, a[1]);
  reducerOf(env, a[0]).reducer->prepare_for_backward(outputs);
  return undefinedValue(env);
}

static napi_value reducerDestroy(napi_env env, napi_callback_info info) {
  auto a = args(env, info, 1);
  std::unique_ptr<ReducerBox> box;
  {
    std::lock_guard<std::mutex> lock(reducersMutex);
    auto it = reducers.find(intOf(env, a.at(0)));
    if (it != reducers.end()) {
      box = std::move(it->second);
      reducers.erase(it);
    }
  }
  return undefinedValue(env);
}

// distBroadcastSync(group, tensors[], root): DDP's buffer broadcast before a forward, which is
// synchronous in JS. Waits on this thread, bounded by the group timeout.
static napi_value distBroadcastSync(napi_env env, napi_callback_info info) {
  auto a = args(env, info, 3);
  auto g = distGroupOf(env, a.at(0));
  auto ts = handleList(env, a.at(1));
  int64_t root = intOf(env, a.at(2));
  if (ts.empty()) return undefinedValue(env);
  Packed p = pack(ts);
  std::vector<c10::intrusive_ptr<c10d::Work>> works;
  c10d::BroadcastOptions o;
  o.rootRank = root;
  o.timeout = g->timeout;
  for (auto& f : p.flats) {
    std::vector<at::Tensor> one{f};
    works.push_back(g->pg->broadcast(one, o));
  }
  for (auto& w : works) w->wait(g->timeout);
  if (g->rank != root) unpack(p);
  return undefinedValue(env);
}

void initDistReducer(napi_env env, napi_value exports) {
  defineFn(env, exports, "reducerCreate", entry<reducerCreate>);
  defineFn(env, exports, "reducerPrepareForward", entry<reducerPrepareForward>);
  defineFn(env, exports, "reducerRebuildBuckets", entry<reducerRebuildBuckets>);
  defineFn(env, exports, "reducerPrepareBackward", entry<reducerPrepareBackward>);
  defineFn(env, exports, "reducerDestroy", entry<reducerDestroy>);
  defineFn(env, exports, "distBroadcastSync", entry<distBroadcastSync>);
}

}  // namespace graft
