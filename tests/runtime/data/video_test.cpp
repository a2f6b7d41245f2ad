#include "runtime/data/video.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <opencv2/videoio.hpp>

#include "common/errors.h"
#include "runtime/data/image.h"
#include "runtime/data/mock_data.h"

namespace vsr {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

const cv::Size kSize(64, 48);

// A textured 8-bit BGR scene larger than a frame, for content that moves.
cv::Mat scene_bgr(std::uint64_t seed) {
  const cv::Mat rgb = make_mock_image(kSize + cv::Size(40, 40), seed);
  cv::Mat bytes, bgr;
  rgb.convertTo(bytes, CV_8U, 255.0);
  cv::cvtColor(bytes, bgr, cv::COLOR_RGB2BGR);
  return bgr;
}

// `count` frames of a scene moving one pixel right and half a pixel down per frame; from
// frame `cut` on (when >= 0), another scene: a hard cut.
std::vector<cv::Mat> moving_frames(int count, int cut = -1) {
  const cv::Mat a = scene_bgr(21), b = scene_bgr(77);
  std::vector<cv::Mat> out;
  for (int i = 0; i < count; ++i) {
    const cv::Mat& scene = (cut >= 0 && i >= cut) ? b : a;
    out.push_back(scene(cv::Rect(cv::Point(i, i / 2), kSize)).clone());
  }
  return out;
}

void write_video(const fs::path& path, const std::vector<cv::Mat>& frames, const char* fourcc,
                 double fps = 25) {
  cv::VideoWriter w(path.string(), cv::CAP_FFMPEG,
                    cv::VideoWriter::fourcc(fourcc[0], fourcc[1], fourcc[2], fourcc[3]), fps,
                    frames.at(0).size());
  ASSERT_TRUE(w.isOpened()) << path;
  for (const auto& f : frames) w.write(f);
}

std::vector<cv::Mat> read_all(ClipReader& clip, std::vector<std::string>* names = nullptr) {
  std::vector<cv::Mat> out;
  for (cv::Mat f; clip.read(f);) {
    out.push_back(f);
    if (names) names->push_back(clip.frame_name());
  }
  return out;
}

std::vector<std::string> folder_entries(const fs::path& dir) {
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(dir)) names.push_back(e.path().filename().string());
  std::sort(names.begin(), names.end());
  return names;
}

class VideoTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    root_ = fs::temp_directory_path() /
            ("vsr_video_test_" + std::to_string(::getpid()) + "_" + info->name());
    fs::remove_all(root_);
    fs::create_directories(root_);
  }
  void TearDown() override { fs::remove_all(root_); }

  // The DataError message of opening `path` as a clip.
  static std::string open_error(const fs::path& path) {
    try {
      ClipReader clip(path);
    } catch (const DataError& e) {
      return e.what();
    }
    ADD_FAILURE() << "ClipReader(" << path << ") did not throw";
    return "";
  }

  fs::path root_;
};

TEST_F(VideoTest, VideoExtensionsAndCodecs) {
  for (const char* name : {"a.mp4", "a.MKV", "a.mov", "a.avi", "a.webm", "a.m4v"}) {
    EXPECT_TRUE(is_video_file(name)) << name;
  }
  for (const char* name : {"a.png", "a", "a.mp4.txt", "a.mpg"}) {
    EXPECT_FALSE(is_video_file(name)) << name;
  }
  EXPECT_EQ(video_codec("x.mp4"), "mp4v");
  EXPECT_EQ(video_codec("x.m4v"), "mp4v");
  EXPECT_EQ(video_codec("x.mov"), "mp4v");
  EXPECT_EQ(video_codec("x.avi"), "MJPG");
  EXPECT_EQ(video_codec("x.mkv"), "FFV1");
  EXPECT_EQ(video_codec("x.webm"), "VP80");
  try {
    video_codec("x.flv");
    FAIL() << "expected DataError";
  } catch (const DataError& e) {
    EXPECT_THAT(e.what(), HasSubstr(".flv is not a video extension vsr_flow writes"));
    EXPECT_THAT(e.what(), HasSubstr(".mkv (lossless FFV1)"));
  }
  EXPECT_THAT(unwritable_video_problem("out/clip.mpg"), HasSubstr(".mpg videos are not written"));
  EXPECT_EQ(unwritable_video_problem("out/clip_x3"), "");
  EXPECT_EQ(unwritable_video_problem("out/clip_x3.mp4"), "");
}

