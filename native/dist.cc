#include "graft.h"

namespace graft {

void initDist(napi_env env, napi_value exports) {
  (void)env;
  (void)exports;
}

}  // namespace graft
