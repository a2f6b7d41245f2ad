#include "runtime/cli/tee.h"

#include <mutex>

#include "common/errors.h"

namespace vsr {

class ConsoleTee::Buf : public std::streambuf {
 public:
  Buf(std::streambuf* a, std::streambuf* b, std::mutex* m) : a_(a), b_(b), mutex_(m) {}

 protected:
  int overflow(int c) override {
    if (c == EOF) return !EOF;
    std::lock_guard<std::mutex> lock(*mutex_);
    const int r1 = a_->sputc(static_cast<char>(c));
    const int r2 = b_->sputc(static_cast<char>(c));
    return r1 == EOF || r2 == EOF ? EOF : c;
  }
  std::streamsize xsputn(const char* s, std::streamsize n) override {
    std::lock_guard<std::mutex> lock(*mutex_);
    a_->sputn(s, n);
    b_->sputn(s, n);
    return n;
  }
  int sync() override {
    std::lock_guard<std::mutex> lock(*mutex_);
    return a_->pubsync() | b_->pubsync();
  }

 private:
  std::streambuf* a_;
  std::streambuf* b_;
  std::mutex* mutex_;
};

namespace {
std::mutex g_tee_mutex;
}

ConsoleTee::ConsoleTee(const std::string& log_path)
    : file_(log_path, std::ios::app), old_out_(std::cout.rdbuf()), old_err_(std::cerr.rdbuf()) {
  if (!file_)
    throw OutputError(log_path + ": cannot open the console log; check that its folder is writable",
                      log_path);
  out_ = std::make_unique<Buf>(old_out_, file_.rdbuf(), &g_tee_mutex);
  err_ = std::make_unique<Buf>(old_err_, file_.rdbuf(), &g_tee_mutex);
  std::cout.rdbuf(out_.get());
  std::cerr.rdbuf(err_.get());
}

ConsoleTee::~ConsoleTee() {
  std::cout.flush();
  std::cerr.flush();
  std::cout.rdbuf(old_out_);
  std::cerr.rdbuf(old_err_);
}

}  // namespace vsr
