// A caching CPU allocator for tensor buffers, as PyTorch has for CUDA. A training step frees the
// same activation buffers every step and asks for them again in the next; glibc hands large ones
// back to the OS (munmap, heap trim) and the next step page-faults every byte in again. This
// allocator keeps freed buffers of at least `minBytes` in free lists keyed by size and hands them
// out again, bounded by `capBytes` of cached (free) memory; emptyCache() returns them to malloc.
// Nothing is evicted on a miss: evicting there (largest blocks first) made a steady training step
// evict what its own next step needed, two misses a step for ever. Shapes that change keep the cache
// at its cap, so the cap should be about a step's activation memory where shapes vary.
// Opt-in (GRAFT_ALLOCATOR=caching): against glibc malloc with raised thresholds (malloc.cc, the
// default) it removed a steady step's page faults as well, but glibc's heap merges free neighbours
// across varying shapes where a size-keyed cache cannot (docs/performance.md has the numbers).
// Registered with c10::SetAllocator for the CPU device, so every CPU tensor libtorch allocates
// (and oneDNN's scratch memory, which libtorch routes through the same allocator) goes through it.
// Blocks are 64-byte aligned, as c10's own alloc_cpu. Requests below minBytes go to the small-block
// allocator (alloc_small.cc) or, above its largest class, to malloc. A block the cache did not hand
// out (one from before the switch, or a malloc'd one) is recognised by a lookup and given to free().
#include <c10/core/Allocator.h>
#include <c10/core/CPUAllocator.h>
#include <c10/util/Exception.h>

#include <cstdlib>
#include <map>
#include <mutex>
#include <unordered_map>
#include <vector>

#include "alloc_small.h"
#include "graft.h"

#ifdef __GLIBC__
#include <malloc.h>
#endif

