// Image operations of the data path, on cv::Mat (no torch): reading, LR stack splitting and
// size checks, sub-pixel shift, down/upscaling, validation LR synthesis, augmentation, PNG
// writing. Images are CV_32FC3, RGB, in [0, 1] unless a function says otherwise.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include <opencv2/core.hpp>

#include "runtime/io/fileio.h"

namespace vsr {

// "540x540": width x height, as every size in an error message is written.
std::string size_text(cv::Size s);

// Reads a PNG or JPEG (8- or 16-bit; grayscale expanded to 3 channels; alpha dropped) as
// CV_32FC3 RGB in [0, 1]. Throws DataError naming the file when it is missing or unreadable.
cv::Mat read_image_rgb(const std::filesystem::path& path);
// The same file as OpenCV decodes it: BGR, CV_8UC3 or CV_16UC3 (alpha dropped, gray
// expanded), no conversion. The data path keeps this until batch converts it, which moves a
// quarter of the bytes of float RGB. Same errors as read_image_rgb.
cv::Mat read_image_bgr(const std::filesystem::path& path);

// The bounds of an image file read_image_bgr takes: a PNG or a JPEG (by its first bytes) of at
// most kMaxImageFileBytes bytes whose header claims at most kMaxImagePixels pixels, checked
// before anything of that size is allocated. 100 megapixels is three 8K UHD frames (33 MP
// each), above the largest patch (1920x1080) or LR stack by far and above Pillow's
// decompression-bomb warning (89 MP); decoded as 16-bit BGR it is still only 600 MB.
constexpr std::uint64_t kMaxImagePixels = 100'000'000;
constexpr std::size_t kMaxImageFileBytes = std::size_t{1} << 30;  // 1 GiB

// What an image file's header claims, read without decoding.
struct ImageHeader {
  const char* format = "";  // "PNG" or "JPEG"
  std::uint32_t width = 0;
  std::uint32_t height = 0;
};
// The header of a PNG (its IHDR chunk) or a baseline or progressive JPEG (its SOFn frame
// header); nullopt for any other data, or one of those two without a header where it belongs.
std::optional<ImageHeader> read_image_header(const std::uint8_t* data, std::size_t size);

// Decodes an image file's bytes as read_image_bgr does, within the bounds above; `name` names
// the file in errors. Throws DataError for anything but a readable PNG or JPEG in bounds.
cv::Mat decode_image_bgr(const std::uint8_t* data, std::size_t size, const std::string& name);

// Splits a vertically stacked LR image into `frames` frames of expected_lr each (views into
// `stack`, no copy). The stack must be exactly expected_lr.width x (frames x
// expected_lr.height); otherwise DataError, e.g. "Wrong frame count in <file>: expected
// 180x1260 (7 frames x LR height 180), found 180x900 (looks like 5 frames ...)".
std::vector<cv::Mat> split_stack(const cv::Mat& stack, int frames, cv::Size expected_lr,
                                 const std::string& file);

// The inverse of split_stack: frames of one size and type stacked vertically, frame 0 on top.
// Throws std::invalid_argument when they differ or there are none.
cv::Mat stack_frames(const std::vector<cv::Mat>& frames);

// Throws DataError unless gt is exactly `expected` (the format's GT size, scale x LR frame).
void check_gt_size(const cv::Mat& gt, cv::Size expected, const std::string& file);

// Throws DataError unless a validation image of this size can be measured at this scale: both
// sides at least the SSIM window (11) plus the border of `scale` cropped on each side.
void check_val_image_size(cv::Size size, int scale, const std::string& file);

// Shifts the content right by dx pixels (negative: left), sub-pixel, bicubic, replicating the
// border: out(x, y) = img(x - dx, y). A shift of 0 returns an identical copy.
cv::Mat shift_horizontal(const cv::Mat& img, double dx);
// The same for a 2-D translation: out(x, y) = img(x - dx, y - dy).
cv::Mat shift_image(const cv::Mat& img, double dx, double dy);

// Area-average downscale by an integer factor; both sides must be divisible by scale
// (std::invalid_argument otherwise; see crop_to_multiple).
cv::Mat downscale(const cv::Mat& img, int scale);
// Bicubic upscale by an integer factor (half-pixel centres, as torch's align_corners=false).
cv::Mat bicubic_upscale(const cv::Mat& img, int scale);
// The top-left region whose sides are the largest multiples of scale (a view, no copy).
cv::Mat crop_to_multiple(const cv::Mat& img, int scale);

// The spec's validation LR frames: gt is first cropped to sides divisible by scale (the
// cropped GT is what predictions are compared with); frame i is that GT shifted horizontally
// by shifts[i] pixels, then downscaled by scale.
struct ValSample {
  cv::Mat gt;                   // cropped GT
  std::vector<cv::Mat> frames;  // shifts.size() LR frames
};
ValSample make_val_lr_frames(const cv::Mat& gt, const std::vector<double>& shifts, int scale);

// Writes an 8-bit PNG through a temporary file in the same folder and a rename, so the real
// name never holds a partial file; creates missing parent folders. img is RGB (or gray),
// CV_32F in [0, 1] (clamped, rounded) or CV_8U. Throws DataError when it cannot be written.
void write_png_atomic(const std::filesystem::path& path, const cv::Mat& img);

// Writes a BGR (or gray) image as decoded, CV_8U or CV_16U, as a PNG of the same bit depth
// (encode_png, runtime/data/png.h), atomically like write_png_atomic; `durability` as
// write_file_atomic's (runtime/io/fileio.h). Throws DataError (empty or another type).
void write_bgr_png_atomic(const std::filesystem::path& path, const cv::Mat& bgr,
                          Durability durability = Durability::kDurable);

// Whether `path` is a whole PNG file: it exists and ends with the IEND chunk (a file cut short,
// e.g. by a power cut after a kRenameOnly write, does not).
bool is_complete_png(const std::filesystem::path& path);

// Geometric augmentation; rot90 rotates k quarter turns counter-clockwise (as numpy/torch).
cv::Mat hflip(const cv::Mat& img);
cv::Mat vflip(const cv::Mat& img);
cv::Mat rot90(const cv::Mat& img, int k);

// One augmentation decision, applied identically to a GT and its frames.
struct Augmentation {
  bool hflip = false;
  bool vflip = false;
  int rot90 = 0;         // quarter turns, 0..3
  bool reverse = false;  // temporal order of the frames
};

// Probabilities (0..1) of each augmentation.
struct AugmentProbs {
  double hflip = 0;
  double vflip = 0;
  double rot90 = 0;    // only used when allow_rot90 (square formats)
  double reverse = 0;  // temporal reversal
};

// Draws an augmentation from a 64-bit seed (a SamplePick's seed): the same seed gives the same
// decision everywhere. A rotation, when drawn, is 1, 2 or 3 quarter turns.
Augmentation draw_augmentation(std::uint64_t seed, const AugmentProbs& probs, bool allow_rot90);

// The geometric part of `aug` on one image: hflip, then vflip, then rot90, as one pass (two for
// some rotations). Returns img itself (no copy) when there is nothing to do.
cv::Mat apply_geometry(const Augmentation& aug, const cv::Mat& img);

// Flips along x (columns reversed) and y (rows reversed); {false, false}: none.
struct Flips {
  bool x = false;
  bool y = false;
};

// When the geometry of `aug` is a pair of flips (no transpose: 4 of the 8 symmetries of the
// square), sets *flips to it and returns true: what apply_geometry does, as a reader can apply
// it while copying (see copy_float_rgb). False for the other four (a transpose is involved).
bool geometry_as_flips(const Augmentation& aug, Flips* flips);

// img with `flips` applied (img itself when there are none).
cv::Mat apply_flips(const cv::Mat& img, Flips flips);

// Applies `aug` to gt and every frame (flips, then rotation; then temporal reversal).
void apply_augmentation(const Augmentation& aug, cv::Mat& gt, std::vector<cv::Mat>& frames);

}  // namespace vsr
