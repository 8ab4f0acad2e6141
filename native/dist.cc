// c10d process groups for JS: TCPStore rendezvous, ProcessGroupGloo, and collectives whose
// c10d Work is waited on a libuv worker thread, so JS gets a Promise and the event loop runs.
// NCCL: compiled only where libtorch was built with it (USE_C10D_NCCL); Debian's has no CUDA.
#include "dist.h"

#include <c10/util/Exception.h>

#include <atomic>
#include <cstdlib>
#include <map>
#include <mutex>

#ifdef USE_C10D_NCCL
#include <torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>
#endif

namespace graft {

// ---- heartbeat ----

void DistGroup::startHeartbeat() {
  if (size < 2) return;
  heartbeat_ = std::thread([this] {
    const std::string key = heartbeatKey(rank);
    std::unique_lock<std::mutex> lock(beatMutex_);
    while (!stopBeat_) {
      lock.unlock();
      try {
        store->add(key, 1);
      } catch (...) {
        return;  // the store is gone (rank 0 exited): nothing to beat into
      }
      lock.lock();
      beatCv_.wait_for(lock, std::chrono::milliseconds(kHeartbeatMs), [this] { return stopBeat_; });
    }
  });
}

DistGroup::~DistGroup() {
  {
    std::lock_guard<std::mutex> lock(beatMutex_);
    stopBeat_ = true;
  }
  beatCv_.notify_all();
  if (heartbeat_.joinable()) heartbeat_.join();
}

// ---- group table ----
// Ids, not napi externals: a group must outlive a GC'd JS wrapper while its work is in flight,
// and destroy() is explicit (it joins Gloo's threads, which may wait out a timeout).

static std::mutex groupsMutex;
static std::map<int64_t, std::shared_ptr<DistGroup>> groups;
static int64_t nextGroupId = 1;

std::shared_ptr<DistGroup> distGroupOf(napi_env env, napi_value id) {
  std::lock_guard<std::mutex> lock(groupsMutex);
  auto it = groups.find(intOf(env, id));
  if (it == groups.end()) throw JsError{"GRAFT_DIST", "the process group was destroyed"};
  return it->second;
}

static napi_value getProp(napi_env env, napi_value obj, const char* key) {
  napi_value v;
  NAPI_OK(napi_get_named_property(env, obj, key, &v));
  return v;
}

static std::shared_ptr<::gloo::transport::Device> glooDevice(const std::string& host) {
  // like torch.distributed: GLOO_SOCKET_IFNAME names the interface; else a loopback master
  // means every rank is on this machine; else the address this host's name resolves to
  if (const char* iface = std::getenv("GLOO_SOCKET_IFNAME"); iface && *iface)
    return c10d::ProcessGroupGloo::createDeviceForInterface(iface);
  if (host == "localhost" || host.rfind("127.", 0) == 0 || host == "::1")
    return c10d::ProcessGroupGloo::createDeviceForHostname(host == "localhost" ? "127.0.0.1" : host);
  return c10d::ProcessGroupGloo::createDefaultDevice();
}

// distInit({backend, rank, worldSize, host, port, timeoutMs}) -> Promise<group id>.
// The TCPStore (rank 0 serves, every rank connects, the server waits for all) and the Gloo
// mesh both block until every rank arrives or the timeout passes: on a worker thread.
static napi_value distInit(napi_env env, napi_callback_info info) {
  auto a = args(env, info, 1);
  if (a.empty()) throw JsError{"GRAFT_ARGS", "distInit(options)"};
  auto g = std::make_shared<DistGroup>();
  g->backend = stringOf(env, getProp(env, a[0], "backend"));
  g->rank = static_cast<int>(intOf(env, getProp(env, a[0], "rank")));
  g->size = static_cast<int>(intOf(env, getProp(env, a[0], "worldSize")));
  g->timeout = std::chrono::milliseconds(intOf(env, getProp(env, a[0], "timeoutMs")));
  std::string host = stringOf(env, getProp(env, a[0], "host"));
  int64_t port = intOf(env, getProp(env, a[0], "port"));
  if (g->backend != "gloo") {
#ifndef USE_C10D_NCCL
    throw JsError{"GRAFT_DIST", "backend '" + g->backend + "' is not available: this libtorch was built without NCCL (no CUDA)"};
#endif
  }
  return runAsync(
      env, "graft.distInit",
      [g, host, port]() {
        c10d::TCPStoreOptions o;
        o.port = static_cast<uint16_t>(port);
        o.isServer = g->rank == 0;
        o.numWorkers = static_cast<size_t>(g->size);
        o.waitWorkers = true;
        o.timeout = g->timeout;
        g->store = c10::make_intrusive<c10d::TCPStore>(host, o);
#ifdef USE_C10D_NCCL
        if (g->backend == "nccl") {
          auto opts = c10d::ProcessGroupNCCL::Options::create();
          opts->timeout = g->timeout;
          g->pg = c10::make_intrusive<c10d::ProcessGroupNCCL>(g->store, g->rank, g->size, opts);
          g->startHeartbeat();
          return;
        }
#endif
        auto opts = c10d::ProcessGroupGloo::Options::create(g->timeout);
        opts->devices.push_back(glooDevice(host));
        g->pg = c10::make_intrusive<c10d::ProcessGroupGloo>(g->store, g->rank, g->size, opts);
        g->startHeartbeat();
      },
      [g](napi_env env) {
        std::lock_guard<std::mutex> lock(groupsMutex);
        int64_t id = nextGroupId++;
        groups[id] = g;
        return jsNumber(env, static_cast<double>(id));
      });
}

// distDestroy(id) -> Promise: drops the group; Gloo's destructor joins its threads there.
static napi_value distDestroy(napi_env env, napi_callback_info info) {
  auto a = args(env, info, 1);
  std::shared_ptr<DistGroup> g;
  {
    std::lock_guard<std::mutex> lock(groupsMutex);
    auto it = groups.find(intOf(env, a.at(0)));
    if (it != groups.end()) {
      g = std::move(it->second);
      groups.erase(it);
    }
  }
  return runAsync(env, "graft.distDestroy", [g]() mutable { g.reset(); }, nullptr);
}

// ---- collectives ----

static std::vector<at::Tensor> tensorsOf(napi_env env, napi_value v) {
  std::vector<at::Tensor> out;
  uint32_t n = 0;
  NAPI_OK(napi_get_array_length(env, v, &n));
  for (uint32_t i = 0; i < n; i++) {
    napi_value e;
    NAPI_OK(napi_get_element(env, v, i, &e));
    at::Tensor t = tensorOf(env, e);
    if (!t.device().is_cpu() && !t.device().is_cuda())
      throw JsError{"GRAFT_DIST", "collectives take CPU or CUDA tensors, got " + t.device().str()};
    out.push_back(t);
  }
  return out;
}

static void waitAll(const std::shared_ptr<DistGroup>& g, std::vector<c10::intrusive_ptr<c10d::Work>>& works) {
  for (auto& w : works) w->wait(g->timeout);
}

static c10d::ReduceOp reduceOpOf(const std::string& op) {
  if (op == "sum" || op == "avg") return c10d::ReduceOp::SUM;
  if (op == "max") return c10d::ReduceOp::MAX;
  if (op == "min") return c10d::ReduceOp::MIN;
  if (op == "product") return c10d::ReduceOp::PRODUCT;
  throw JsError{"GRAFT_ARGS", "unknown reduce op '" + op + "' (sum, avg, max, min, product)"};
}

// distAllreduce(id, tensors[], op) -> Promise: reduces in place. Gloo has no AVG: sum, then
// divide by the world size (floating tensors only).
static napi_value distAllreduce(napi_env env, napi_callback_info info) {
  auto a = args(env, info, 3);
  auto g = distGroupOf(env, a.at(0));
  auto ts = tensorsOf(env, a.at(1));
  std::string op = stringOf(env, a.at(2));
  c10d::ReduceOp rop = reduceOpOf(op);
  if (op == "avg")
    for (auto& t : ts)
      if (!at::isFloatingType(t.scalar_type()))
        throw JsError{"GRAFT_ARGS", "allreduce 'avg' needs floating tensors, got " + std::string(c10::toString(t.scalar_type()))};
  return runAsync(
      env, "graft.distAllreduce",
      [g, ts, op, rop]() {
        Packed p = pack(ts);
        std::vector<c10::intrusive_ptr<c10d::Work>> works;
        c10d::AllreduceOptions o;
        o.reduceOp = rop;
        o.timeout = g->timeout;
        for (auto& f : p.flats) {
          std::vector<at::Tensor> one{f};
          works.push_back(g->pg->allreduce(one, o));
        }
        waitAll(g, works);
        if (op == "avg")
          for (auto& f : p.flats) f.div_(g->size);
        unpack(p);
      },
      nullptr);
}

// distBroadcast(id, tensors[], root) -> Promise: overwrites every rank's tensors with root's.
static napi_value distBroadcast(napi_env env, napi_callback_info info) {
  auto a = args(env, info, 3);
  auto g = distGroupOf(env, a.at(0));
  auto ts = tensorsOf(env, a.at(1));
  int64_t root = intOf(env, a.at(2));
  if (root < 0 || root >= g->size)
    throw JsError{"GRAFT_ARGS", "broadcast root " + std::to_string(root) + " is not a rank of a group of " + std::to_string(g->size)};
  return runAsync(
      env, "graft.distBroadcast",
      [g, ts, root]() {
        Packed p = pack(ts);
        std::vector<c10::intrusive_ptr<c10d::Work>> works;
        c10d::BroadcastOptions o;
        o.rootRank = root;
        o.timeout = g->timeout;
        for (auto& f : p.flats) {
          std::vector<at::Tensor> one{f};
          works.push_back(g->pg->broadcast(one, o));
        }
        waitAll(g, works);
        if (g->rank != root) unpack(p);
      },
      nullptr);
}

static napi_value handleArray(napi_env env, const std::vector<at::Tensor>& ts) {
  napi_value arr;
  NAPI_OK(napi_create_array_with_length(env, ts.size(), &arr));
  for (size_t i = 0; i < ts.size(); i++) NAPI_OK(napi_set_element(env, arr, i, wrap(env, ts[i])));
  return arr;
}

// distAllgather(id, tensor) -> Promise<handles[worldSize]>: every rank's tensor, in rank order.
static napi_value distAllgather(napi_env env, napi_callback_info info) {
  auto a = args(env, info, 2);
  auto g = distGroupOf(env, a.at(0));
  at::Tensor t = tensorOf(env, a.at(1)).detach();
  auto out = std::make_shared<std::vector<at::Tensor>>();
  return runAsync(
      env, "graft.distAllgather",
      [g, t, out]() {
        std::vector<at::Tensor> in{t.contiguous()};
        std::vector<std::vector<at::Tensor>> outs(1);
        for (int r = 0; r < g->size; r++) outs[0].push_back(at::empty_like(in[0]));
        c10d::AllgatherOptions o;
        o.timeout = g->timeout;
        g->pg->allgather(outs, in, o)->wait(g->timeout);
        *out = outs[0];
      },
      [out](napi_env env) { return handleArray(env, *out); });
}

// distReduceScatter(id, inputs[worldSize], op) -> Promise<handle>: this rank's reduced chunk.
// Gloo in libtorch 1.13 has no reduce_scatter: there it is an allreduce of the stacked inputs
// of which each rank keeps its own slice (the same values, more traffic).
static napi_value distReduceScatter(napi_env env, napi_callback_info info) {
  auto a = args(env, info, 3);
  auto g = distGroupOf(env, a.at(0));
  auto ts = tensorsOf(env, a.at(1));
  std::string op = stringOf(env, a.at(2));
  c10d::ReduceOp rop = reduceOpOf(op);
  if (static_cast<int>(ts.size()) != g->size)
    throw JsError{"GRAFT_ARGS", "reduceScatter takes one input per rank: " + std::to_string(g->size) + ", got " + std::to_string(ts.size())};
  for (auto& t : ts)
    if (!t.sizes().equals(ts[0].sizes()) || t.scalar_type() != ts[0].scalar_type())
      throw JsError{"GRAFT_ARGS", "reduceScatter inputs must share shape and dtype: " + describe(ts[0]) + " vs " + describe(t)};
  if (op == "avg" && !at::isFloatingType(ts[0].scalar_type()))
    throw JsError{"GRAFT_ARGS", "reduceScatter 'avg' needs floating tensors"};
  auto out = std::make_shared<at::Tensor>();
  return runAsync(
      env, "graft.distReduceScatter",
      [g, ts, op, rop, out]() {
        std::vector<at::Tensor> detached;
        for (auto& t : ts) detached.push_back(t.detach());
        at::Tensor stacked = at::stack(detached);
        std::vector<at::Tensor> one{stacked};
        c10d::AllreduceOptions o;
        o.reduceOp = rop;
        o.timeout = g->timeout;
        g->pg->allreduce(one, o)->wait(g->timeout);
        at::Tensor mine = stacked.select(0, g->rank).clone();
        if (op == "avg") mine.div_(g->size);
        *out = mine;
      },
      [out](napi_env env) { return wrap(env, *out); });
}

// distBarrier(id) -> Promise: resolves once every rank has called it.
static napi_value distBarrier(napi_env env, napi_callback_info info) {
  auto a = args(env, info, 1);
  auto g = distGroupOf(env, a.at(0));
  return runAsync(
      env, "graft.distBarrier",
      [g]() {
        c10d::BarrierOptions o;
        o.timeout = g->timeout;
        g->pg->barrier(o)->wait(g->timeout);
      },
      nullptr);
}

// distProbe(id) -> Promise<{storeReachable, stopped: rank[]}>: after a failed collective, which
// ranks' heartbeats stopped over a few beats (they exited); storeReachable false when the store,
// on rank 0, no longer answers (rank 0 exited).
static napi_value distProbe(napi_env env, napi_callback_info info) {
  auto a = args(env, info, 1);
  auto g = distGroupOf(env, a.at(0));
  auto stopped = std::make_shared<std::vector<int>>();
  auto reachable = std::make_shared<bool>(true);
  return runAsync(
      env, "graft.distProbe",
      [g, stopped, reachable]() {
        std::vector<int64_t> before(g->size);
        try {
          for (int r = 0; r < g->size; r++) before[r] = g->store->add(heartbeatKey(r), 0);
          std::this_thread::sleep_for(std::chrono::milliseconds(4 * kHeartbeatMs));
          for (int r = 0; r < g->size; r++)
            if (r != g->rank && g->store->add(heartbeatKey(r), 0) == before[r]) stopped->push_back(r);
        } catch (...) {
          *reachable = false;
        }
      },
      [stopped, reachable](napi_env env) {
        napi_value obj, arr;
        NAPI_OK(napi_create_object(env, &obj));
        NAPI_OK(napi_create_array_with_length(env, stopped->size(), &arr));
        for (size_t i = 0; i < stopped->size(); i++) NAPI_OK(napi_set_element(env, arr, i, jsNumber(env, (*stopped)[i])));
        NAPI_OK(napi_set_named_property(env, obj, "stopped", arr));
        NAPI_OK(napi_set_named_property(env, obj, "storeReachable", jsBool(env, *reachable)));
        return obj;
      });
}

static napi_value distBackends(napi_env env, napi_callback_info) {
  napi_value arr;
  NAPI_OK(napi_create_array(env, &arr));
  NAPI_OK(napi_set_element(env, arr, 0, jsString(env, "gloo")));
#ifdef USE_C10D_NCCL
  NAPI_OK(napi_set_element(env, arr, 1, jsString(env, "nccl")));
#endif
  return arr;
}

void initDist(napi_env env, napi_value exports) {
  defineFn(env, exports, "distInit", entry<distInit>);
  defineFn(env, exports, "distDestroy", entry<distDestroy>);
  defineFn(env, exports, "distAllreduce", entry<distAllreduce>);
  defineFn(env, exports, "distBroadcast", entry<distBroadcast>);
  defineFn(env, exports, "distAllgather", entry<distAllgather>);
  defineFn(env, exports, "distReduceScatter", entry<distReduceScatter>);
  defineFn(env, exports, "distBarrier", entry<distBarrier>);
  defineFn(env, exports, "distBackends", entry<distBackends>);
  defineFn(env, exports, "distProbe", entry<distProbe>);
  initDistReducer(env, exports);
  initDistSyncBatchNorm(env, exports);
}

}  // namespace graft
