// Node-API argument helpers shared by the image entry points (image.cc: batches; image_single.cc:
// one image at a time).
#pragma once
#include <vector>

#include "graft.h"
#include "image.h"

namespace graft {
namespace image {

// A Uint8Array holding a copy of n bytes.
napi_value bytesCopy(napi_env env, const uint8_t* p, size_t n);
// The data and length of a typed array of type `want` (a GRAFT_ARGS error naming `what` otherwise).
void typedArrayOf(napi_env env, napi_value v, napi_typedarray_type want, void** data, size_t* length,
                  const char* what);
// Plans from an Int32Array of kPlanFields numbers each.
std::vector<Plan> plansOf(napi_env env, napi_value v);
// Refuses a plan that would read outside its image (`in`: a header, or decoded pixels holding crop1).
void checkPlan(const Plan& p, const Rgb& in, int outW, int outH);
// Registers imageDecode and imageApplyPlan.
void initImageSingle(napi_env env, napi_value exports);

}  // namespace image
}  // namespace graft
