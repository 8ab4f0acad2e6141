// c10d (PyTorch's distributed engine) declarations shared by dist.cc and dist_reducer.cc.
#pragma once
#include <torch/csrc/distributed/c10d/ProcessGroup.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>

#include <torch/version.h>

#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "graft.h"

// ProcessGroupGloo.hpp includes Gloo's own headers, which Debian ships in libgloo-dev, not in
// libtorch-dev. Where they are missing we declare the class ourselves: the same members in the
// same order (so `new` allocates the real size, checked below), Gloo types only behind pointers.
// We only construct it and call the constructor and static device factories libtorch_cpu
// exports; every collective goes through ProcessGroup's virtual table, whose layout is the real one.
#if __has_include(<gloo/context.h>)
#ifndef USE_C10D_GLOO
#define USE_C10D_GLOO
#endif
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#else
namespace gloo {
class Context;
namespace transport { class Device; }
namespace rendezvous { class Store; }
}  // namespace gloo

namespace c10d {
class TORCH_API ProcessGroupGloo : public ProcessGroup {
 public:
  class AsyncWork;
  struct TORCH_API Options : public ProcessGroup::Options {
    explicit Options(std::chrono::milliseconds timeout = kProcessGroupDefaultTimeout);
    static c10::intrusive_ptr<Options> create(std::chrono::milliseconds timeout = kProcessGroupDefaultTimeout) {
      return c10::make_intrusive<Options>(timeout);
    }
    std::vector<std::shared_ptr<::gloo::transport::Device>> devices;
    int threads;
  };
  static std::shared_ptr<::gloo::transport::Device> createDeviceForInterface(const std::string& interface);
  static std::shared_ptr<::gloo::transport::Device> createDeviceForHostname(const std::string& hostname);
  static std::shared_ptr<::gloo::transport::Device> createDefaultDevice();
  explicit ProcessGroupGloo(const c10::intrusive_ptr<Store>& store, int rank, int size,
                            c10::intrusive_ptr<Options> options);
  virtual ~ProcessGroupGloo();

 protected:
  // layout of libtorch 1.13's members (work items held as the Work base: same pointer size)
  std::unique_ptr<::gloo::rendezvous::Store> store_;
  const c10::intrusive_ptr<Options> options_;
  std::vector<std::shared_ptr<::gloo::Context>> contexts_;
  std::vector<std::thread> threads_;
  bool stop_;
  uint32_t collectiveCounter_;
  std::deque<c10::intrusive_ptr<Work>> workQueue_;
  std::vector<c10::intrusive_ptr<Work>> workInProgress_;
  std::mutex workMutex_;
  std::condition_variable workProduceCV_;
  std::condition_variable workConsumeCV_;
};
}  // namespace c10d
#if TORCH_VERSION_MAJOR == 1 && TORCH_VERSION_MINOR == 13 && defined(__x86_64__)
// the sizes libtorch 1.13 has with Gloo's real headers (measured with libgloo-dev's headers)
static_assert(sizeof(c10d::ProcessGroupGloo) == 416, "ProcessGroupGloo layout differs from libtorch 1.13's");
static_assert(sizeof(c10d::ProcessGroupGloo::Options) == 96, "ProcessGroupGloo::Options layout differs");
#endif
#endif

namespace graft {

// One process group: its store (rank 0 hosts the TCPStore server), the c10d group, and a
// heartbeat: a thread that bumps this rank's counter in the store, so that after a failed
// collective the others can tell which rank is gone (its counter stopped) from one that hangs.
struct DistGroup {
  c10::intrusive_ptr<c10d::Store> store;
  c10::intrusive_ptr<c10d::ProcessGroup> pg;
  int rank = 0;
  int size = 1;
  std::chrono::milliseconds timeout{60000};
  std::string backend;

  void startHeartbeat();
  ~DistGroup();  // stops the heartbeat first, then drops the group and the store

 private:
  std::thread heartbeat_;
  std::mutex beatMutex_;
  std::condition_variable beatCv_;
  bool stopBeat_ = false;
};

constexpr int kHeartbeatMs = 250;
inline std::string heartbeatKey(int rank) { return "graft/heartbeat/" + std::to_string(rank); }

// The group a JS id names; throws GRAFT_DIST when destroyed or unknown.
std::shared_ptr<DistGroup> distGroupOf(napi_env env, napi_value id);

// Runs `run` on a libuv worker thread, then `done` on the JS thread; returns a Promise that
// resolves with done's value or rejects with an Error whose code is GRAFT_DIST and whose
// message is libtorch's (the JS layer names the collective and classifies it).
napi_value runAsync(napi_env env, const char* name, std::function<void()> run,  // dist_util.cc
                    std::function<napi_value(napi_env)> done);

// Several tensors travel as one flat buffer per dtype (one c10d call each, like DDP's buckets);
// a single contiguous tensor goes as it is, so nothing is copied.
struct Packed {
  std::vector<at::Tensor> originals;  // detached: gloo and div_ write them outside autograd
  std::vector<bool> direct;           // per dtype group: the flat buffer is the tensor itself
  std::vector<std::vector<size_t>> groupsByDtype;
  std::vector<at::Tensor> flats;
};
Packed pack(const std::vector<at::Tensor>& ts);
void unpack(Packed& p);  // copies the flat buffers back into the tensors

void initDistReducer(napi_env env, napi_value exports);  // dist_reducer.cc
void initDistSyncBatchNorm(napi_env env, napi_value exports);  // dist_syncbn.cc

}  // namespace graft
