// Fuzzes the LR-stack splitter (runtime/data: split_stack and check_gt_size, what the split
// stage runs): a stack of any size, decoded from the input or made to a size it gives, is split
// into exactly the frames asked for or refused with a DataError; never a crash or a view
// outside the image.
//
// Input: frames (1 byte), LR width and height (1 byte each), then either image bytes (a PNG or
// JPEG) or the stack's width and height (2 bytes each).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <vector>

#include "common/errors.h"
#include "runtime/data/image.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 3) return 0;
  const int frames = data[0] % 10;  // 0 is not a frame count: split_stack refuses it
  const cv::Size lr(1 + data[1] % 64, 1 + data[2] % 64);  // as a format gives: never empty
  data += 3;
  size -= 3;
  cv::Mat stack;
  try {
    if (const auto header = vsr::read_image_header(data, size)) {
      if (std::uint64_t{header->width} * header->height > (std::uint64_t{1} << 20)) return 0;
      stack = vsr::decode_image_bgr(data, size, "fuzz.png");
    } else if (size >= 4) {
      stack =
          cv::Mat::zeros((data[2] << 8 | data[3]) % 1024, (data[0] << 8 | data[1]) % 128, CV_8UC3);
    }
    vsr::check_gt_size(stack, cv::Size(lr.width * 3, lr.height * 3), "fuzz_gt.png");
  } catch (const vsr::DataError&) {
  }
  try {
    const std::vector<cv::Mat> out = vsr::split_stack(stack, frames, lr, "fuzz.png");
    if (static_cast<int>(out.size()) != frames) std::abort();
    for (const cv::Mat& f : out) {
      if (f.size() != lr || f.type() != stack.type()) std::abort();
    }
  } catch (const vsr::DataError&) {
  } catch (const std::invalid_argument&) {
    if (frames > 0) std::abort();  // only a frame count of 0 is a caller's mistake
  }
  return 0;
}
