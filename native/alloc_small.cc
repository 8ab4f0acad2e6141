// A small-block CPU allocator: libtorch's default CPU allocator calls posix_memalign(64) for every
// tensor buffer, which glibc serves through _int_memalign (past its per-thread tcache, under the
// arena lock, splitting off the alignment slack); a tidy() scope then frees its results together,
// far more than tcache's 7 entries a size, and the next scope pays for glibc's bins again. Small
// buffers dominate op-by-op code (a [4] add: 0.72-0.80 us with 100 results freed together against
// 0.57-0.64 us freed one by one, in a C++ loop). Here requests up to kMaxBytes are rounded up to
// a size class and served from per-thread LIFO free lists of 64-byte-aligned blocks:
// - each class has its own deleter in the DataPtr, so a free finds its list without a lookup;
// - a block is freed into the list of the thread that frees it (image decode and DDP threads
//   free tensors the main thread made, and the other way round); each thread keeps at most `cap`
//   free bytes and gives the rest to free(): the cache is bounded by cap x threads that free;
// - every block is an ordinary posix_memalign block, so free() is always a valid way out (a raw
//   deallocation, a thread that has exited, a cache that was turned off);
// - releaseAll/setCap bump an epoch: each thread empties its own lists at its next call.
// Larger requests go to the allocator that was in place (c10's, or alloc.cc's caching allocator).
#include "alloc_small.h"

#include <c10/core/CPUAllocator.h>
#include <c10/util/Exception.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "graft.h"

namespace graft {
namespace small {

namespace {

constexpr size_t kAlign = 64;  // c10's gAlignment with AVX-512: vectorized kernels rely on it
constexpr int kFine = 16;      // classes 64, 128, ... 1024 bytes
constexpr int kClasses = 32;   // then four a doubling: 1280, 1536, 1792, 2048, ... 16384

constexpr size_t classBytes(int k) {
  if (k < kFine) return static_cast<size_t>(k + 1) * 64;
  const int j = k - kFine;
  const size_t base = size_t{1024} << (j / 4);
  return base + static_cast<size_t>(j % 4 + 1) * (base / 4);
}
static_assert(classBytes(kClasses - 1) == kMaxBytes, "the last class is kMaxBytes");

// the smallest class of at least n bytes (0 < n <= kMaxBytes)
inline int classOf(size_t n) {
  if (n <= 1024) return static_cast<int>((n - 1) >> 6);
  const size_t m = (n - 1) >> 10;  // 1 .. 15
  const int d = 63 - __builtin_clzll(m);
  const size_t base = size_t{1024} << d;
  return kFine + d * 4 + static_cast<int>((n - 1 - base) / (base / 4));
}

std::atomic<size_t> gCap{kDefaultCapBytes};
std::atomic<uint64_t> gEpoch{0};

// Counters another thread reads (totals()): written only by the owning thread, with relaxed
// load + store (plain moves on x86; no read-modify-write).
struct Counter {
  std::atomic<uint64_t> v{0};
  void add(int64_t d) { v.store(v.load(std::memory_order_relaxed) + d, std::memory_order_relaxed); }
  uint64_t get() const { return v.load(std::memory_order_relaxed); }
};

struct ThreadCache;
std::mutex& registryMutex() {
  static auto* m = new std::mutex();  // never destroyed: threads exit after static destructors
  return *m;
}
std::vector<ThreadCache*>& registry() {
  static auto* r = new std::vector<ThreadCache*>();
  return *r;
}

struct ThreadCache {
  void* head[kClasses] = {};  // a free block's first 8 bytes link to the next one
  size_t bytes = 0;           // free bytes in the lists
  uint64_t epoch = gEpoch.load(std::memory_order_relaxed);
  Counter hits, misses, overflows, cachedBytes, cachedBlocks;

  ThreadCache() {
    std::lock_guard<std::mutex> g(registryMutex());
    registry().push_back(this);
  }
  ~ThreadCache();

