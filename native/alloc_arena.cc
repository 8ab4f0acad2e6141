// The arena: graft's default home for large CPU tensor buffers. glibc's heap (even with malloc.cc's
// training thresholds) puts a step's activation buffers and the small C++ objects of autograd graphs
// side by side; graphs left to the garbage collector outlive their step, pin the gaps between freed
// buffers, and the next step's buffers no longer fit where the last step's were, so a loop without
// tidy() grew its RSS by 9 % per 1,000 steps. Here buffers of at least `minBytes` live in one
// reserved range of address space that nothing else allocates from:
// - sizes are whole pages; a request takes the smallest free block that fits (lowest address on a
//   tie) and leaves the rest free; a freed block merges with its free neighbours at once;
// - the used range grows at its top (mprotect of reserved PROT_NONE memory, so only what is used is
//   committed, even under strict overcommit), and a free top larger than `trimBytes` is handed back
//   to the OS (what glibc's M_TRIM_THRESHOLD does for its heap);
// - free blocks keep their pages, so a training step's buffers are not page-faulted in again;
//   emptyCache() releases every free page (madvise) without giving up the address range.
// Unlike a size-keyed cache (alloc.cc), free memory is one pool: shapes that vary reuse it as
// glibc's heap would. A request the range cannot hold, or one made when no range could be reserved,
// goes to posix_memalign; the deleter tells the two apart by address.
#include <c10/core/Allocator.h>
#include <c10/core/CPUAllocator.h>
#include <c10/util/Exception.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <map>
#include <mutex>
#include <set>
#include <unordered_map>
#include <utility>

#include "alloc_small.h"
#include "graft.h"

