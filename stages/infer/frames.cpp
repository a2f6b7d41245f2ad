#include "stages/infer/frames.h"

#include <iostream>
#include <string>
#include <system_error>

#include "common/errors.h"
#include "graph/registry.h"
#include "stages/infer/messages.h"
#include "stages/params.h"

namespace vsr {

namespace fs = std::filesystem;

StageSchema FramesStage::schema() {
  StageSchema s("frames");
  s.doc(
       "source reading a clip (a video file or a folder of frames), each frame decoded once; "
       "per credit, one FrameWindow: the `frames` decoded frames centred on the next frame, "
       "clamped at the clip's ends and at scene cuts")
      .output<FrameWindow>("out", "one window per frame of the clip, in clip order")
      .required("dir", ParamType::kString,
                "input clip: a video file (.mp4 .mkv .mov .avi .webm .m4v) or a folder of LR "
                "frames (PNG or JPEG, 8- or 16-bit, names in frame order, e.g. 0000.png)")
      .non_empty()
      .optional("cut_threshold", ParamType::kFloat, 30.0,
                "scene cut when the mean luma difference (0..255, 64x36 thumbnails) of two "
                "frames is above this; windows do not cross a cut; 0 = no cut detection")
      .at_least(0)
      .world_check("the input is a video file or a folder", [](const json& p, ParamProblems& out) {
        const std::string input = p.at("dir").get<std::string>();
        std::error_code ec;
        const auto status = fs::status(input, ec);
        if (!fs::exists(status)) {
          out.add("dir", is_video_file(input)
                             ? "video " + input + " does not exist; check the path"
                             : "frame folder " + input +
                                   " does not exist; check the path (the input is a folder of "
                                   "frames or a video file: .mp4 .mkv .mov .avi .webm .m4v)");
        } else if (!fs::is_directory(status) && !is_video_file(input)) {
          out.add("dir", "input clip " + input +
                             " is neither a video file (.mp4 .mkv .mov .avi .webm .m4v) nor a "
                             "folder of frames");
        }
      });
  return frames_param(s, "frames per window (odd; the model's frames)");
}

FramesStage::FramesStage(const StageContext& ctx)
    : input_(ctx.param<std::string>("dir")),
      frames_(ctx.param<int>("frames")),
      cut_threshold_(ctx.param<double>("cut_threshold")),
      detector_(cut_threshold_) {}

FramesStage::~FramesStage() = default;

void FramesStage::open() {
  reader_ = std::make_unique<ClipReader>(input_);
  detector_.reset();
  buffer_.clear();
  ended_ = false;
  shot_ = 0;
  next_ = 0;
  cuts_.clear();
}

std::int64_t FramesStage::frames_decoded() const { return reader_ ? reader_->frames_read() : 0; }

void FramesStage::read_up_to(std::int64_t index) {
  while (!ended_ && (buffer_.empty() || buffer_.back().index < index)) {
    Buffered b;
    if (!reader_->read(b.frame)) {
      ended_ = true;
      break;
    }
    b.index = reader_->frames_read() - 1;
    b.name = reader_->frame_name();
    if (cut_threshold_ > 0 && detector_.is_cut(b.frame)) {
      ++shot_;
      cuts_.push_back(b.index);
    }
    b.shot = shot_;
    buffer_.push_back(std::move(b));
  }
}

const FramesStage::Buffered* FramesStage::buffered(std::int64_t index) const {
  if (buffer_.empty() || index < buffer_.front().index || index > buffer_.back().index) {
    return nullptr;
  }
  return &buffer_[static_cast<std::size_t>(index - buffer_.front().index)];
}

bool FramesStage::produce(Emitter& out) {
  const int half = frames_ / 2;
  read_up_to(next_ + half);
  const Buffered* centre = buffered(next_);
  if (!centre) return false;
  // Walk outwards from the centre; a neighbour that is not there (the clip's ends) or is of
  // another shot repeats the last frame that was.
  std::vector<const Buffered*> picked(static_cast<std::size_t>(frames_), centre);
  for (int side : {-1, 1}) {
    const Buffered* last = centre;
    for (int k = 1; k <= half; ++k) {
      const Buffered* b = buffered(next_ + side * k);
      if (b && b->shot == centre->shot && b->index == last->index + side) last = b;
      picked[static_cast<std::size_t>(half + side * k)] = last;
    }
  }
  auto w = std::make_shared<FrameWindow>();
  w->index = next_;
  w->name = centre->name;
  w->clip.fps = reader_->fps();
  w->clip.frame_count = ended_ ? reader_->frames_read() : reader_->frame_count();
  for (const Buffered* b : picked) {
    w->frames.push_back(b->frame);
    w->sources.push_back(b->index);
  }
  ++next_;
  // Keep the frames the next windows can still reach.
  while (!buffer_.empty() && buffer_.front().index < next_ - half) buffer_.pop_front();
  out.emit<FrameWindow>(0, std::move(w));
  return true;
}

void FramesStage::close(bool) {
  if (!cuts_.empty()) {
    std::string at;
    for (std::size_t i = 0; i < cuts_.size() && i < 10; ++i) {
      at += (i ? ", " : "") + std::to_string(cuts_[i]);
    }
    if (cuts_.size() > 10) at += ", ...";
    std::cerr << "frames: " << cuts_.size() << (cuts_.size() == 1 ? " scene cut" : " scene cuts")
              << " in " << input_.string() << " (at frame " << at
              << "); windows do not cross them\n";
  }
  buffer_.clear();
  reader_.reset();
}

VSR_REGISTER_STAGE(FramesStage);

}  // namespace vsr
