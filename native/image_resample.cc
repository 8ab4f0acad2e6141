// Pillow's resampling (libImaging/Resample.c, ImagingResample on 8-bit images) ported bit for bit:
// a separable two-pass filter whose support widens with the downscale factor, coefficients in
// fixed point (PRECISION_BITS) rounded as normalize_coeffs_8bpc, sums clipped to 0..255. Then
// crops, flips, and ToTensor + Normalize in float32 as torchvision does them.
// integer arithmetic only, so the vectorizer cannot change a result: let it run (GCC)
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("O3")
#endif
#include <algorithm>
#include <cmath>
#include <cstring>

#include "image.h"

namespace graft {
namespace image {

constexpr int kPrecisionBits = 32 - 8 - 2;

static double bilinearFilter(double x) {
  if (x < 0.0) x = -x;
  if (x < 1.0) return 1.0 - x;
  return 0.0;
}

static double bicubicFilter(double x) {
  const double a = -0.5;
  if (x < 0.0) x = -x;
  if (x < 1.0) return ((a + 2.0) * x - (a + 3.0)) * x * x + 1;
  if (x < 2.0) return (((x - 5) * x + 8) * x - 4) * a;
  return 0.0;
}

struct Coeffs {
  int ksize = 0;
  std::vector<int> bounds;  // xmin, xmax per output pixel
  std::vector<int32_t> kk;  // ksize fixed-point weights per output pixel
};

// precompute_coeffs + normalize_coeffs_8bpc for box (0, inSize)
static Coeffs coeffs(int inSize, int outSize, int filter) {
  double (*fn)(double) = filter == kBicubic ? bicubicFilter : bilinearFilter;
  double support = filter == kBicubic ? 2.0 : 1.0;
  double scale = static_cast<double>(static_cast<float>(inSize) - 0.0f) / outSize;
  double filterscale = scale < 1.0 ? 1.0 : scale;
  support = support * filterscale;
  Coeffs c;
  c.ksize = static_cast<int>(std::ceil(support)) * 2 + 1;
  c.bounds.resize(outSize * 2);
  c.kk.assign(static_cast<size_t>(outSize) * c.ksize, 0);
  std::vector<double> k(c.ksize);
  for (int xx = 0; xx < outSize; xx++) {
    double center = 0.0 + (xx + 0.5) * scale;
    double ww = 0.0;
    double ss = 1.0 / filterscale;
    int xmin = static_cast<int>(center - support + 0.5);
    if (xmin < 0) xmin = 0;
    int xmax = static_cast<int>(center + support + 0.5);
    if (xmax > inSize) xmax = inSize;
    xmax -= xmin;
    for (int x = 0; x < xmax; x++) {
      double w = fn((x + xmin - center + 0.5) * ss);
      k[x] = w;
      ww += w;
    }
    for (int x = 0; x < xmax; x++) {
      if (ww != 0.0) k[x] /= ww;
    }
    for (int x = 0; x < xmax; x++) {
      double v = k[x];
      c.kk[static_cast<size_t>(xx) * c.ksize + x] =
          v < 0 ? static_cast<int>(-0.5 + v * (1 << kPrecisionBits)) : static_cast<int>(0.5 + v * (1 << kPrecisionBits));
    }
    c.bounds[xx * 2] = xmin;
    c.bounds[xx * 2 + 1] = xmax;
  }
  return c;
}

// Pillow's clip8: the lookup table covers -640..639 after the shift; clamping is the same there
static inline uint8_t clip8(int ss) {
  int v = ss >> kPrecisionBits;
  return static_cast<uint8_t>(v < 0 ? 0 : v > 255 ? 255 : v);
}

// A strided RGB view: rows of `stride` bytes
struct View {
  const uint8_t* p;
  int w, h;
  size_t stride;
};

// The passes below read coefficients and write bytes through raw __restrict pointers: a uint8_t
// store may alias anything, and through std::vector the compiler reloaded every vector's data
// pointer after each byte written (and could not vectorize). Integer sums are exact in any order.

// clip8 of a run of sums, in a form the vectorizer takes
static inline void clipRow(const int32_t* __restrict acc, size_t n, uint8_t* __restrict o) {
  for (size_t i = 0; i < n; i++) {
    int v = acc[i] >> kPrecisionBits;
    v = v < 0 ? 0 : v;
    o[i] = static_cast<uint8_t>(v > 255 ? 255 : v);
  }
}

// horizontal pass over rows [y0, y1) of `in`
static void resampleH(const View& in, int y0, int y1, int outW, int filter, std::vector<uint8_t>* out) {
  Coeffs c = coeffs(in.w, outW, filter);
  out->resize(static_cast<size_t>(y1 - y0) * outW * 3);
  const int half = 1 << (kPrecisionBits - 1);
  const int* __restrict bounds = c.bounds.data();
  const int32_t* __restrict kk = c.kk.data();
  const int ksize = c.ksize;
  for (int y = y0; y < y1; y++) {
    const uint8_t* __restrict row = in.p + static_cast<size_t>(y) * in.stride;
    uint8_t* __restrict o = out->data() + static_cast<size_t>(y - y0) * outW * 3;
    for (int xx = 0; xx < outW; xx++) {
      const int xmin = bounds[xx * 2], xmax = bounds[xx * 2 + 1];
      const int32_t* __restrict k = kk + static_cast<size_t>(xx) * ksize;
      int s0 = half, s1 = half, s2 = half;
      const uint8_t* __restrict px = row + xmin * 3;
      for (int x = 0; x < xmax; x++, px += 3) {
        s0 += px[0] * k[x];
        s1 += px[1] * k[x];
        s2 += px[2] * k[x];
      }
      o[xx * 3] = clip8(s0);
      o[xx * 3 + 1] = clip8(s1);
      o[xx * 3 + 2] = clip8(s2);
    }
  }
}

static void resampleV(const View& in, const Coeffs& c, int rowOffset, int outH, std::vector<uint8_t>* out) {
  const size_t row = static_cast<size_t>(in.w) * 3;
  out->resize(outH * row);
  static thread_local std::vector<int32_t> accBuf;
  accBuf.resize(row);
  int32_t* __restrict acc = accBuf.data();
  const int half = 1 << (kPrecisionBits - 1);
  const int* __restrict bounds = c.bounds.data();
  const int32_t* __restrict kk = c.kk.data();
  uint8_t* __restrict outp = out->data();
  for (int yy = 0; yy < outH; yy++) {
    const int ymin = bounds[yy * 2] - rowOffset, ymax = bounds[yy * 2 + 1];
    const int32_t* __restrict k = kk + static_cast<size_t>(yy) * c.ksize;
    for (size_t i = 0; i < row; i++) acc[i] = half;
    for (int y = 0; y < ymax; y++) {
      const uint8_t* __restrict src = in.p + static_cast<size_t>(y + ymin) * in.stride;
      const int32_t ky = k[y];
      for (size_t i = 0; i < row; i++) acc[i] += src[i] * ky;
    }
    clipRow(acc, row, outp + yy * row);
  }
}

// ImagingResampleInner: horizontal pass first (only the rows the vertical pass reads), each pass
// only when its size changes
static View resize(const View& in, int outW, int outH, int filter, std::vector<uint8_t>* tmp,
                   std::vector<uint8_t>* out) {
  bool needH = outW != in.w, needV = outH != in.h;
  if (!needH && !needV) return in;
  Coeffs cv;
  int yFirst = 0, yLast = in.h;
  if (needV) {
    cv = coeffs(in.h, outH, filter);
    yFirst = cv.bounds[0];
    yLast = cv.bounds[outH * 2 - 2] + cv.bounds[outH * 2 - 1];
  }
  View cur = in;
  int rowOffset = 0;
  if (needH) {
    resampleH(in, yFirst, yLast, outW, filter, tmp);
    cur = View{tmp->data(), outW, yLast - yFirst, static_cast<size_t>(outW) * 3};
    rowOffset = yFirst;
  }
  if (!needV) return cur;
  resampleV(cur, cv, rowOffset, outH, out);
  return View{out->data(), cur.w, outH, static_cast<size_t>(cur.w) * 3};
}

void applyPlan(const Rgb& in, const Plan& p, int filter, std::vector<uint8_t>* out) {
  // the decoded pixels may be a region of the image (x0, y0, cols, rows) that holds crop1
  const size_t stride = static_cast<size_t>(in.cols) * 3;
  View crop{in.pixels.data() + static_cast<size_t>(p.c1y - in.y0) * stride + static_cast<size_t>(p.c1x - in.x0) * 3,
            p.c1w, p.c1h, stride};
  // scratch reused by this thread: fresh memory per image costs page faults
  static thread_local std::vector<uint8_t> tmp, resized;
  View r = resize(crop, p.rw, p.rh, filter, &tmp, &resized);
  out->assign(static_cast<size_t>(p.ow) * p.oh * 3, 0);
  // crop2 (zero outside the resized image), then the flips
  for (int y = 0; y < p.oh; y++) {
    int sy = p.c2y + y;
    if (sy < 0 || sy >= r.h) continue;
    int dy = p.vflip ? p.oh - 1 - y : y;
    const uint8_t* srow = r.p + static_cast<size_t>(sy) * r.stride;
    uint8_t* drow = out->data() + static_cast<size_t>(dy) * p.ow * 3;
    int x0 = std::max(0, -p.c2x), x1 = std::min(p.ow, r.w - p.c2x);
    if (!p.hflip) {
      if (x1 > x0) std::memcpy(drow + x0 * 3, srow + (p.c2x + x0) * 3, static_cast<size_t>(x1 - x0) * 3);
      continue;
    }
    for (int x = x0; x < x1; x++) {
      const uint8_t* s = srow + (p.c2x + x) * 3;
      uint8_t* d = drow + (p.ow - 1 - x) * 3;
      d[0] = s[0];
      d[1] = s[1];
      d[2] = s[2];
    }
  }
}

void toTensor(const uint8_t* hwc, int w, int h, const float* mean, const float* std, float* chw) {
  const size_t n = static_cast<size_t>(w) * h;
  // x / 255 in float32 (exact for every byte: a table), then (x - mean) / std in float32
  float table[3][256];
  for (int c = 0; c < 3; c++)
    for (int v = 0; v < 256; v++) {
      float x = static_cast<float>(v) / 255.0f;
      table[c][v] = mean ? (x - mean[c]) / std[c] : x;
    }
  for (int c = 0; c < 3; c++) {
    float* plane = chw + c * n;
    const float* t = table[c];
    for (size_t i = 0; i < n; i++) plane[i] = t[hwc[i * 3 + c]];
  }
}

}  // namespace image
}  // namespace graft
