// Node-API entry points for one image at a time (tests compare them with PIL; the data loader's
// slow path), and the argument helpers image.cc's batch entry points share (image_napi.h).
#include <cstring>

#include "graft.h"
#include "image.h"
#include "image_napi.h"

namespace graft {
namespace image {

napi_value bytesCopy(napi_env env, const uint8_t* p, size_t n) {
  void* out = nullptr;
  napi_value ab, arr;
  NAPI_OK(napi_create_arraybuffer(env, n, &out, &ab));
  if (n) std::memcpy(out, p, n);
  NAPI_OK(napi_create_typedarray(env, napi_uint8_array, n, ab, 0, &arr));
  return arr;
}

void typedArrayOf(napi_env env, napi_value v, napi_typedarray_type want, void** data, size_t* length,
                  const char* what) {
  bool is = false;
  NAPI_OK(napi_is_typedarray(env, v, &is));
  napi_typedarray_type type;
  if (is) NAPI_OK(napi_get_typedarray_info(env, v, &type, length, data, nullptr, nullptr));
  if (!is || type != want) throw JsError{"GRAFT_ARGS", std::string(what) + ": wrong typed array"};
}

std::vector<image::Plan> plansOf(napi_env env, napi_value v) {
  void* data;
  size_t n;
  typedArrayOf(env, v, napi_int32_array, &data, &n, "plans");
  if (n % image::kPlanFields) throw JsError{"GRAFT_ARGS", "plans: length is not a multiple of 13"};
  std::vector<image::Plan> plans(n / image::kPlanFields);
  std::memcpy(plans.data(), data, n * sizeof(int32_t));
  return plans;
}

// a plan that reads outside its image would read out of bounds: refused before any work (`in` is a
// header, or decoded pixels that must hold crop1)
void checkPlan(const image::Plan& p, const image::Rgb& in, int outW, int outH) {
  bool ok = in.status == image::kOk && p.c1x >= in.x0 && p.c1y >= in.y0 && p.c1w > 0 && p.c1h > 0 &&
            p.c1x + p.c1w <= in.x0 + in.cols && p.c1y + p.c1h <= in.y0 + in.rows && p.c1x + p.c1w <= in.width &&
            p.c1y + p.c1h <= in.height && p.rw > 0 && p.rh > 0 && p.ow == outW && p.oh == outH && outW > 0 &&
            outH > 0;
  if (!ok) throw JsError{"GRAFT_ARGS", "image plan outside its image (or for an image that failed)"};
}

namespace {

// imageDecode(bytes, maxPixels, region?) -> [status, width, height, message, RGB Uint8Array | undefined,
// x0, y0, cols, rows]: the whole image, or (region: Int32Array [x, y, w, h]) the decoded part that holds it
napi_value imageDecode(napi_env env, napi_callback_info info) {
  auto a = args(env, info, 3);
  if (a.size() < 2) throw JsError{"GRAFT_ARGS", "imageDecode(bytes, maxPixels, region?)"};
  void* data;
  size_t n;
  typedArrayOf(env, a[0], napi_uint8_array, &data, &n, "imageDecode");
  image::Region region{};
  bool cropped = a.size() > 2 && !isNullish(env, a[2]);
  if (cropped) {
    void* r;
    size_t rn;
    typedArrayOf(env, a[2], napi_int32_array, &r, &rn, "imageDecode region");
    if (rn != 4) throw JsError{"GRAFT_ARGS", "imageDecode: region is [x, y, w, h]"};
    std::memcpy(&region, r, sizeof region);
  }
  image::Rgb im;
  if (cropped) image::probe(static_cast<const uint8_t*>(data), n, numberOf(env, a[1]), &im);
  if (cropped && im.status == image::kOk &&
      !(region.x >= 0 && region.y >= 0 && region.w > 0 && region.h > 0 && region.x + region.w <= im.width &&
        region.y + region.h <= im.height))
    throw JsError{"GRAFT_ARGS", "imageDecode: region outside the image"};
  if (im.status == image::kOk)
    image::decode(static_cast<const uint8_t*>(data), n, numberOf(env, a[1]), &im, cropped ? &region : nullptr);
  napi_value out;
  NAPI_OK(napi_create_array_with_length(env, 9, &out));
  NAPI_OK(napi_set_element(env, out, 0, jsNumber(env, im.status)));
  NAPI_OK(napi_set_element(env, out, 1, jsNumber(env, im.width)));
  NAPI_OK(napi_set_element(env, out, 2, jsNumber(env, im.height)));
  NAPI_OK(napi_set_element(env, out, 3, jsString(env, im.message)));
  NAPI_OK(napi_set_element(env, out, 4,
                           im.status == image::kOk ? bytesCopy(env, im.pixels.data(), im.pixels.size())
                                                   : undefinedValue(env)));
  const int32_t geometry[4] = {im.x0, im.y0, im.cols, im.rows};
  for (int i = 0; i < 4; i++) NAPI_OK(napi_set_element(env, out, 5 + i, jsNumber(env, geometry[i])));
  return out;
}

// imageApplyPlan(rgb, width, height, plan, filter) -> the plan's uint8 HWC output (tests compare it to PIL)
napi_value imageApplyPlan(napi_env env, napi_callback_info info) {
  auto a = args(env, info, 5);
  if (a.size() < 5) throw JsError{"GRAFT_ARGS", "imageApplyPlan(rgb, width, height, plan, filter)"};
  void* data;
  size_t n;
  typedArrayOf(env, a[0], napi_uint8_array, &data, &n, "imageApplyPlan");
  image::Rgb im;
  im.width = static_cast<int>(intOf(env, a[1]));
  im.height = static_cast<int>(intOf(env, a[2]));
  if (im.width <= 0 || im.height <= 0 || static_cast<size_t>(im.width) * im.height * 3 != n)
    throw JsError{"GRAFT_ARGS", "imageApplyPlan: rgb is not width x height x 3 bytes"};
  im.cols = im.width;
  im.rows = im.height;
  im.pixels.assign(static_cast<uint8_t*>(data), static_cast<uint8_t*>(data) + n);
  auto plans = plansOf(env, a[3]);
  if (plans.size() != 1) throw JsError{"GRAFT_ARGS", "imageApplyPlan: one plan"};
  plans[0].src = 0;
  checkPlan(plans[0], im, plans[0].ow, plans[0].oh);
  std::vector<uint8_t> out;
  image::applyPlan(im, plans[0], static_cast<int>(intOf(env, a[4])), &out);
  return bytesCopy(env, out.data(), out.size());
}

}  // namespace

void initImageSingle(napi_env env, napi_value exports) {
  defineFn(env, exports, "imageDecode", entry<imageDecode>);
  defineFn(env, exports, "imageApplyPlan", entry<imageApplyPlan>);
}

}  // namespace image
}  // namespace graft
