// PNG (libpng) and JPEG (libjpeg-turbo) decoding to RGB, matching PIL's open(...).convert('RGB'):
// libjpeg's defaults as Pillow uses them (ISLOW DCT, fancy upsampling), palettes looked up, gray
// repeated, alpha dropped, 16-bit samples as PIL reads them. Both libraries report errors by
// longjmp: the functions that call them keep every C++ object outside the jumped-over frames.
#include <cerrno>
#include <csetjmp>
#include <cstdio>
#include <algorithm>
#include <cstring>
#include <mutex>

#include "image.h"

#ifdef GRAFT_HAVE_IMAGE
#include <jerror.h>
#include <jpeglib.h>
#include <png.h>
#endif

namespace graft {
namespace image {

static const char* errnoName(int e) {
  switch (e) {
    case ENOENT: return "ENOENT";
    case EACCES: return "EACCES";
    case EISDIR: return "EISDIR";
    case ENOTDIR: return "ENOTDIR";
    case EMFILE: return "EMFILE";
    case ENFILE: return "ENFILE";
    case EIO: return "EIO";
    case ELOOP: return "ELOOP";
    case ENAMETOOLONG: return "ENAMETOOLONG";
    case EPERM: return "EPERM";
    case ENOMEM: return "ENOMEM";
    default: return nullptr;
  }
}

static void readError(Rgb* out, int e) {
  out->status = kReadError;
  const char* name = errnoName(e);
  out->message = name ? name : "errno " + std::to_string(e);
}

namespace {
std::mutex poolMutex;
std::vector<std::vector<uint8_t>> pool;
size_t pooledBytes = 0;
constexpr size_t kPoolLimit = size_t(256) << 20;  // what recycling may keep
}  // namespace

std::vector<uint8_t> takeBuffer() {
  std::lock_guard<std::mutex> lock(poolMutex);
  if (pool.empty()) return {};
  std::vector<uint8_t> v = std::move(pool.back());
  pool.pop_back();
  pooledBytes -= v.capacity();
  return v;
}

void giveBuffer(std::vector<uint8_t>&& buf) {
  std::lock_guard<std::mutex> lock(poolMutex);
  if (!buf.capacity() || pooledBytes + buf.capacity() > kPoolLimit) return;
  pooledBytes += buf.capacity();
  pool.push_back(std::move(buf));
}

bool readFile(const std::string& path, std::vector<uint8_t>* bytes, Rgb* out) {
  FILE* f = std::fopen(path.c_str(), "rb");
  if (!f) {
    readError(out, errno);
    return false;
  }
  size_t size = 0;
  for (;;) {
    if (bytes->size() < size + 65536) bytes->resize(size + 65536);
    size_t n = std::fread(bytes->data() + size, 1, bytes->size() - size, f);
    size += n;
    if (n == 0) break;
  }
  int err = std::ferror(f) ? errno : 0;
  std::fclose(f);
  bytes->resize(size);
  if (err) readError(out, err);
  return !err;
}

static bool tooLarge(Rgb* out, int w, int h, double maxPixels) {
  out->width = w;
  out->height = h;
  out->x0 = out->y0 = 0;
  out->cols = w;
  out->rows = h;
  if (maxPixels > 0 && static_cast<double>(w) * h > maxPixels) {
    out->status = kTooLarge;
    return true;
  }
  return false;
}

#ifdef GRAFT_HAVE_IMAGE

// ---- PNG ----

struct PngSource {
  const uint8_t* data;
  size_t size, pos;
  char error[200];
};

static void pngRead(png_structp png, png_bytep dst, png_size_t n) {
  auto* s = static_cast<PngSource*>(png_get_io_ptr(png));
  if (s->size - s->pos < n) png_error(png, "image file is truncated");
  std::memcpy(dst, s->data + s->pos, n);
  s->pos += n;
}

static void pngError(png_structp png, png_const_charp msg) {
  auto* s = static_cast<PngSource*>(png_get_error_ptr(png));
  std::snprintf(s->error, sizeof s->error, "%s", msg);
  png_longjmp(png, 1);
}

static void pngWarning(png_structp, png_const_charp) {}

// rows of `channels` samples of `depth` bits (8 or 16, big-endian) -> RGB as PIL converts them
static void pngToRgb(const uint8_t* rows, size_t rowBytes, int channels, int depth, Rgb* out) {
  const int w = out->width, h = out->height;
  if (out->pixels.capacity() == 0) out->pixels = takeBuffer();
  out->pixels.resize(static_cast<size_t>(w) * h * 3);
  uint8_t* o = out->pixels.data();
  const int bytes = depth / 8;
  for (int y = 0; y < h; y++) {
    const uint8_t* r = rows + y * rowBytes;
    for (int x = 0; x < w; x++, o += 3) {
      const uint8_t* px = r + static_cast<size_t>(x) * channels * bytes;
      if (channels >= 3) {
        // 16-bit RGB(A): PIL's RGB;16B / RGBA;16B keep the high byte
        o[0] = px[0];
        o[1] = px[bytes];
        o[2] = px[2 * bytes];
      } else if (depth == 16 && channels == 1) {
        // 16-bit gray opens as mode I; convert('RGB') clips the value to 255
        int v = (px[0] << 8) | px[1];
        o[0] = o[1] = o[2] = static_cast<uint8_t>(v > 255 ? 255 : v);
      } else {
        // gray (LA;16B keeps the high byte)
        o[0] = o[1] = o[2] = px[0];
      }
    }
  }
}

static void decodePng(const uint8_t* data, size_t size, double maxPixels, bool headerOnly, Rgb* out) {
  static thread_local std::vector<uint8_t> scratch;
  static thread_local std::vector<png_bytep> rowPtrs;
  PngSource src{data, size, 0, {0}};
  png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &src, pngError, pngWarning);
  if (!png) {
    out->status = kDecodeError;
    out->message = "out of memory";
    return;
  }
  png_infop info = png_create_info_struct(png);
  if (setjmp(png_jmpbuf(png))) {
    png_destroy_read_struct(&png, info ? &info : nullptr, nullptr);
    out->status = kDecodeError;
    out->message = src.error;
    out->pixels.clear();
    return;
  }
  if (!info) png_error(png, "out of memory");
  png_set_read_fn(png, &src, pngRead);
  png_read_info(png, info);
  png_uint_32 w, h;
  int depth, color, interlace;
  png_get_IHDR(png, info, &w, &h, &depth, &color, &interlace, nullptr, nullptr);
  if (tooLarge(out, static_cast<int>(w), static_cast<int>(h), maxPixels) || headerOnly) {
    png_destroy_read_struct(&png, &info, nullptr);
    return;
  }
  if (color == PNG_COLOR_TYPE_PALETTE) png_set_palette_to_rgb(png);
  if (color == PNG_COLOR_TYPE_GRAY && depth < 8) png_set_expand_gray_1_2_4_to_8(png);
  // 16-bit gray stays 16-bit (PIL clips it); every other 16-bit sample keeps its high byte
  if (depth == 16 && color != PNG_COLOR_TYPE_GRAY) png_set_strip_16(png);
  png_set_interlace_handling(png);
  png_read_update_info(png, info);
  const size_t rowBytes = png_get_rowbytes(png, info);
  const int channels = png_get_channels(png, info);
  const int outDepth = png_get_bit_depth(png, info);
  const bool direct = channels == 3 && outDepth == 8;  // rows are RGB already: decode in place
  uint8_t* rows = nullptr;
  try {
    auto& buf = direct ? out->pixels : scratch;
    if (direct && buf.capacity() == 0) buf = takeBuffer();
    buf.resize(rowBytes * h);
    rows = buf.data();
    rowPtrs.resize(h);
  } catch (const std::bad_alloc&) {
    png_error(png, "out of memory");
  }
  for (png_uint_32 y = 0; y < h; y++) rowPtrs[y] = rows + y * rowBytes;
  png_read_image(png, rowPtrs.data());
  png_read_end(png, nullptr);
  png_destroy_read_struct(&png, &info, nullptr);
  if (direct) return;
  try {
    pngToRgb(rows, rowBytes, channels, outDepth, out);
  } catch (const std::bad_alloc&) {
    out->status = kDecodeError;
    out->message = "out of memory";
  }
}

// ---- JPEG ----

struct JpegError {
  jpeg_error_mgr mgr;
  jmp_buf jump;
  bool truncated;
};

static void jpegExit(j_common_ptr cinfo) {
  auto* e = reinterpret_cast<JpegError*>(cinfo->err);
  std::longjmp(e->jump, 1);
}

// Pillow shows no warnings; a file that ends early is an error there ("image file is truncated")
static void jpegMessage(j_common_ptr cinfo, int level) {
  auto* e = reinterpret_cast<JpegError*>(cinfo->err);
  if (level < 0 && cinfo->err->msg_code == JWRN_JPEG_EOF) e->truncated = true;
}

// The region's rows and columns widened by a margin, so that libjpeg's edge handling (fancy
// upsampling treats a cropped edge as the image's) lands outside the region; then libjpeg rounds the
// columns out to whole iMCUs. A complete file (it ends with the EOI marker) is not read past the
// region's rows: decoding could not run out of data there, so nothing PIL reports is missed
// (entropy-coded data cannot hold the bytes FF D9; a scan that breaks off meets that marker first).
struct Window {
  JDIMENSION x, w, y, h;
};

static Window windowOf(const jpeg_decompress_struct& c, const Region* r, bool complete) {
  const JDIMENSION W = c.output_width, H = c.output_height;
  if (!r) return {0, W, 0, H};
  const int mx = c.max_h_samp_factor * DCTSIZE, my = c.max_v_samp_factor * DCTSIZE;
  const JDIMENSION x0 = r->x > mx ? r->x - mx : 0, y0 = r->y > my ? r->y - my : 0;
  const JDIMENSION x1 = std::min<JDIMENSION>(W, r->x + r->w + mx);
  // a file that may end early decodes to its last row, so that a truncation is seen as PIL sees it
  const JDIMENSION y1 = complete ? std::min<JDIMENSION>(H, r->y + r->h + my) : H;
  return {x0, x1 - x0, y0, y1 - y0};
}

static bool endsWithEoi(const uint8_t* data, size_t size) {
  return size >= 4 && data[size - 2] == 0xff && data[size - 1] == 0xd9;
}

static void decodeJpeg(const uint8_t* data, size_t size, double maxPixels, const Region* region, bool headerOnly,
                       Rgb* out) {
  jpeg_decompress_struct cinfo;
  JpegError err;
  cinfo.err = jpeg_std_error(&err.mgr);
  err.mgr.error_exit = jpegExit;
  err.mgr.emit_message = jpegMessage;
  err.truncated = false;
  uint8_t* volatile gray = nullptr;
  if (setjmp(err.jump)) {
    char msg[JMSG_LENGTH_MAX];
    err.mgr.format_message(reinterpret_cast<j_common_ptr>(&cinfo), msg);
    jpeg_destroy_decompress(&cinfo);
    std::free(gray);
    out->status = kDecodeError;
    out->message = msg;
    out->pixels.clear();
    return;
  }
  jpeg_create_decompress(&cinfo);
  jpeg_mem_src(&cinfo, data, static_cast<unsigned long>(size));
  jpeg_read_header(&cinfo, TRUE);
  if (tooLarge(out, static_cast<int>(cinfo.image_width), static_cast<int>(cinfo.image_height), maxPixels)) {
    jpeg_destroy_decompress(&cinfo);
    return;
  }
  const int comps = cinfo.num_components;
  if (comps != 1 && comps != 3) {
    // CMYK / YCCK: PIL's own CMYK->RGB conversion is not ported
    jpeg_destroy_decompress(&cinfo);
    out->status = kUnsupported;
    return;
  }
  if (headerOnly) {
    jpeg_destroy_decompress(&cinfo);
    return;
  }
  cinfo.out_color_space = comps == 1 ? JCS_GRAYSCALE : JCS_RGB;
  jpeg_start_decompress(&cinfo);
  const JDIMENSION H = cinfo.output_height;
  // a multi-scan file was read whole by jpeg_start_decompress: what is left cannot fail
  Window win = windowOf(cinfo, region, endsWithEoi(data, size) || jpeg_has_multiple_scans(&cinfo));
  if (win.w < cinfo.output_width) jpeg_crop_scanline(&cinfo, &win.x, &win.w);
  if (win.y > 0 && jpeg_skip_scanlines(&cinfo, win.y) != win.y) ERREXIT(&cinfo, JERR_BAD_STATE);
  const size_t w = cinfo.output_width;  // the columns libjpeg decodes now
  out->x0 = static_cast<int32_t>(win.x);
  out->y0 = static_cast<int32_t>(win.y);
  out->cols = static_cast<int32_t>(w);
  out->rows = static_cast<int32_t>(win.h);
  try {
    if (out->pixels.capacity() == 0) out->pixels = takeBuffer();
    out->pixels.resize(w * win.h * 3);
  } catch (const std::bad_alloc&) {
    jpeg_destroy_decompress(&cinfo);
    throw;
  }
  if (comps == 1 && !(gray = static_cast<uint8_t*>(std::malloc(w)))) ERREXIT1(&cinfo, JERR_OUT_OF_MEMORY, 0);
  const JDIMENSION end = win.y + win.h;
  while (cinfo.output_scanline < end) {
    uint8_t* row = out->pixels.data() + static_cast<size_t>(cinfo.output_scanline - win.y) * w * 3;
    JSAMPROW r = comps == 1 ? gray : row;
    jpeg_read_scanlines(&cinfo, &r, 1);
    if (comps == 1)
      for (size_t x = 0; x < w; x++) row[x * 3] = row[x * 3 + 1] = row[x * 3 + 2] = gray[x];
  }
  if (end < H)
    jpeg_abort_decompress(&cinfo);
  else
    jpeg_finish_decompress(&cinfo);
  jpeg_destroy_decompress(&cinfo);
  std::free(gray);
  if (err.truncated) {
    out->status = kDecodeError;
    out->message = "image file is truncated";
    out->pixels.clear();
  }
}

static void decodeAny(const uint8_t* data, size_t size, double maxPixels, const Region* region, bool headerOnly,
                      Rgb* out) {
  static const uint8_t pngSig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
  try {
    if (size >= 8 && std::memcmp(data, pngSig, 8) == 0) return decodePng(data, size, maxPixels, headerOnly, out);
    if (size >= 3 && data[0] == 0xff && data[1] == 0xd8 && data[2] == 0xff)
      return decodeJpeg(data, size, maxPixels, region, headerOnly, out);
  } catch (const std::bad_alloc&) {
    out->status = kDecodeError;
    out->message = "out of memory";
    out->pixels.clear();
    return;
  }
  out->status = kUnsupported;
}

void decode(const uint8_t* data, size_t size, double maxPixels, Rgb* out, const Region* region) {
  decodeAny(data, size, maxPixels, region, false, out);
}

void probe(const uint8_t* data, size_t size, double maxPixels, Rgb* out) {
  decodeAny(data, size, maxPixels, nullptr, true, out);
}

#else

void decode(const uint8_t*, size_t, double, Rgb* out, const Region*) { out->status = kUnsupported; }
void probe(const uint8_t*, size_t, double, Rgb* out) { out->status = kUnsupported; }

#endif


}  // namespace image
}  // namespace graft