namespace graft {

namespace {

constexpr size_t kPage = 4096;
constexpr size_t kCommitStep = size_t{32} << 20;  // mprotect the used range in steps this large

struct Stats {
  uint64_t reuses = 0;     // requests served from a free block
  uint64_t grows = 0;      // requests that extended the used range
  uint64_t fallbacks = 0;  // requests the range could not hold, served by posix_memalign
  uint64_t trims = 0;      // times a free top was handed back to the OS
};

struct Arena {
  std::mutex mu;
  char* base = nullptr;
  size_t reserved = 0;   // bytes of address space reserved
  size_t top = 0;        // offset where the used range ends
  size_t committed = 0;  // offset up to which the range is readable and writable
  size_t minBytes = 64 * 1024;
  size_t trimBytes = size_t{1} << 30;
  std::map<size_t, size_t> freeAt;                 // offset -> size of each free block
  std::set<std::pair<size_t, size_t>> freeBySize;  // (size, offset) of each free block
  std::unordered_map<size_t, size_t> live;         // offset -> size of each block in use
  size_t liveBytes = 0, peakBytes = 0, freeBytes = 0;
  Stats stats;
};

// never destroyed: tensors may be freed after static destructors have run at exit
Arena& arena() {
  static Arena* a = new Arena();
  return *a;
}

// Reserves the address range: twice the machine's memory, at least 4 GiB and at most 1 TiB, halving
// while the kernel refuses (a ulimit -v). PROT_NONE reserves address space only.
void reserve(Arena& a) {
  long pages = sysconf(_SC_PHYS_PAGES);
  size_t want = pages > 0 ? static_cast<size_t>(pages) * kPage * 2 : size_t{16} << 30;
  want = std::min(std::max(want, size_t{4} << 30), size_t{1} << 40);
  for (size_t n = want; n >= (size_t{1} << 30); n /= 2) {
    void* p = mmap(nullptr, n, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p != MAP_FAILED) {
      a.base = static_cast<char*>(p);
      a.reserved = n;
      return;
    }
  }
}

void insertFree(Arena& a, size_t off, size_t size) {
  a.freeAt.emplace(off, size);
  a.freeBySize.emplace(size, off);
  a.freeBytes += size;
}

void eraseFree(Arena& a, std::map<size_t, size_t>::iterator it) {
  a.freeBySize.erase({it->second, it->first});
  a.freeBytes -= it->second;
  a.freeAt.erase(it);
}

// Makes the range readable and writable up to `end`; false when the kernel refuses (memory limit).
bool commitTo(Arena& a, size_t end) {
  if (end <= a.committed) return true;
  size_t to = std::min(a.reserved, (end + kCommitStep - 1) / kCommitStep * kCommitStep);
  if (mprotect(a.base + a.committed, to - a.committed, PROT_READ | PROT_WRITE) != 0) {
    to = (end + kPage - 1) / kPage * kPage;  // retry with exactly what is needed
    if (mprotect(a.base + a.committed, to - a.committed, PROT_READ | PROT_WRITE) != 0) return false;
  }
  a.committed = to;
  return true;
}

// Hands the range from `off` to the committed end back to the OS and makes it PROT_NONE again.
void trimFrom(Arena& a, size_t off) {
  size_t from = (off + kPage - 1) / kPage * kPage;
  if (from >= a.committed) return;
  madvise(a.base + from, a.committed - from, MADV_DONTNEED);
  mprotect(a.base + from, a.committed - from, PROT_NONE);
  a.committed = from;
  a.stats.trims++;
}

// The offset of a block of `size` bytes (a page multiple), or SIZE_MAX; called under the lock.
size_t take(Arena& a, size_t size) {
  auto best = a.freeBySize.lower_bound({size, 0});
  if (best != a.freeBySize.end()) {
    size_t off = best->second, have = best->first;
    eraseFree(a, a.freeAt.find(off));
    if (have > size) insertFree(a, off + size, have - size);
    a.stats.reuses++;
    return off;
  }
  // grow: a free block at the top is extended rather than left behind
  size_t off = a.top;
  if (!a.freeAt.empty()) {
    auto last = std::prev(a.freeAt.end());
    if (last->first + last->second == a.top) off = last->first;
  }
  if (off + size > a.reserved || !commitTo(a, off + size)) return SIZE_MAX;
  if (off != a.top) eraseFree(a, a.freeAt.find(off));
  a.top = off + size;
  a.stats.grows++;
  return off;
}

void arenaFree(void* p) {
  if (!p) return;
  Arena& a = arena();
  char* c = static_cast<char*>(p);
  if (c < a.base || c >= a.base + a.reserved) {
    std::free(p);  // a posix_memalign block: small, a fallback, or from before the arena
    return;
  }
  std::lock_guard<std::mutex> g(a.mu);
  size_t off = static_cast<size_t>(c - a.base);
  auto it = a.live.find(off);
  TORCH_CHECK(it != a.live.end(), "graft's arena allocator: freeing a block it does not hold");
  size_t size = it->second;
  a.live.erase(it);
  a.liveBytes -= size;
  // merge with the free neighbours on both sides
  auto next = a.freeAt.find(off + size);
  if (next != a.freeAt.end()) {
    size += next->second;
    eraseFree(a, next);
  }
  auto after = a.freeAt.lower_bound(off);
  if (after != a.freeAt.begin()) {
    auto prev = std::prev(after);
    if (prev->first + prev->second == off) {
      off = prev->first;
      size += prev->second;
      eraseFree(a, prev);
    }
  }
  if (off + size == a.top && size > a.trimBytes) {
    a.top = off;
    trimFrom(a, off);
    return;
  }
  insertFree(a, off, size);
}

struct ArenaAllocator final : public c10::Allocator {
  c10::DataPtr allocate(size_t n) const override {
    c10::Device cpu(c10::DeviceType::CPU);
    if (n == 0) return {nullptr, nullptr, &arenaFree, cpu};
    Arena& a = arena();
    if (n < a.minBytes || !a.base) {
      if (c10::DataPtr d = small::allocate(n)) return d;
    } else {
      size_t size = (n + kPage - 1) / kPage * kPage;
      std::lock_guard<std::mutex> g(a.mu);
      size_t off = take(a, size);
      if (off != SIZE_MAX) {
        a.live.emplace(off, size);
        a.liveBytes += size;
        a.peakBytes = std::max(a.peakBytes, a.liveBytes);
        void* p = a.base + off;
        return {p, p, &arenaFree, cpu};
      }
      a.stats.fallbacks++;
    }
    void* p = alignedAlloc(n);
    TORCH_CHECK(p, "graft's CPU allocator: out of memory allocating ", n, " bytes");
    return {p, p, &arenaFree, cpu};
  }
  // data == context for every block, so raw_allocate / raw_deallocate (oneDNN's path) work
  c10::DeleterFnPtr raw_deleter() const override { return &arenaFree; }
};

ArenaAllocator theArena;

// useArenaAllocator(minBytes, trimBytes): makes the arena libtorch's CPU allocator (the first call
// reserves the range; later calls change the settings). False when no range could be reserved:
// every request then goes to the small-block lists or posix_memalign.
napi_value useArenaAllocator(napi_env env, napi_callback_info info) {
  auto args_ = args(env, info, 2);
  int64_t min = intOf(env, args_.at(0)), trim = intOf(env, args_.at(1));
  if (min < 0 || trim < 0) throw JsError{"GRAFT_ARGS", "useArenaAllocator(minBytes, trimBytes) needs sizes >= 0"};
  Arena& a = arena();
  {
    std::lock_guard<std::mutex> g(a.mu);
    a.minBytes = std::max<size_t>(static_cast<size_t>(min), 1);
    a.trimBytes = static_cast<size_t>(trim);
    if (!a.base && a.reserved == 0) reserve(a);
  }
  // priority 1: above c10's default CPU allocator (registered at 0), in place of SmallFirstAllocator
  c10::SetAllocator(c10::DeviceType::CPU, &theArena, 1);
  return jsBool(env, a.base != nullptr);
}

}  // namespace

// Releases the pages of every free block (they stay in the range, and fault in again when reused)
// and hands a free top back; returns the bytes released. Called by emptyCache().
size_t arenaReleaseFree() {
  Arena& a = arena();
  std::lock_guard<std::mutex> g(a.mu);
  size_t bytes = 0;
  if (!a.freeAt.empty()) {
    auto last = std::prev(a.freeAt.end());
    if (last->first + last->second == a.top) {
      bytes += a.top - last->first;
      a.top = last->first;
      trimFrom(a, a.top);
      eraseFree(a, last);
    }
  }
  for (auto& [off, size] : a.freeAt) {
    // only whole pages inside the block: blocks are page multiples, so that is all of it
    madvise(a.base + off, size, MADV_DONTNEED);
    bytes += size;
  }
  return bytes;
}

// arenaStats() -> {active, reservedBytes, usedBytes, committedBytes, liveBytes, peakBytes, freeBytes,
// freeBlocks, minBytes, trimBytes, reuses, grows, fallbacks, trims}
static napi_value arenaStats(napi_env env, napi_callback_info) {
  Arena& a = arena();
  napi_value o;
  NAPI_OK(napi_create_object(env, &o));
  NAPI_OK(napi_set_named_property(
      env, o, "active", jsBool(env, a.base && c10::GetAllocator(c10::DeviceType::CPU) == &theArena)));
  std::lock_guard<std::mutex> g(a.mu);
  setNumberField(env, o, "reservedBytes", static_cast<double>(a.reserved));
  setNumberField(env, o, "usedBytes", static_cast<double>(a.top));
  setNumberField(env, o, "committedBytes", static_cast<double>(a.committed));
  setNumberField(env, o, "liveBytes", static_cast<double>(a.liveBytes));
  setNumberField(env, o, "peakBytes", static_cast<double>(a.peakBytes));
  setNumberField(env, o, "freeBytes", static_cast<double>(a.freeBytes));
  setNumberField(env, o, "freeBlocks", static_cast<double>(a.freeAt.size()));
  setNumberField(env, o, "minBytes", static_cast<double>(a.minBytes));
  setNumberField(env, o, "trimBytes", static_cast<double>(a.trimBytes));
  setNumberField(env, o, "reuses", static_cast<double>(a.stats.reuses));
  setNumberField(env, o, "grows", static_cast<double>(a.stats.grows));
  setNumberField(env, o, "fallbacks", static_cast<double>(a.stats.fallbacks));
  setNumberField(env, o, "trims", static_cast<double>(a.stats.trims));
  return o;
}

void initAllocArena(napi_env env, napi_value exports) {
  defineFn(env, exports, "useArenaAllocator", entry<useArenaAllocator>);
  defineFn(env, exports, "arenaStats", entry<arenaStats>);
}

}  // namespace graft
