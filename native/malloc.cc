// glibc malloc set up for training. Under glibc's defaults a buffer above the (dynamic) mmap
// threshold is mmapped and unmapped on free, and a free heap top above 128 KiB is trimmed: a training
// step frees its activations and the next step faults the same megabytes back in (27.9k minor page
// faults per ResNet-18 step here). Raising both thresholds once at load (and M_MMAP_MAX 0 for buffers
// above the 32 MiB threshold ceiling; the values come from src/binding/malloc.ts) keeps those pages in
// the heap for reuse. mallopt must be called in-process: glibc reads MALLOC_MMAP_THRESHOLD_ only at start.
#include <cstdlib>  // defines __GLIBC__ where the C library is glibc's

#include "graft.h"

#ifdef __GLIBC__
#include <malloc.h>
#endif

namespace graft {

// What configureMalloc applied; -1 = left at glibc's default (dynamic mmap threshold, 128 KiB trim).
struct MallocSetting {
  int64_t mmapThreshold = -1;
  int64_t trimThreshold = -1;
  int64_t mmapMax = -1;
};
static MallocSetting applied;

static napi_value setField(napi_env env, napi_value obj, const char* name, napi_value v) {
  NAPI_OK(napi_set_named_property(env, obj, name, v));
  return obj;
}

#ifdef __GLIBC__
// mallopt takes an int and answers 1 on success; glibc refuses an mmap threshold above 32 MiB
// (HEAP_MAX_SIZE / 2 on 64-bit), so the caller sees the refusal instead of a silent no-op.
static void apply(int param, const char* name, int64_t value, int64_t& slot) {
  if (value < 0) return;
  if (value > INT32_MAX) throw JsError{"GRAFT_ARGS", std::string(name) + " must fit an int (< 2 GiB)"};
  if (mallopt(param, static_cast<int>(value)) != 1)
    throw JsError{"GRAFT_ARGS", std::string("mallopt(") + name + ", " + std::to_string(value) + ") was refused"};
  slot = value;
}
#endif

// configureMalloc(mmapThreshold, trimThreshold, mmapMax): each a byte count/count, or -1 to leave it.
// Returns false where malloc is not glibc's (nothing to set).
static napi_value configureMalloc(napi_env env, napi_callback_info info) {
  auto a = args(env, info, 3);
  int64_t mmap = intOf(env, a.at(0)), trim = intOf(env, a.at(1)), mmapMax = intOf(env, a.at(2));
#ifdef __GLIBC__
  // setting M_MMAP_THRESHOLD also turns off glibc's dynamic threshold, which otherwise only rises
  // after a large mmapped block is freed, i.e. after the first step already paid for it
  apply(M_MMAP_THRESHOLD, "M_MMAP_THRESHOLD", mmap, applied.mmapThreshold);
  apply(M_TRIM_THRESHOLD, "M_TRIM_THRESHOLD", trim, applied.trimThreshold);
  apply(M_MMAP_MAX, "M_MMAP_MAX", mmapMax, applied.mmapMax);
  return jsBool(env, true);
#else
  (void)mmap, (void)trim, (void)mmapMax;
  return jsBool(env, false);
#endif
}

// mallocInfo() -> {glibc, mmapThreshold, trimThreshold, mmapMax (as applied, -1 = glibc default),
// heapBytes, mmapBytes, mmapBlocks, freeBytes (mallinfo2, summed over arenas; 0 without glibc)}
static napi_value mallocInfo(napi_env env, napi_callback_info) {
  napi_value o;
  NAPI_OK(napi_create_object(env, &o));
#ifdef __GLIBC__
  setField(env, o, "glibc", jsBool(env, true));
#if __GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 33)
  struct mallinfo2 m = mallinfo2();
#else
  struct mallinfo m = mallinfo();
#endif
  setField(env, o, "heapBytes", jsNumber(env, static_cast<double>(m.arena)));
  setField(env, o, "mmapBytes", jsNumber(env, static_cast<double>(m.hblkhd)));
  setField(env, o, "mmapBlocks", jsNumber(env, static_cast<double>(m.hblks)));
  setField(env, o, "freeBytes", jsNumber(env, static_cast<double>(m.fordblks)));
#else
  setField(env, o, "glibc", jsBool(env, false));
  for (const char* k : {"heapBytes", "mmapBytes", "mmapBlocks", "freeBytes"}) setField(env, o, k, jsNumber(env, 0));
#endif
  setField(env, o, "mmapThreshold", jsNumber(env, static_cast<double>(applied.mmapThreshold)));
  setField(env, o, "trimThreshold", jsNumber(env, static_cast<double>(applied.trimThreshold)));
  setField(env, o, "mmapMax", jsNumber(env, static_cast<double>(applied.mmapMax)));
  return o;
}

void initMalloc(napi_env env, napi_value exports) {
  defineFn(env, exports, "configureMalloc", entry<configureMalloc>);
  defineFn(env, exports, "mallocInfo", entry<mallocInfo>);
}

}  // namespace graft
