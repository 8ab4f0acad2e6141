#include "graft.h"

namespace graft {

void initQuant(napi_env env, napi_value exports) {
  (void)env;
  (void)exports;
}

}  // namespace graft