  // frees every listed block; the bytes released
  size_t flush() {
    size_t released = bytes;
    for (void*& h : head) {
      while (h) {
        void* next = *static_cast<void**>(h);
        std::free(h);
        h = next;
      }
    }
    bytes = 0;
    cachedBytes.add(-static_cast<int64_t>(cachedBytes.get()));
    cachedBlocks.add(-static_cast<int64_t>(cachedBlocks.get()));
    return released;
  }
  // an emptyCache or a new cap since this thread last looked: empty the lists first
  void sync() {
    uint64_t e = gEpoch.load(std::memory_order_relaxed);
    if (e != epoch) {
      epoch = e;
      flush();
    }
  }
};

thread_local bool tDead = false;  // trivially destructible: readable while the thread exits

ThreadCache::~ThreadCache() {
  tDead = true;  // frees from here on (later thread-exit destructors) go to free()
  {
    std::lock_guard<std::mutex> g(registryMutex());
    auto& r = registry();
    r.erase(std::remove(r.begin(), r.end(), this), r.end());
  }
  flush();
}

inline ThreadCache* local() {
  if (tDead) return nullptr;
  thread_local ThreadCache c;
  return &c;
}

template <int K>
void freeBlock(void* p) {
  if (ThreadCache* c = local()) {
    c->sync();
    constexpr size_t size = classBytes(K);
    if (c->bytes + size <= gCap.load(std::memory_order_relaxed)) {
      *static_cast<void**>(p) = c->head[K];
      c->head[K] = p;
      c->bytes += size;
      c->cachedBytes.add(size);
      c->cachedBlocks.add(1);
      return;
    }
    c->overflows.add(1);
  }
  std::free(p);
}

template <size_t... K>
constexpr std::array<c10::DeleterFnPtr, sizeof...(K)> deleters(std::index_sequence<K...>) {
  return {&freeBlock<static_cast<int>(K)>...};
}
constexpr auto kDeleters = deleters(std::make_index_sequence<kClasses>());

}  // namespace

c10::DataPtr allocate(size_t n) {
  if (n == 0 || n > kMaxBytes) return {};
  ThreadCache* c = local();
  if (c) {
    c->sync();
    if (gCap.load(std::memory_order_relaxed) == 0) return {};
  }
  const int k = classOf(n);
  const c10::Device cpu(c10::DeviceType::CPU);
  if (c) {
    if (void* p = c->head[k]) {
      c->head[k] = *static_cast<void**>(p);
      c->bytes -= classBytes(k);
      c->cachedBytes.add(-static_cast<int64_t>(classBytes(k)));
      c->cachedBlocks.add(-1);
      c->hits.add(1);
      return {p, p, kDeleters[k], cpu};
    }
    c->misses.add(1);
  }
  void* p = nullptr;
  if (posix_memalign(&p, kAlign, classBytes(k)) != 0) {
    p = nullptr;
    if (c) c->flush();  // memory pressure: hand this thread's free blocks back and try once more
    if (posix_memalign(&p, kAlign, classBytes(k)) != 0) p = nullptr;
  }
  TORCH_CHECK(p, "graft's CPU allocator: out of memory allocating ", n, " bytes");
  return {p, p, kDeleters[k], cpu};
}

size_t releaseAll() {
  gEpoch.fetch_add(1, std::memory_order_relaxed);
  ThreadCache* c = local();
  if (!c) return 0;
  c->epoch = gEpoch.load(std::memory_order_relaxed);
  return c->flush();
}

void setCap(size_t capBytes) {
  gCap.store(capBytes, std::memory_order_relaxed);
  releaseAll();
}

size_t cap() { return gCap.load(std::memory_order_relaxed); }

Totals totals() {
  Totals t;
  std::lock_guard<std::mutex> g(registryMutex());
  for (ThreadCache* c : registry()) {
    t.hits += c->hits.get();
    t.misses += c->misses.get();
    t.overflows += c->overflows.get();
    t.cachedBytes += c->cachedBytes.get();
    t.cachedBlocks += c->cachedBlocks.get();
    t.threads++;
  }
  return t;
}

}  // namespace small

namespace {

// libtorch's CPU allocator while no caching allocator is in use: small requests from the free
// lists, the rest (and every raw deallocation: small blocks are plain posix_memalign blocks) to
// the allocator that was registered before.
struct SmallFirstAllocator final : public c10::Allocator {
  c10::Allocator* base = nullptr;
  c10::DataPtr allocate(size_t n) const override {
    if (c10::DataPtr d = small::allocate(n)) return d;
    return base->allocate(n);
  }
  c10::DeleterFnPtr raw_deleter() const override { return base->raw_deleter(); }
};

// setSmallCache(capBytes): the per-thread bound on free small blocks; 0 turns the small path off.
napi_value setSmallCache(napi_env env, napi_callback_info info) {
  auto a = args(env, info, 1);
  int64_t cap = intOf(env, a.at(0));
  if (cap < 0) throw JsError{"GRAFT_ARGS", "setSmallCache(capBytes) needs a size >= 0"};
  small::setCap(static_cast<size_t>(cap));
  return undefinedValue(env);
}

// smallCacheStats() -> {capBytes, maxBlockBytes, threads, cachedBytes, cachedBlocks, hits, misses, overflows}
napi_value smallCacheStats(napi_env env, napi_callback_info) {
  small::Totals t = small::totals();
  napi_value o;
  NAPI_OK(napi_create_object(env, &o));
  setNumberField(env, o, "capBytes", static_cast<double>(small::cap()));
  setNumberField(env, o, "maxBlockBytes", static_cast<double>(small::kMaxBytes));
  setNumberField(env, o, "threads", static_cast<double>(t.threads));
  setNumberField(env, o, "cachedBytes", static_cast<double>(t.cachedBytes));
  setNumberField(env, o, "cachedBlocks", static_cast<double>(t.cachedBlocks));
  setNumberField(env, o, "hits", static_cast<double>(t.hits));
  setNumberField(env, o, "misses", static_cast<double>(t.misses));
  setNumberField(env, o, "overflows", static_cast<double>(t.overflows));
  return o;
}

// smallCacheThreadCheck(count, bytes): `count` byte tensors of `bytes` bytes made on a new thread and
// freed on this one, then made here and freed on a new thread; each block must be 64-byte aligned and
// keep what was written into it. True, or an error naming what failed. (Node cannot hand a tensor to
// another JS thread, so graft's tests reach the cross-thread frees of decode and DDP threads here.)
napi_value smallCacheThreadCheck(napi_env env, napi_callback_info info) {
  auto a = args(env, info, 2);
  const int64_t count = intOf(env, a.at(0)), bytes = intOf(env, a.at(1));
  if (count < 0 || bytes < 0) throw JsError{"GRAFT_ARGS", "smallCacheThreadCheck(count, bytes) needs sizes >= 0"};
  std::string error;
  auto make = [&](std::vector<at::Tensor>& v, int tag) {
    for (int64_t i = 0; i < count; i++) {
      at::Tensor t = at::empty({bytes}, at::kByte);
      if (reinterpret_cast<uintptr_t>(t.data_ptr()) % small::kAlign != 0) error = "a block is not 64-byte aligned";
      std::memset(t.data_ptr(), (tag + i) & 0xff, bytes);
      v.push_back(std::move(t));
    }
  };
  auto verify = [&](const std::vector<at::Tensor>& v, int tag) {
    for (int64_t i = 0; i < static_cast<int64_t>(v.size()); i++) {
      const auto* p = static_cast<const uint8_t*>(v[i].data_ptr());
      for (int64_t j = 0; j < bytes; j++)
        if (p[j] != ((tag + i) & 0xff)) error = "a block lost what was written into it";
    }
  };
  std::vector<at::Tensor> made;
  std::thread([&] {
    try {
      make(made, 1);
    } catch (const std::exception& e) {
      error = e.what();
    }
  }).join();
  verify(made, 1);
  made.clear();  // freed on this thread
  make(made, 7);
  std::thread([&] {
    verify(made, 7);
    made.clear();  // freed on the new thread, which then exits (its cache is freed)
  }).join();
  if (!error.empty()) throw JsError{"GRAFT_NATIVE", "smallCacheThreadCheck: " + error};
  return jsBool(env, true);
}

}  // namespace

// Makes the small-block allocator libtorch's CPU allocator, once per process (every Node worker
// thread loading the addon calls this), over whatever CPU allocator is registered now.
void initAllocSmall(napi_env env, napi_value exports) {
  static std::once_flag once;
  std::call_once(once, [] {
    static SmallFirstAllocator a;
    a.base = c10::GetAllocator(c10::DeviceType::CPU);
    // priority 1: above c10's default (0); alloc.cc's caching allocator replaces it at the same
    // priority and serves its small requests from small::allocate itself
    c10::SetAllocator(c10::DeviceType::CPU, &a, 1);
  });
  defineFn(env, exports, "setSmallCache", entry<setSmallCache>);
  defineFn(env, exports, "smallCacheStats", entry<smallCacheStats>);
  defineFn(env, exports, "smallCacheThreadCheck", entry<smallCacheThreadCheck>);
}

}  // namespace graft
