// The small-block CPU allocator (alloc_small.cc): tensor buffers up to kMaxBytes come from
// per-thread free lists of 64-byte-aligned blocks instead of posix_memalign/free.
#pragma once
#include <c10/core/Allocator.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>

namespace graft {

// A 64-byte-aligned block from malloc, as c10's alloc_cpu makes (vectorized kernels rely on the
// alignment); nullptr when malloc refuses. free() releases it.
inline void* alignedAlloc(size_t n) {
  void* p = nullptr;
  return posix_memalign(&p, 64, n) == 0 ? p : nullptr;
}
namespace small {

// the largest request served from the free lists; larger ones go to the allocator underneath
constexpr size_t kMaxBytes = 16384;
// the default bound on the free blocks one thread keeps
constexpr size_t kDefaultCapBytes = 1 << 20;

// A block for n bytes (0 < n <= kMaxBytes) with its own deleter; an empty DataPtr (get() == nullptr)
// when the small cache is off (cap 0) or n is outside that range: the caller allocates it itself.
c10::DataPtr allocate(size_t n);

// Frees every thread's free blocks: this thread's now, other threads' at their next allocation or
// free (a thread touches only its own lists). Returns the bytes this thread released.
size_t releaseAll();

// The per-thread bound on cached free bytes; 0 turns the small path off (blocks still in use are
// freed correctly later). Releases every thread's cache as releaseAll does.
void setCap(size_t capBytes);
size_t cap();

struct Totals {
  uint64_t hits = 0, misses = 0, overflows = 0;
  size_t cachedBytes = 0, cachedBlocks = 0, threads = 0;
};
// summed over the threads that have a cache (read without stopping them: a moment's snapshot)
Totals totals();

}  // namespace small
}  // namespace graft
