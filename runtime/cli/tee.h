// Copies everything written to std::cout and std::cerr into a log file as well, for as long
// as the object lives (the experiment's console log).
#pragma once

#include <fstream>
#include <iostream>
#include <memory>
#include <string>

namespace vsr {

class ConsoleTee {
 public:
  explicit ConsoleTee(const std::string& log_path);
  ~ConsoleTee();
  ConsoleTee(const ConsoleTee&) = delete;
  ConsoleTee& operator=(const ConsoleTee&) = delete;

 private:
  class Buf;
  std::ofstream file_;
  std::unique_ptr<Buf> out_, err_;
  std::streambuf* old_out_;
  std::streambuf* old_err_;
};

}  // namespace vsr