TEST_F(VideoTest, ReadsAVideoFrameByFrame) {
  const auto frames = moving_frames(20);
  write_video(root_ / "clip.mkv", frames, "FFV1", 24);  // lossless: the frames come back exactly
  ClipReader clip(root_ / "clip.mkv");
  EXPECT_TRUE(clip.is_video());
  EXPECT_EQ(clip.name(), "clip");
  EXPECT_DOUBLE_EQ(clip.fps(), 24);
  EXPECT_EQ(clip.frame_count(), 20);
  EXPECT_EQ(clip.size(), kSize);
  EXPECT_EQ(clip.frame_name(), "");
  std::vector<std::string> names;
  const auto back = read_all(clip, &names);
  ASSERT_EQ(back.size(), 20u);
  EXPECT_EQ(clip.frames_read(), 20);
  EXPECT_EQ(names.front(), "000000");
  EXPECT_EQ(names.back(), "000019");
  for (std::size_t i = 0; i < back.size(); ++i) {
    EXPECT_EQ(back[i].type(), CV_8UC3);
    EXPECT_EQ(cv::norm(back[i], frames[i], cv::NORM_INF), 0) << i;
  }
  cv::Mat after;
  EXPECT_FALSE(clip.read(after));
}

TEST_F(VideoTest, ReadsLossyVideosWithTheirFrameCountSizeAndRate) {
  const auto frames = moving_frames(20);
  write_video(root_ / "clip.mp4", frames, "mp4v", 30);
  ClipReader clip(root_ / "clip.mp4");
  EXPECT_DOUBLE_EQ(clip.fps(), 30);
  EXPECT_EQ(clip.frame_count(), 20);
  const auto back = read_all(clip);
  ASSERT_EQ(back.size(), 20u);
  for (std::size_t i = 0; i < back.size(); ++i) {
    EXPECT_EQ(back[i].size(), kSize);
    EXPECT_GT(cv::PSNR(back[i], frames[i]), 20) << i;
  }
}

TEST_F(VideoTest, ReadsAFrameFolderInNameOrder) {
  const auto frames = moving_frames(4);
  fs::create_directories(root_ / "shot");
  for (int i = 3; i >= 0; --i) {  // written out of order: read in name order
    cv::imwrite((root_ / "shot" / ("f" + std::to_string(i) + ".png")).string(), frames[i]);
  }
  std::ofstream(root_ / "shot" / "notes.txt") << "not a frame";
  ClipReader clip(root_ / "shot/");
  EXPECT_FALSE(clip.is_video());
  EXPECT_EQ(clip.name(), "shot");
  EXPECT_EQ(clip.fps(), 0);
  EXPECT_EQ(clip.frame_count(), 4);
  EXPECT_EQ(clip.size(), kSize);
  std::vector<std::string> names;
  const auto back = read_all(clip, &names);
  EXPECT_EQ(names, (std::vector<std::string>{"f0", "f1", "f2", "f3"}));
  ASSERT_EQ(back.size(), 4u);
  for (int i = 0; i < 4; ++i) EXPECT_EQ(cv::norm(back[i], frames[i], cv::NORM_INF), 0) << i;
}

TEST_F(VideoTest, ReadsSixteenBitFramesAsSixteenBit) {
  fs::create_directories(root_ / "deep");
  std::vector<cv::Mat> written;
  for (int i = 0; i < 3; ++i) {
    cv::Mat f;
    moving_frames(3)[i].convertTo(f, CV_16U, 257.0);
    f += cv::Scalar::all(i);  // values no 8-bit image holds
    written.push_back(f);
    char name[16];
    std::snprintf(name, sizeof(name), "%04d.png", i);
    ASSERT_TRUE(cv::imwrite((root_ / "deep" / name).string(), f));
  }
  ClipReader clip(root_ / "deep");
  const auto back = read_all(clip);
  ASSERT_EQ(back.size(), 3u);
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(back[i].type(), CV_16UC3);
    EXPECT_EQ(cv::norm(back[i], written[i], cv::NORM_INF), 0) << i;
  }
}

