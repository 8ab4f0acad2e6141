// Node-API surface of the image fast path (image_decode.cc, image_resample.cc): a batch's files are
// read and their headers parsed on a libuv thread (JS draws each crop box from the size), then each
// image is decoded (a JPEG only as far as its crop box needs), cropped, resized, flipped and
// normalized straight into its slot of a float32 batch tensor, one image after the other while its
// pixels are still in cache, on one or more libuv threads; the JS thread never touches a pixel.
// Built without libpng / libjpeg (no GRAFT_HAVE_IMAGE), imageAvailable() is false and graft decodes
// with sharp.
#include <c10/util/Exception.h>

#include <array>
#include <atomic>
#include <cstring>
#include <functional>
#include <memory>
#include <mutex>

#include "graft.h"
#include "image.h"
#include "image_napi.h"

namespace graft {

namespace {

struct ImageWork {
  napi_async_work work = nullptr;
  napi_deferred deferred = nullptr;
  std::function<void()> run;
  std::function<napi_value(napi_env)> done;
  std::string error;
};

void executeWork(napi_env, void* data) {
  auto* w = static_cast<ImageWork*>(data);
  try {
    w->run();
  } catch (const std::exception& e) {
    w->error = e.what();
  } catch (...) {
    w->error = "unknown native exception";
  }
}

napi_value errorOf(napi_env env, const std::string& message) {
  napi_value c, m, err;
  napi_create_string_utf8(env, "GRAFT_IMAGE", NAPI_AUTO_LENGTH, &c);
  napi_create_string_utf8(env, message.c_str(), NAPI_AUTO_LENGTH, &m);
  napi_create_error(env, c, m, &err);
  return err;
}

void completeWork(napi_env env, napi_status status, void* data) {
  std::unique_ptr<ImageWork> w(static_cast<ImageWork*>(data));
  napi_delete_async_work(env, w->work);
  if (status == napi_cancelled && w->error.empty()) w->error = "cancelled";
  if (!w->error.empty()) {
    napi_reject_deferred(env, w->deferred, errorOf(env, w->error));
    return;
  }
  try {
    napi_resolve_deferred(env, w->deferred, w->done(env));
  } catch (const JsError& e) {
    napi_reject_deferred(env, w->deferred, errorOf(env, e.message));
  } catch (const std::exception& e) {
    napi_reject_deferred(env, w->deferred, errorOf(env, e.what()));
  }
}

napi_value queue(napi_env env, std::function<void()> run, std::function<napi_value(napi_env)> done) {
  auto w = std::make_unique<ImageWork>();
  w->run = std::move(run);
  w->done = std::move(done);
  napi_value promise, name;
  NAPI_OK(napi_create_promise(env, &w->deferred, &promise));
  NAPI_OK(napi_create_string_utf8(env, "graft:image", NAPI_AUTO_LENGTH, &name));
  NAPI_OK(napi_create_async_work(env, nullptr, name, executeWork, completeWork, w.get(), &w->work));
  NAPI_OK(napi_queue_async_work(env, w->work));
  w.release();
  return promise;
}

// A batch's files as read: bytes and header (status, size) per file, until imageToBatch decodes them.
struct Files {
  std::vector<std::vector<uint8_t>> bytes;
  std::vector<image::Rgb> headers;
};

void freeFiles(napi_env, void* data, void*) { delete static_cast<Files*>(data); }

napi_value imageAvailable(napi_env env, napi_callback_info) {
#ifdef GRAFT_HAVE_IMAGE
  return jsBool(env, true);
#else
  return jsBool(env, false);
#endif
}

// imageReadFiles(paths, maxPixels) -> Promise<[files, Int32Array(status, w, h per file), messages]>:
// each file's bytes and header; a file whose header is good may still fail to decode in imageToBatch
napi_value imageReadFiles(napi_env env, napi_callback_info info) {
  auto a = args(env, info, 2);
  if (a.size() < 2) throw JsError{"GRAFT_ARGS", "imageReadFiles(paths, maxPixels)"};
  uint32_t n = 0;
  NAPI_OK(napi_get_array_length(env, a[0], &n));
  auto paths = std::make_shared<std::vector<std::string>>();
  for (uint32_t i = 0; i < n; i++) {
    napi_value v;
    NAPI_OK(napi_get_element(env, a[0], i, &v));
    paths->push_back(stringOf(env, v));
  }
  double maxPixels = numberOf(env, a[1]);
  auto out = std::make_shared<Files>();
  out->bytes.resize(n);
  out->headers.resize(n);
  return queue(
      env,
      [paths, out, maxPixels] {
        for (size_t i = 0; i < paths->size(); i++) {
          auto& bytes = out->bytes[i];
          if (image::readFile((*paths)[i], &bytes, &out->headers[i]))
            image::probe(bytes.data(), bytes.size(), maxPixels, &out->headers[i]);
          if (out->headers[i].status != image::kOk) std::vector<uint8_t>().swap(bytes);
        }
      },
      [out](napi_env env) {
        const size_t n = out->headers.size();
        void* buf = nullptr;
        napi_value ab, status, messages, files, result;
        NAPI_OK(napi_create_arraybuffer(env, n * 3 * sizeof(int32_t), &buf, &ab));
        auto* s = static_cast<int32_t*>(buf);
        NAPI_OK(napi_create_array_with_length(env, n, &messages));
        for (size_t i = 0; i < n; i++) {
          auto& h = out->headers[i];
          s[i * 3] = h.status;
          s[i * 3 + 1] = h.width;
          s[i * 3 + 2] = h.height;
          NAPI_OK(napi_set_element(env, messages, i, jsString(env, h.message)));
        }
        NAPI_OK(napi_create_typedarray(env, napi_int32_array, n * 3, ab, 0, &status));
        auto* held = new Files{std::move(out->bytes), std::move(out->headers)};
        NAPI_OK(napi_create_external(env, held, freeFiles, nullptr, &files));
        NAPI_OK(napi_create_array_with_length(env, 3, &result));
        NAPI_OK(napi_set_element(env, result, 0, files));
        NAPI_OK(napi_set_element(env, result, 1, status));
        NAPI_OK(napi_set_element(env, result, 2, messages));
        return result;
      });
}

// One batch's work, shared by the libuv threads that run it: each takes the next plan until none is
// left; the last thread to finish resolves the promise.
struct BatchJob {
  std::vector<image::Plan> plans;
  std::unique_ptr<Files> files;
  at::Tensor out;
  int outH, outW, filter;
  bool normalize;
  std::array<float, 6> ms;
  std::atomic<size_t> next{0};
  std::vector<int32_t> status;  // per plan: kOk, or why its image did not decode
  std::vector<std::string> messages;
  napi_deferred deferred = nullptr;
  int pending = 0;  // async works not completed yet (touched on the JS thread only)
  std::string error;
  std::mutex errorMutex;