namespace graft {

namespace {

constexpr size_t kRound = 4096; // cached sizes are whole pages: near sizes share a free list

struct Stats {
  uint64_t hits = 0;       // requests served from the cache
  uint64_t misses = 0;     // cacheable requests that went to malloc
  uint64_t overflows = 0;  // freed blocks that went to free() because the cache was at its cap
  uint64_t emptied = 0;    // blocks returned to malloc by emptyCache (or an allocation failure)
};

struct Cache {
  std::mutex mu;
  size_t capBytes = 0;
  size_t minBytes = 0;
  // a cached block serves a request up to this factor smaller (1/4: a 1 MiB request may take a
  // block of up to 1.25 MiB), so shapes that vary a little (a shorter last batch) still reuse
  size_t slackDiv = 4;
  std::map<size_t, std::vector<void*>> free;  // size -> cached blocks of that size
  std::unordered_map<void*, size_t> live;     // blocks handed out by the cache -> their size
  size_t cachedBytes = 0, cachedBlocks = 0, liveBytes = 0, peakBytes = 0;
  Stats stats;
};

// never destroyed: tensors may be freed after static destructors have run at exit
Cache& cache() {
  static Cache* c = new Cache();
  return *c;
}

// Takes every cached block out under the lock, frees them outside it; returns the bytes released.
size_t releaseAll() {
  Cache& c = cache();
  std::vector<void*> blocks;
  size_t bytes;
  {
    std::lock_guard<std::mutex> g(c.mu);
    for (auto& kv : c.free) blocks.insert(blocks.end(), kv.second.begin(), kv.second.end());
    c.free.clear();
    bytes = c.cachedBytes;
    c.stats.emptied += blocks.size();
    c.cachedBytes = c.cachedBlocks = 0;
  }
  for (void* p : blocks) std::free(p);
  return bytes;
}

void freeBlock(void* p) {
  if (!p) return;
  Cache& c = cache();
  {
    std::lock_guard<std::mutex> g(c.mu);
    auto it = c.live.find(p);
    if (it != c.live.end()) {
      size_t size = it->second;
      c.live.erase(it);
      c.liveBytes -= size;
      if (c.cachedBytes + size <= c.capBytes) {
        c.free[size].push_back(p);
        c.cachedBytes += size;
        c.cachedBlocks++;
        return;
      }
      c.stats.overflows++;
    }
  }
  std::free(p);  // small, foreign (allocated before the switch) or over the cap
}

// Takes a cached block of at least `size` and at most size + size/slackDiv bytes; nullptr if none.
void* takeCached(Cache& c, size_t size, size_t& got) {
  auto it = c.free.lower_bound(size);
  if (it == c.free.end() || it->first > size + size / c.slackDiv) return nullptr;
  void* p = it->second.back();
  got = it->first;
  it->second.pop_back();
  if (it->second.empty()) c.free.erase(it);
  c.cachedBytes -= got;
  c.cachedBlocks--;
  return p;
}

struct CachingCPUAllocator final : public c10::Allocator {
  c10::DataPtr allocate(size_t n) const override {
    c10::Device cpu(c10::DeviceType::CPU);
    if (n == 0) return {nullptr, nullptr, &freeBlock, cpu};
    Cache& c = cache();
    if (n < c.minBytes) {
      if (c10::DataPtr d = small::allocate(n)) return d;
      void* p = alignedAlloc(n);
      TORCH_CHECK(p, "graft's CPU allocator: out of memory allocating ", n, " bytes");
      return {p, p, &freeBlock, cpu};
    }
    size_t size = (n + kRound - 1) / kRound * kRound;
    {
      std::lock_guard<std::mutex> g(c.mu);
      size_t got = 0;
      if (void* p = takeCached(c, size, got)) {
        c.stats.hits++;
        c.live.emplace(p, got);
        c.liveBytes += got;
        if (c.liveBytes > c.peakBytes) c.peakBytes = c.liveBytes;
        return {p, p, &freeBlock, cpu};
      }
      c.stats.misses++;
    }
    void* p = alignedAlloc(size);
    if (!p) {  // memory pressure: give the cache back to malloc and try once more
      releaseAll();
      p = alignedAlloc(size);
    }
    TORCH_CHECK(p, "graft's CPU allocator: out of memory allocating ", n, " bytes");
    std::lock_guard<std::mutex> g(c.mu);
    c.live.emplace(p, size);
    c.liveBytes += size;
    if (c.liveBytes > c.peakBytes) c.peakBytes = c.liveBytes;
    return {p, p, &freeBlock, cpu};
  }
  // data == context for every block, so raw_allocate / raw_deallocate (oneDNN's path) work
  c10::DeleterFnPtr raw_deleter() const override { return &freeBlock; }
};

CachingCPUAllocator theAllocator;
bool installed = false;

}  // namespace

size_t arenaReleaseFree();  // alloc_arena.cc

// useCachingAllocator(capBytes, minBytes): makes the caching allocator libtorch's CPU allocator (once;
// later calls change the cap and minimum). Call before the first tensor so every buffer goes through
// it; blocks allocated earlier are still freed correctly.
static napi_value useCachingAllocator(napi_env env, napi_callback_info info) {
  auto a = args(env, info, 2);
  int64_t cap = intOf(env, a.at(0)), min = intOf(env, a.at(1));
  if (cap < 0 || min < 0) throw JsError{"GRAFT_ARGS", "useCachingAllocator(capBytes, minBytes) needs sizes >= 0"};
  Cache& c = cache();
  bool over;
  {
    std::lock_guard<std::mutex> g(c.mu);
    c.capBytes = static_cast<size_t>(cap);
    c.minBytes = static_cast<size_t>(min);
    over = c.cachedBytes > c.capBytes;
  }
  // a lower cap takes effect now, not only as blocks come back
  if (over) releaseAll();
  if (!installed) {
    // priority 1: above c10's default CPU allocator (registered at 0)
    c10::SetAllocator(c10::DeviceType::CPU, &theAllocator, 1);
    installed = true;
  }
  return jsBool(env, c10::GetAllocator(c10::DeviceType::CPU) == &theAllocator);
}

// emptyCache() -> bytes the caching and small-block caches returned to malloc (the small caches of
// other threads empty themselves at their next allocation or free) and the arena's free pages released.
// Then malloc_trim hands glibc's free heap pages back to the OS too (what GRAFT_MALLOC=training otherwise
// keeps for the next step).
static napi_value emptyCache(napi_env env, napi_callback_info) {
  size_t bytes = releaseAll() + small::releaseAll() + arenaReleaseFree();
#ifdef __GLIBC__
  malloc_trim(0);
#endif
  return jsNumber(env, static_cast<double>(bytes));
}

// allocatorStats() -> {caching, capBytes, minBytes, cachedBytes, cachedBlocks, liveBytes, peakBytes,
// hits, misses, overflows, emptied}; liveBytes counts blocks the cache handed out and not yet freed
static napi_value allocatorStats(napi_env env, napi_callback_info) {
  Cache& c = cache();
  napi_value o;
  NAPI_OK(napi_create_object(env, &o));
  NAPI_OK(napi_set_named_property(env, o, "caching",
                                  jsBool(env, installed && c10::GetAllocator(c10::DeviceType::CPU) == &theAllocator)));
  std::lock_guard<std::mutex> g(c.mu);
  setNumberField(env, o, "capBytes", static_cast<double>(c.capBytes));
  setNumberField(env, o, "minBytes", static_cast<double>(c.minBytes));
  setNumberField(env, o, "cachedBytes", static_cast<double>(c.cachedBytes));
  setNumberField(env, o, "cachedBlocks", static_cast<double>(c.cachedBlocks));
  setNumberField(env, o, "liveBytes", static_cast<double>(c.liveBytes));
  setNumberField(env, o, "peakBytes", static_cast<double>(c.peakBytes));
  setNumberField(env, o, "hits", static_cast<double>(c.stats.hits));
  setNumberField(env, o, "misses", static_cast<double>(c.stats.misses));
  setNumberField(env, o, "overflows", static_cast<double>(c.stats.overflows));
  setNumberField(env, o, "emptied", static_cast<double>(c.stats.emptied));
  return o;
}

void initAllocSmall(napi_env env, napi_value exports);  // alloc_small.cc
void initAllocArena(napi_env env, napi_value exports);  // alloc_arena.cc

void initAlloc(napi_env env, napi_value exports) {
  initAllocSmall(env, exports);  // the CPU allocator until the arena or the cache is chosen
  initAllocArena(env, exports);
  defineFn(env, exports, "useCachingAllocator", entry<useCachingAllocator>);
  defineFn(env, exports, "emptyCache", entry<emptyCache>);
  defineFn(env, exports, "allocatorStats", entry<allocatorStats>);
}

}  // namespace graft
