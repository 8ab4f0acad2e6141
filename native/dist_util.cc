// Plumbing for the c10d bindings: async work that settles a Promise, and packing several
// tensors into one flat buffer per dtype for a collective.
#include <c10/util/Exception.h>

#include <map>

#include "dist.h"

namespace graft {

// ---- async plumbing ----

struct AsyncCall {
  napi_async_work work = nullptr;
  napi_deferred deferred = nullptr;
  std::function<void()> run;
  std::function<napi_value(napi_env)> done;
  std::string error;  // set by run on failure
};

static void executeCall(napi_env, void* data) {
  auto* call = static_cast<AsyncCall*>(data);
  try {
    call->run();
  } catch (const c10::Error& e) {
    call->error = e.what_without_backtrace();
  } catch (const JsError& e) {
    call->error = e.message;
  } catch (const std::exception& e) {
    call->error = e.what();
  } catch (...) {
    call->error = "unknown native exception";
  }
  if (call->error.empty()) return;
  // libtorch's messages end with a C++ source location line; keep the first lines only
  auto cut = call->error.find("\nException raised from");
  if (cut != std::string::npos) call->error.resize(cut);
}

static napi_value errorValue(napi_env env, const std::string& code, const std::string& message) {
  napi_value c, m, err;
  napi_create_string_utf8(env, code.c_str(), NAPI_AUTO_LENGTH, &c);
  napi_create_string_utf8(env, message.c_str(), NAPI_AUTO_LENGTH, &m);
  napi_create_error(env, c, m, &err);
  return err;
}

static void completeCall(napi_env env, napi_status status, void* data) {
  std::unique_ptr<AsyncCall> call(static_cast<AsyncCall*>(data));
  napi_delete_async_work(env, call->work);
  if (status == napi_cancelled && call->error.empty()) call->error = "cancelled";
  if (!call->error.empty()) {
    napi_reject_deferred(env, call->deferred, errorValue(env, "GRAFT_DIST", call->error));
    return;
  }
  try {
    napi_value v = call->done ? call->done(env) : undefinedValue(env);
    napi_resolve_deferred(env, call->deferred, v);
  } catch (const JsError& e) {
    napi_reject_deferred(env, call->deferred, errorValue(env, e.code, e.message));
  } catch (const std::exception& e) {
    napi_reject_deferred(env, call->deferred, errorValue(env, "GRAFT_DIST", e.what()));
  }
}

napi_value runAsync(napi_env env, const char* name, std::function<void()> run,
                    std::function<napi_value(napi_env)> done) {
  auto call = std::make_unique<AsyncCall>();
  call->run = std::move(run);
  call->done = std::move(done);
  napi_value promise, resource;
  NAPI_OK(napi_create_promise(env, &call->deferred, &promise));
  NAPI_OK(napi_create_string_utf8(env, name, NAPI_AUTO_LENGTH, &resource));
  NAPI_OK(napi_create_async_work(env, nullptr, resource, executeCall, completeCall, call.get(), &call->work));
  NAPI_OK(napi_queue_async_work(env, call->work));
  call.release();
  return promise;
}

// ---- packing ----

Packed pack(const std::vector<at::Tensor>& ts) {
  Packed p;
  for (auto& t : ts) p.originals.push_back(t.detach());
  std::map<int, size_t> slot;
  for (size_t i = 0; i < ts.size(); i++) {
    int key = static_cast<int>(ts[i].scalar_type()) * 64 + static_cast<int>(ts[i].device().type());
    auto [it, fresh] = slot.emplace(key, p.groupsByDtype.size());
    if (fresh) p.groupsByDtype.emplace_back();
    p.groupsByDtype[it->second].push_back(i);
  }
  for (auto& idx : p.groupsByDtype) {
    bool direct = idx.size() == 1 && ts[idx[0]].is_contiguous();
    p.direct.push_back(direct);
    if (direct) {
      p.flats.push_back(p.originals[idx[0]]);
      continue;
    }
    std::vector<at::Tensor> parts;
    for (size_t i : idx) parts.push_back(p.originals[i].reshape({-1}));
    p.flats.push_back(at::cat(parts));
  }
  return p;
}

void unpack(Packed& p) {
  for (size_t g = 0; g < p.groupsByDtype.size(); g++) {
    auto& idx = p.groupsByDtype[g];
    if (p.direct[g]) continue;
    int64_t off = 0;
    for (size_t i : idx) {
      at::Tensor& dst = p.originals[i];
      int64_t n = dst.numel();
      dst.copy_(p.flats[g].narrow(0, off, n).view(dst.sizes()));
      off += n;
    }
  }
}

}  // namespace graft