  void runPlans() {
    static thread_local std::vector<uint8_t> px;
    const size_t slot = static_cast<size_t>(3) * outH * outW;
    float* base = out.data_ptr<float>();
    for (size_t k; (k = next.fetch_add(1)) < plans.size();) {
      const auto& p = plans[k];
      float* dst = base + k * slot;
      if (p.src < 0) {  // a row the caller fills (imagePutSample)
        std::fill(dst, dst + slot, 0.0f);
        continue;
      }
      const auto& bytes = files->bytes[p.src];
      image::Rgb im;
      const image::Region region{p.c1x, p.c1y, p.c1w, p.c1h};
      image::decode(bytes.data(), bytes.size(), 0, &im, &region);
      bool ok = im.status == image::kOk && im.x0 <= p.c1x && im.y0 <= p.c1y && im.x0 + im.cols >= p.c1x + p.c1w &&
                im.y0 + im.rows >= p.c1y + p.c1h;
      if (ok) {
        image::applyPlan(im, p, filter, &px);
        image::toTensor(px.data(), outW, outH, normalize ? ms.data() : nullptr, ms.data() + 3, dst);
      } else {
        status[k] = im.status == image::kOk ? image::kDecodeError : im.status;
        messages[k] = im.status == image::kOk ? "decoded size differs from the header's" : im.message;
        std::fill(dst, dst + slot, 0.0f);
      }
      image::giveBuffer(std::move(im.pixels));
    }
  }
};

struct BatchWork {
  napi_async_work work = nullptr;
  std::shared_ptr<BatchJob> job;
};

void executeBatch(napi_env, void* data) {
  BatchJob* job = static_cast<BatchWork*>(data)->job.get();
  try {
    job->runPlans();
  } catch (const std::exception& e) {
    std::lock_guard<std::mutex> lock(job->errorMutex);
    job->error = e.what();
  }
}

void completeBatch(napi_env env, napi_status status, void* data) {
  std::unique_ptr<BatchWork> w(static_cast<BatchWork*>(data));
  napi_delete_async_work(env, w->work);
  auto& job = *w->job;
  if (status == napi_cancelled && job.error.empty()) job.error = "cancelled";
  if (--job.pending > 0) return;
  if (!job.error.empty()) {
    napi_reject_deferred(env, job.deferred, errorOf(env, job.error));
    return;
  }
  try {
    const size_t n = job.plans.size();
    void* buf = nullptr;
    napi_value ab, statuses, messages, result;
    NAPI_OK(napi_create_arraybuffer(env, n * sizeof(int32_t), &buf, &ab));
    std::memcpy(buf, job.status.data(), n * sizeof(int32_t));
    NAPI_OK(napi_create_typedarray(env, napi_int32_array, n, ab, 0, &statuses));
    NAPI_OK(napi_create_array_with_length(env, n, &messages));
    for (size_t i = 0; i < n; i++) NAPI_OK(napi_set_element(env, messages, i, jsString(env, job.messages[i])));
    NAPI_OK(napi_create_array_with_length(env, 3, &result));
    NAPI_OK(napi_set_element(env, result, 0, wrap(env, job.out)));
    NAPI_OK(napi_set_element(env, result, 1, statuses));
    NAPI_OK(napi_set_element(env, result, 2, messages));
    napi_resolve_deferred(env, job.deferred, result);
  } catch (const JsError& e) {
    napi_reject_deferred(env, job.deferred, errorOf(env, e.message));
  } catch (const std::exception& e) {
    napi_reject_deferred(env, job.deferred, errorOf(env, e.what()));
  }
}

// imageToBatch(files, plans, outH, outW, filter, mean|null, std|null, threads) ->
//   Promise<[tensor handle, Int32Array status per plan, messages]>: a [plans, 3, outH, outW] float32
// tensor, each plan's image decoded and run on one of `threads` libuv threads; a plan whose image
// failed to decode has a status (kDecodeError) and a zero row; a plan with src -1 a zero row. The
// files' bytes are released when the batch is made.
napi_value imageToBatch(napi_env env, napi_callback_info info) {
  auto a = args(env, info, 8);
  if (a.size() < 8)
    throw JsError{"GRAFT_ARGS", "imageToBatch(files, plans, outH, outW, filter, mean, std, threads)"};
  Files* files = nullptr;
  NAPI_OK(napi_get_value_external(env, a[0], reinterpret_cast<void**>(&files)));
  auto job = std::make_shared<BatchJob>();
  job->plans = image::plansOf(env, a[1]);
  job->outH = static_cast<int>(intOf(env, a[2]));
  job->outW = static_cast<int>(intOf(env, a[3]));
  job->filter = static_cast<int>(intOf(env, a[4]));
  job->normalize = !isNullish(env, a[5]);
  job->ms = {0, 0, 0, 1, 1, 1};
  if (job->normalize) {
    for (int c = 0; c < 3; c++) {
      napi_value m, s;
      NAPI_OK(napi_get_element(env, a[5], c, &m));
      NAPI_OK(napi_get_element(env, a[6], c, &s));
      job->ms[c] = static_cast<float>(numberOf(env, m));
      job->ms[3 + c] = static_cast<float>(numberOf(env, s));
    }
  }
  const int64_t threads = std::max<int64_t>(1, std::min<int64_t>(intOf(env, a[7]), 64));
  for (auto& p : job->plans) {
    if (p.src == -1) continue;
    if (p.src < 0 || static_cast<size_t>(p.src) >= files->headers.size())
      throw JsError{"GRAFT_ARGS", "image plan names no file"};
    image::checkPlan(p, files->headers[p.src], job->outW, job->outH);
  }
  job->files = std::make_unique<Files>(Files{std::move(files->bytes), std::move(files->headers)});
  files->bytes.clear();
  files->headers.clear();
  const size_t n = job->plans.size();
  job->status.assign(n, image::kOk);
  job->messages.resize(n);
  job->out = at::empty({static_cast<int64_t>(n), 3, job->outH, job->outW}, at::kFloat);
  napi_value promise, name;
  NAPI_OK(napi_create_promise(env, &job->deferred, &promise));
  NAPI_OK(napi_create_string_utf8(env, "graft:image", NAPI_AUTO_LENGTH, &name));
  const int64_t works = std::max<int64_t>(1, std::min<int64_t>(threads, static_cast<int64_t>(n)));
  for (int64_t t = 0; t < works; t++) {
    auto w = std::make_unique<BatchWork>();
    w->job = job;
    NAPI_OK(napi_create_async_work(env, nullptr, name, executeBatch, completeBatch, w.get(), &w->work));
    NAPI_OK(napi_queue_async_work(env, w->work));
    job->pending++;
    w.release();
  }
  return promise;
}

// imagePutSample(tensor, k, Float32Array): writes one sample made elsewhere into row k of a batch
napi_value imagePutSample(napi_env env, napi_callback_info info) {
  auto a = args(env, info, 3);
  if (a.size() < 3) throw JsError{"GRAFT_ARGS", "imagePutSample(tensor, index, data)"};
  at::Tensor& t = tensorOf(env, a[0]);
  int64_t k = intOf(env, a[1]);
  void* data;
  size_t n;
  image::typedArrayOf(env, a[2], napi_float32_array, &data, &n, "imagePutSample");
  if (t.scalar_type() != at::kFloat || !t.is_contiguous() || t.dim() < 1 || k < 0 || k >= t.size(0) ||
      static_cast<int64_t>(n) * t.size(0) != t.numel())
    throw JsError{"GRAFT_ARGS", "imagePutSample: the sample does not fit the batch"};
  std::memcpy(t.data_ptr<float>() + k * n, data, n * sizeof(float));
  return undefinedValue(env);
}

}  // namespace

void initImage(napi_env env, napi_value exports) {
  defineFn(env, exports, "imageAvailable", entry<imageAvailable>);
  defineFn(env, exports, "imageReadFiles", entry<imageReadFiles>);
  defineFn(env, exports, "imageToBatch", entry<imageToBatch>);
  defineFn(env, exports, "imagePutSample", entry<imagePutSample>);
  image::initImageSingle(env, exports);  // image_single.cc: imageDecode, imageApplyPlan
}

}  // namespace graft