TEST_F(VideoTest, EveryClipErrorNamesTheFile) {
  EXPECT_THAT(open_error(root_ / "missing.mp4"),
              HasSubstr("video " + (root_ / "missing.mp4").string() +
                        " does not exist; check the path (give a video file (.mp4"));
  EXPECT_THAT(open_error(root_ / "missing"),
              HasSubstr("frame folder " + (root_ / "missing").string() + " does not exist"));
  std::ofstream(root_ / "fake.mp4") << "this is text, not a video";
  EXPECT_THAT(open_error(root_ / "fake.mp4"),
              HasSubstr("cannot open video " + (root_ / "fake.mp4").string() +
                        ": OpenCV's FFmpeg backend cannot decode it (corrupt, truncated or not a "
                        "video)"));
  std::ofstream(root_ / "notes.txt") << "text";
  EXPECT_THAT(open_error(root_ / "notes.txt"),
              HasSubstr((root_ / "notes.txt").string() + " is neither a video file"));
  fs::create_directories(root_ / "empty");
  EXPECT_THAT(open_error(root_ / "empty"),
              HasSubstr("frame folder " + (root_ / "empty").string() + " has no images"));

  fs::create_directories(root_ / "twins");
  cv::imwrite((root_ / "twins/0001.png").string(), moving_frames(1)[0]);
  cv::imwrite((root_ / "twins/0001.jpg").string(), moving_frames(1)[0]);
  EXPECT_THAT(open_error(root_ / "twins"),
              HasSubstr("holds 0001.jpg and 0001.png: one name, two files"));

  fs::create_directories(root_ / "sizes");
  cv::imwrite((root_ / "sizes/0000.png").string(), moving_frames(1)[0]);
  cv::imwrite((root_ / "sizes/0001.png").string(), cv::Mat(24, 32, CV_8UC3, cv::Scalar(9, 9, 9)));
  ClipReader clip(root_ / "sizes");
  cv::Mat f;
  ASSERT_TRUE(clip.read(f));
  try {
    clip.read(f);
    FAIL() << "expected DataError";
  } catch (const DataError& e) {
    EXPECT_THAT(e.what(), HasSubstr("frame " + (root_ / "sizes/0001.png").string() +
                                    " is 32x24 but the clip's first frame is 64x48"));
    EXPECT_EQ(e.file(), (root_ / "sizes/0001.png").string());
  }
}

TEST_F(VideoTest, ExpandsClipSourcesAndGlobs) {
  for (const char* f : {"a.mp4", "b.mkv", "c.MP4", "notes.txt", ".hidden.mp4"}) {
    std::ofstream(root_ / f) << "x";  // expansion looks at names only
  }
  fs::create_directories(root_ / "clips/x");
  fs::create_directories(root_ / "clips/y");
  std::ofstream(root_ / "clips/z.mp4") << "x";
  const auto r = [&](const std::string& p) { return (root_ / p).string(); };
  using Paths = std::vector<fs::path>;

  EXPECT_EQ(expand_clip_sources({r("*.mp4")}), (Paths{root_ / "a.mp4"}));
  EXPECT_EQ(expand_clip_sources({r("*")}),
            (Paths{root_ / "a.mp4", root_ / "b.mkv", root_ / "c.MP4", root_ / "clips"}));
  EXPECT_EQ(expand_clip_sources({r("?.m*")}), (Paths{root_ / "a.mp4", root_ / "b.mkv"}));
  EXPECT_EQ(expand_clip_sources({r("clips/*/")}), (Paths{root_ / "clips/x", root_ / "clips/y"}));
  EXPECT_EQ(expand_clip_sources({r("clips/*")}),
            (Paths{root_ / "clips/x", root_ / "clips/y", root_ / "clips/z.mp4"}));
  // In order, each once.
  EXPECT_EQ(expand_clip_sources({r("b.mkv"), r("*.mp4"), r("a.mp4"), r("clips/x/")}),
            (Paths{root_ / "b.mkv", root_ / "a.mp4", root_ / "clips/x"}));

  const auto error = [](const std::vector<std::string>& patterns) -> std::string {
    try {
      expand_clip_sources(patterns);
    } catch (const DataError& e) {
      return e.what();
    }
    ADD_FAILURE() << "no DataError";
    return "";
  };
  EXPECT_THAT(error({r("*.mp4"), r("*.avi")}),
              HasSubstr("clip source " + r("*.avi") + " matches no video file (.mp4"));
  EXPECT_THAT(error({r("*.avi")}), HasSubstr("quote it so the shell does not expand it"));
  EXPECT_THAT(error({r("nope/*.mp4")}),
              HasSubstr("matches nothing: folder " + r("nope") + " does not exist"));
  EXPECT_THAT(error({r("gone.mp4")}),
              HasSubstr("clip source " + r("gone.mp4") + " does not exist"));
  EXPECT_THAT(error({r("notes.txt")}), HasSubstr("is neither a video file"));
  EXPECT_THAT(error({r("*/x")}), HasSubstr("wildcards (* ?) work in the last part of a path only"));
}

