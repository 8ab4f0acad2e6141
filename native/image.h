// Image decoding (libpng / libjpeg-turbo) and Pillow-exact resampling for the data loader's fast
// path. Pixels are interleaved 8-bit RGB, as PIL's Image.convert('RGB') gives them.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace graft {
namespace image {

// What happened to one file; values shared with src/tensor/image_native.ts.
enum Status : int32_t {
  kOk = 0,
  kReadError = 1,    // message: errno name (ENOENT, EISDIR, ...)
  kDecodeError = 2,  // message: the decoder's
  kTooLarge = 3,     // width x height over the pixel limit: refused from the header
  kUnsupported = 4,  // not PNG/JPEG (or a CMYK JPEG): the caller decodes it another way
};

struct Rgb {
  int32_t status = kOk;
  int32_t width = 0;  // the image's size
  int32_t height = 0;
  std::string message;
  // the decoded pixels: the image's columns [x0, x0 + cols) of rows [y0, y0 + rows), rows * cols * 3
  // bytes; the whole image (0, 0, width, height) unless a region was asked for
  int32_t x0 = 0, y0 = 0, cols = 0, rows = 0;
  std::vector<uint8_t> pixels;
};

// A part of an image that must be decoded: columns [x, x + w) of rows [y, y + h).
struct Region {
  int32_t x, y, w, h;
};

// Pixel buffers are recycled: decoding a batch touches fresh memory otherwise, and the page faults
// cost more than the decode (glibc hands blocks this size back to the OS on free).
std::vector<uint8_t> takeBuffer();
void giveBuffer(std::vector<uint8_t>&& buf);

// Decodes PNG or JPEG bytes to RGB as PIL's open(...).convert('RGB'); maxPixels 0: no limit. With a
// region, a JPEG decodes only the rows and columns it needs (and a margin: libjpeg's upsampling at a
// region's edge differs from the whole image's); the region's pixels are the same as in a full decode.
void decode(const uint8_t* data, size_t size, double maxPixels, Rgb* out, const Region* region = nullptr);
// Reads a file's bytes; false (and a read error in `out`) when it cannot.
bool readFile(const std::string& path, std::vector<uint8_t>* bytes, Rgb* out);
// The header only: status (kOk when the header is good), width and height; pixels stay empty.
void probe(const uint8_t* data, size_t size, double maxPixels, Rgb* out);

enum Filter : int32_t { kBilinear = 2, kBicubic = 3 };  // PIL's Image.BILINEAR / BICUBIC

// One image's geometry: crop1 (inside the image) -> resize -> crop2 (zero outside) -> flips.
struct Plan {
  int32_t src;
  int32_t c1x, c1y, c1w, c1h;
  int32_t rw, rh;
  int32_t c2x, c2y, ow, oh;
  int32_t hflip, vflip;
};
constexpr int kPlanFields = 13;

// Runs a plan on an RGB image (its decoded pixels must cover crop1): ow x oh x 3 uint8 (PIL's
// crop/resize/transpose, bit for bit).
void applyPlan(const Rgb& in, const Plan& p, int filter, std::vector<uint8_t>* out);

// ToTensor + Normalize of an HWC uint8 image into a CHW float32 slot, in float32 as torchvision.
void toTensor(const uint8_t* hwc, int w, int h, const float* mean, const float* std, float* chw);

}  // namespace image
}  // namespace graft
