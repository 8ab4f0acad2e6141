// N-API plumbing: exception guard, value conversion, tensor handles.
#include "graft.h"

#include <c10/util/Exception.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdlib>  // defines __GLIBC__ where the C library is glibc's
#include <ctime>
#include <sstream>

#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 33))
#include <malloc.h>
#define GRAFT_HEAP_SAMPLING 1
#endif

namespace graft {

static void throwJs(napi_env env, const std::string& code, const std::string& msg) {
  bool pending = false;
  napi_is_exception_pending(env, &pending);
  if (!pending) napi_throw_error(env, code.c_str(), msg.c_str());
}

napi_value guard(napi_env env, const char*, napi_value (*fn)(napi_env, napi_callback_info),
                 napi_callback_info info) {
  try {
    return fn(env, info);
  } catch (const JsError& e) {
    throwJs(env, e.code, e.message);
  } catch (const c10::Error& e) {
    throwJs(env, "GRAFT_TORCH", e.what_without_backtrace());
  } catch (const std::exception& e) {
    throwJs(env, "GRAFT_NATIVE", e.what());
  } catch (...) {
    throwJs(env, "GRAFT_NATIVE", "unknown native exception");
  }
  return nullptr;
}

void defineFn(napi_env env, napi_value exports, const char* name, napi_callback cb) {
  napi_value fn;
  NAPI_OK(napi_create_function(env, name, NAPI_AUTO_LENGTH, cb, nullptr, &fn));
  NAPI_OK(napi_set_named_property(env, exports, name, fn));
}

std::vector<napi_value> args(napi_env env, napi_callback_info info, size_t max) {
  std::vector<napi_value> out(max);
  size_t argc = max;
  NAPI_OK(napi_get_cb_info(env, info, &argc, out.data(), nullptr, nullptr));
  out.resize(argc < max ? argc : max);
  return out;
}

static void freeState(napi_env, void* data, void*) { delete static_cast<EnvState*>(data); }

EnvState& envState(napi_env env) {
  // one JS env per thread in Node: cache it, every handle conversion asks for it
  static thread_local napi_env lastEnv = nullptr;
  static thread_local EnvState* last = nullptr;
  if (env == lastEnv) return *last;
  void* data = nullptr;
  napi_get_instance_data(env, &data);
  if (!data) {
    data = new EnvState();
    NAPI_OK(napi_set_instance_data(env, data, freeState, nullptr));
  }
  lastEnv = env;
  last = static_cast<EnvState*>(data);
  return *last;
}

// The bytes a handle makes GC's to free. A view whose storage another tensor still holds frees none:
// its base's handle counts them (counting them again made V8 collect for memory that does not exist:
// the trainer's 2.4 MB view of a batch each step ran a major GC every two steps). A view reported
// after its base is gone owns the storage and counts it; so does any tensor that is not a view.
static int64_t bytesOf(const at::Tensor& t) {
  if (!t.defined() || !t.has_storage()) return 0;
  if (t.is_view() && t.storage().use_count() > 1) return 0;
  return static_cast<int64_t>(t.numel() * t.element_size());
}

napi_value wrap(napi_env env, at::Tensor t) {
  EnvState& st = envState(env);
  uint32_t index;
  if (!st.freeSlots.empty()) {
    index = st.freeSlots.back();
    st.freeSlots.pop_back();
  } else {
    if (st.slots.size() >= static_cast<size_t>(kGenScale)) throw JsError{"GRAFT_NATIVE", "too many live tensors"};
    index = static_cast<uint32_t>(st.slots.size());
    st.slots.emplace_back();
  }
  Slot& slot = st.slots[index];
  slot.t = std::move(t);
  st.live++;
  if (st.report) reportBytes(env, slot);
  return jsNumber(env, index + slot.gen * kGenScale);
}

// What a CPU tensor costs besides its bytes: TensorImpl, StorageImpl, the allocation's header.
constexpr int64_t kTensorOverhead = 512;
// Reports are batched: V8 hears of the sum once it moves by this much.
constexpr int64_t kExternalBatch = 1 << 20;

static void adjustExternal(napi_env env, int64_t delta) {
  EnvState& st = envState(env);
  st.pendingExternal += delta;
  if (st.pendingExternal >= kExternalBatch || st.pendingExternal <= -kExternalBatch) {
    int64_t ignored;
    napi_adjust_external_memory(env, st.pendingExternal, &ignored);
    st.pendingExternal = 0;
  }
}

static void reportNow(napi_env env, int64_t delta) {
  int64_t ignored;
  napi_adjust_external_memory(env, delta, &ignored);
}

#ifdef GRAFT_HEAP_SAMPLING
// A handle's own bytes undercount what waiting for GC costs. In a loop without tidy(), each step's
// output and loss stay alive until GC with their autograd graphs (nodes, metadata: ~10 KB a step for a
// small conv net, none of it in the handles' bytes), pinned between the step's freed activation
// buffers so malloc cannot merge them: the heap grew until V8 collected for its own reasons (every
// ~1,000 steps), RSS rose 1.6-17 % per 1,000 steps. So with glibc V8 also hears how much the memory
// in use *besides* the handles' bytes grew (mallinfo2, sampled at most once a millisecond while no
// tidy() scope is open; it walks the free lists, tens of microseconds).
//  - Only its troughs count: the lowest sample of each 250 ms window. A sample taken mid-step also
//    sees that step's activations (held by the graph, freed by backward), which are not garbage:
//    counted, they made V8 collect every ~40 steps for nothing.
//  - Only rises count, each kHeapWeight times, and a fall is never reported. V8 collects once the
//    external memory grew 64 MB since its last mark-compact; the garbage is freed after it (the
//    FinalizationRegistry's callbacks), and a fall reported then would raise the next collection's
//    threshold by as much: garbage would ratchet up cycle after cycle. With rises only, V8 collects
//    after each 4 MB of growth of the troughs, which a loop's garbage reaches in a few hundred steps.
// The total V8 hears so only grows; it is a pressure signal, not a size (process.memoryUsage()
// .external does not include it).
constexpr int64_t kSampleNs = 1000000;
// the 100x rule holds up to 2 s: with a 50 ms ceiling, a heap of many small free chunks (a loop of
// small tensors left to GC) made mallinfo2 take ~1 ms and 17 % of the loop's time
constexpr int64_t kMaxSampleNs = 2000000000;
constexpr int64_t kWindowNs = 250000000;
constexpr int64_t kHeapWeight = 16;
constexpr int64_t kEarlyBytes = (64 << 20) / kHeapWeight;

static int64_t threadCpuNs() {
  timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

static int64_t nowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

static void flushHeap(napi_env env, EnvState& st) {
  if (st.heapReported < kExternalBatch) return;
  reportNow(env, st.heapReported);
  st.heapReported = 0;
}

static void sampleHeap(napi_env env) {
  EnvState& st = envState(env);
  int64_t now = nowNs();
  if (now < st.nextSampleNs) return;
  int64_t cpu0 = threadCpuNs();
  struct mallinfo2 m = mallinfo2();
  // mallinfo2's cost grows with the free chunks it walks: 100k small tensors left to GC in a loop
  // that never yields made each call take milliseconds, and with a fixed 1 ms interval every op
  // paid for one (quadratic). The next sample waits 100x as long as this one took (<= 1 % of time),
  // in this thread's CPU time: wall time counted the times the OS ran other processes meanwhile, and
  // on a loaded machine samples came a second apart while the garbage piled up.
  st.nextSampleNs = now + std::clamp<int64_t>((threadCpuNs() - cpu0) * 100, kSampleNs, kMaxSampleNs);
  // The heap's size grows too while the bytes in use stay flat: pinned between freed buffers, the
  // graphs left to GC fragment it (free 96 MB in a 147 MB heap after 600 steps of a small conv net
  // without tidy). Each new high of the size counts as the troughs' rises do, at once.
  int64_t size = static_cast<int64_t>(m.arena + m.hblkhd);
  if (size > st.heapHigh) {
    if (st.heapHigh >= 0) st.heapReported += (size - st.heapHigh) * kHeapWeight;
    st.heapHigh = size;
  }
  int64_t hidden = static_cast<int64_t>(m.uordblks + m.hblkhd) - st.handleBytes;
  if (st.trough < 0 || hidden < st.trough) st.trough = hidden;
  // a window ends early once even its lowest sample is a collection's worth above the last trough:
  // a fast loop's garbage (10k results a second) must not wait out the window
  bool risen = st.heapBaseline >= 0 && st.trough - st.heapBaseline >= kEarlyBytes;
  if (now < st.windowEndNs && !risen) return flushHeap(env, st);
  st.windowEndNs = now + kWindowNs;
  int64_t trough = st.trough;
  st.trough = -1;
  if (st.heapBaseline >= 0 && trough > st.heapBaseline) st.heapReported += (trough - st.heapBaseline) * kHeapWeight;
  st.heapBaseline = trough;  // the reference for the next window's rise, after a fall too
  flushHeap(env, st);
}
#endif

void reportBytes(napi_env env, Slot& slot) {
  if (!slot.reported && slot.t.defined() && slot.t.is_cpu()) {
    // Every tensor GC may free counts, small ones too: a loop of small tensors left to GC made only
    // their small JS wrappers visible to V8, which then saw no reason to collect. Only CPU memory
    // pressures this process's heap. Reported as ArrayBuffers are: added now, taken back when freed.
    slot.reported = bytesOf(slot.t) + kTensorOverhead;
    envState(env).handleBytes += slot.reported;
    adjustExternal(env, slot.reported);
  }
#ifdef GRAFT_HEAP_SAMPLING
  sampleHeap(env);
#endif
}

Slot* slotOf(napi_env env, napi_value v) {
  double id;
  if (napi_get_value_double(env, v, &id) != napi_ok) throw JsError{"GRAFT_TYPE", "expected a tensor handle"};
  EnvState& st = envState(env);
  double genPart = std::floor(id / kGenScale);
  auto index = static_cast<size_t>(id - genPart * kGenScale);
  if (id < 0 || index >= st.slots.size()) throw JsError{"GRAFT_TYPE", "expected a tensor handle"};
  Slot& slot = st.slots[index];
  if (slot.gen != static_cast<uint32_t>(genPart) || !slot.t.defined()) return nullptr;
  return &slot;
}

at::Tensor& tensorOf(napi_env env, napi_value v) {
  Slot* slot = slotOf(env, v);
  if (!slot) throw JsError{"GRAFT_DISPOSED", "tensor was disposed"};
  return slot->t;
}

void release(napi_env env, napi_value v) {
  Slot* slot = slotOf(env, v);
  if (!slot) return;  // already released: dispose() then GC, or twice
  EnvState& st = envState(env);
  if (slot->reported) {
    adjustExternal(env, -slot->reported);
    st.handleBytes -= slot->reported;
    slot->reported = 0;
  }
  slot->t.reset();
  slot->gen = (slot->gen + 1) % (1u << 28);
#ifdef GRAFT_HEAP_SAMPLING
  if (st.report) sampleHeap(env);
#endif
  st.freeSlots.push_back(static_cast<uint32_t>(slot - st.slots.data()));
  st.live--;
}

napi_value undefinedValue(napi_env env) {
  napi_value u;
  napi_get_undefined(env, &u);
  return u;
}

napi_value jsNumber(napi_env env, double v) {
  napi_value r;
  NAPI_OK(napi_create_double(env, v, &r));
  return r;
}

napi_value setNumberField(napi_env env, napi_value obj, const char* name, double v) {
  NAPI_OK(napi_set_named_property(env, obj, name, jsNumber(env, v)));
  return obj;
}

napi_value jsBool(napi_env env, bool v) {
  napi_value r;
  NAPI_OK(napi_get_boolean(env, v, &r));
  return r;
}

napi_value jsString(napi_env env, const std::string& s) {
  napi_value r;
  NAPI_OK(napi_create_string_utf8(env, s.data(), s.size(), &r));
  return r;
}

double numberOf(napi_env env, napi_value v) {
  double d;
  if (napi_get_value_double(env, v, &d) != napi_ok) throw JsError{"GRAFT_TYPE", "expected a number"};
  return d;
}

c10::Scalar scalarOf(napi_env env, napi_value v) {
  napi_valuetype t;
  napi_typeof(env, v, &t);
  if (t == napi_boolean) return c10::Scalar(boolOf(env, v));
  double d = numberOf(env, v);
  // Python semantics: an integral literal is an int scalar, anything else (inf, nan too) a double;
  // the range check comes before the cast, which is undefined outside int64
  if (std::isfinite(d) && std::abs(d) < 9.007199254740992e15 && d == std::trunc(d))
    return c10::Scalar(static_cast<int64_t>(d));
  return c10::Scalar(d);
}

int64_t intOf(napi_env env, napi_value v) {
  double d = numberOf(env, v);
  // check before casting: the cast is undefined for NaN, infinities and values outside int64
  if (!std::isfinite(d) || d != std::trunc(d) || std::abs(d) > 9.2e18)
    throw JsError{"GRAFT_TYPE", "expected an integer, got " + std::to_string(d)};
  return static_cast<int64_t>(d);
}

bool boolOf(napi_env env, napi_value v) {
  bool b;
  if (napi_get_value_bool(env, v, &b) != napi_ok) throw JsError{"GRAFT_TYPE", "expected a boolean"};
  return b;
}

std::string stringOf(napi_env env, napi_value v) {
  size_t len = 0;
  if (napi_get_value_string_utf8(env, v, nullptr, 0, &len) != napi_ok)
    throw JsError{"GRAFT_TYPE", "expected a string"};
  std::string s(len, '\0');
  NAPI_OK(napi_get_value_string_utf8(env, v, s.data(), len + 1, &len));
  return s;
}

std::vector<int64_t> intListOf(napi_env env, napi_value v) {
  bool isArray = false;
  napi_is_array(env, v, &isArray);
  if (!isArray) return {intOf(env, v)};  // PyTorch accepts a lone int for int[N]
  uint32_t n = 0;
  NAPI_OK(napi_get_array_length(env, v, &n));
  std::vector<int64_t> out(n);
  for (uint32_t i = 0; i < n; i++) {
    napi_value e;
    NAPI_OK(napi_get_element(env, v, i, &e));
    out[i] = intOf(env, e);
  }
  return out;
}

bool isNullish(napi_env env, napi_value v) {
  napi_valuetype t;
  napi_typeof(env, v, &t);
  return t == napi_undefined || t == napi_null;
}

std::string describe(const at::Tensor& t) {
  if (!t.defined()) return "None";
  std::ostringstream s;
  s << "Tensor[";
  auto sizes = t.sizes();
  for (size_t i = 0; i < sizes.size(); i++) s << (i ? ", " : "") << sizes[i];
  s << "] " << c10::toString(t.scalar_type());
  if (!t.is_cpu()) s << " " << t.device().str();
  return s.str();
}

}  // namespace graft