TEST_F(VideoTest, ClipWriterRoundTripsEveryVideoExtension) {
  const auto frames = moving_frames(12);
  for (const std::string ext : {".mp4", ".m4v", ".mov", ".avi", ".mkv", ".webm"}) {
    SCOPED_TRACE(ext);
    const fs::path dir = root_ / ("out" + ext.substr(1));
    const fs::path path = dir / ("clip_x3" + ext);
    {
      ClipWriter writer(path, 24);
      EXPECT_TRUE(writer.is_video());
      for (std::size_t i = 0; i < frames.size(); ++i) {
        if (i % 2 == 0) {
          writer.write(frames[i], "ignored");  // 8-bit BGR
        } else {
          cv::Mat rgb;
          cv::cvtColor(frames[i], rgb, cv::COLOR_BGR2RGB);
          rgb.convertTo(rgb, CV_32F, 1.0 / 255);
          writer.write(rgb, "ignored");  // float RGB
        }
      }
      EXPECT_EQ(writer.frames_written(), 12);
      EXPECT_FALSE(fs::exists(path));  // only under its temporary name until close()
      writer.close();
    }
    EXPECT_EQ(folder_entries(dir), std::vector<std::string>{"clip_x3" + ext});  // no temp left
    ClipReader clip(path);
    EXPECT_DOUBLE_EQ(clip.fps(), 24);
    const auto back = read_all(clip);
    ASSERT_EQ(back.size(), frames.size());
    for (std::size_t i = 0; i < back.size(); ++i) {
      EXPECT_EQ(back[i].size(), kSize);
      if (ext == ".mkv") {
        EXPECT_EQ(cv::norm(back[i], frames[i], cv::NORM_INF), 0) << i;  // FFV1: lossless
      } else {
        EXPECT_GT(cv::PSNR(back[i], frames[i]), 20) << i;  // the colours were not swapped
      }
    }
  }
}

TEST_F(VideoTest, ClipWriterWithoutCloseLeavesNoFile) {
  const auto frames = moving_frames(3);
  {
    ClipWriter writer(root_ / "partial.mp4", 25);
    for (const auto& f : frames) writer.write(f, "");
  }
  EXPECT_TRUE(folder_entries(root_).empty());
  {
    ClipWriter writer(root_ / "nothing.mkv", 25);
    writer.close();  // no frames: no video
  }
  EXPECT_TRUE(folder_entries(root_).empty());
}

TEST_F(VideoTest, ClipWriterWritesAFolderOfPngs) {
  const auto frames = moving_frames(2);
  ClipWriter writer(root_ / "frames_x3", 0);
  EXPECT_FALSE(writer.is_video());
  writer.write(frames[0], "0000");  // 8-bit BGR
  cv::Mat rgb;
  cv::cvtColor(frames[1], rgb, cv::COLOR_BGR2RGB);
  rgb.convertTo(rgb, CV_32F, 1.0 / 255);
  writer.write(rgb, "0001");  // float RGB
  writer.close();
  EXPECT_EQ(folder_entries(root_ / "frames_x3"),
            (std::vector<std::string>{"0000.png", "0001.png"}));
  for (int i = 0; i < 2; ++i) {
    const cv::Mat back = read_image_bgr(root_ / "frames_x3" / ("000" + std::to_string(i) + ".png"));
    EXPECT_EQ(cv::norm(back, frames[i], cv::NORM_INF), 0) << i;
  }
}

TEST_F(VideoTest, ClipWriterErrorsNameThePath) {
  const cv::Mat frame = moving_frames(1)[0];
  // Odd sides: the FFmpeg writer would silently drop a column.
  try {
    ClipWriter writer(root_ / "odd.mp4", 25);
    writer.write(frame(cv::Rect(0, 0, 63, 48)), "0");
    FAIL() << "expected OutputError";
  } catch (const OutputError& e) {
    EXPECT_THAT(e.what(), HasSubstr("cannot write video " + (root_ / "odd.mp4").string() +
                                    ": its frames are 63x48 and a mp4v video stores even sides"));
  }
  // The backend refuses the file: the temporary name is longer than a file name may be.
  const fs::path long_name = root_ / (std::string(240, 'v') + ".mp4");
  try {
    ClipWriter writer(long_name, 25);
    writer.write(frame, "0");
    FAIL() << "expected OutputError";
  } catch (const OutputError& e) {
    EXPECT_THAT(e.what(), HasSubstr("cannot write video " + long_name.string() +
                                    ": OpenCV's FFmpeg backend could not open a mp4v writer "
                                    "(64x48 at 25 fps)"));
    EXPECT_EQ(e.file(), long_name.string());
  }
  // A frame of another size.
  try {
    ClipWriter writer(root_ / "sizes.avi", 25);
    writer.write(frame, "0");
    writer.write(frame(cv::Rect(0, 0, 32, 24)), "1");
    FAIL() << "expected OutputError";
  } catch (const OutputError& e) {
    EXPECT_THAT(e.what(), HasSubstr("it is 32x24 but the video's frames are 64x48"));
  }
  // Folders that cannot be made.
  std::ofstream(root_ / "file") << "x";
  EXPECT_THROW(ClipWriter(root_ / "file" / "clip.mp4", 25), OutputError);
  try {
    ClipWriter writer(root_ / "file", 25);
    FAIL() << "expected OutputError";
  } catch (const OutputError& e) {
    EXPECT_THAT(e.what(), HasSubstr("it exists and is not a folder"));
  }
  EXPECT_THROW(ClipWriter(root_ / "clip.mpg", 25), DataError);
  EXPECT_EQ(folder_entries(root_), std::vector<std::string>{"file"});  // nothing left behind
}

TEST_F(VideoTest, SceneCutDetectorFindsTheCutAndNotTheMotion) {
  write_video(root_ / "cut.mp4", moving_frames(20, /*cut=*/10), "mp4v");
  ClipReader clip(root_ / "cut.mp4");
  SceneCutDetector cuts;
  EXPECT_EQ(cuts.threshold(), 30);
  std::vector<double> d;
  for (cv::Mat f; clip.read(f);) d.push_back(cuts.difference(f));
  ASSERT_EQ(d.size(), 20u);
  EXPECT_EQ(d[0], 0);
  for (std::size_t i = 1; i < d.size(); ++i) {
    if (i == 10) {
      EXPECT_GT(d[i], 35) << "the cut";  // 43 here
    } else {
      EXPECT_LT(d[i], 20) << "motion within a shot, frame " << i;  // 9-13 here
      EXPECT_GT(d[i], 0) << "frame " << i;
    }
  }
  // is_cut at the cut only.
  ClipReader again(root_ / "cut.mp4");
  SceneCutDetector detector;
  std::vector<std::int64_t> at;
  for (cv::Mat f; again.read(f);) {
    if (detector.is_cut(f)) at.push_back(again.frames_read() - 1);
  }
  EXPECT_EQ(at, std::vector<std::int64_t>{10});
}

TEST_F(VideoTest, SceneCutDetectorScalesSixteenBitAndFloatFrames) {
  const cv::Mat f8 = moving_frames(1)[0];
  cv::Mat f16, f32;
  f8.convertTo(f16, CV_16U, 257.0);
  f8.convertTo(f32, CV_32F, 1.0 / 255);
  SceneCutDetector cuts;
  EXPECT_EQ(cuts.difference(f8), 0);
  EXPECT_LT(cuts.difference(f16), 0.5);  // the same picture, 16-bit (8-bit luma rounds)
  EXPECT_LT(cuts.difference(f32), 0.5);  // and float in [0, 1]
  const cv::Mat black(kSize, CV_16UC3, cv::Scalar::all(0));
  const double to_black = cuts.difference(black);
  cuts.reset();
  EXPECT_EQ(cuts.difference(black), 0);
  cv::Mat gray;
  cv::cvtColor(f8, gray, cv::COLOR_BGR2GRAY);
  EXPECT_NEAR(to_black, cv::mean(gray)[0], 1.0);  // on a 0..255 scale
}

}  // namespace
}  // namespace vsr
