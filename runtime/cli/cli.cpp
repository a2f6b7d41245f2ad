#include "runtime/cli/cli.h"

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "common/errors.h"
#include "graph/dot.h"
#include "graph/pipeline.h"
#include "graph/registry.h"
#include "graph/spec.h"
#include "runtime/cli/compile.h"
#include "runtime/cli/distributed.h"
#include "runtime/cli/docs.h"
#include "runtime/cli/onnx_export.h"
#include "runtime/cli/resume.h"
#include "runtime/cli/selftest.h"
#include "runtime/cli/signals.h"
#include "runtime/cli/tee.h"
#include "runtime/config/config.h"
#include "runtime/config/convert_config.h"
#include "runtime/data/formats.h"
#include "runtime/data/image.h"
#include "runtime/data/mock_data.h"
#include "runtime/data/video.h"
#include "runtime/io/fileio.h"
#include "runtime/io/version.h"
#include "runtime/outputs/checkpoint.h"
#include "runtime/outputs/safetensors.h"
#include "runtime/outputs/tensorboard.h"

namespace vsr {

namespace {

const char kUsage[] =
    "usage: vsr_flow <command> [args]\n"
    "\n"
    "commands:\n"
    "  run SPEC|CONFIG [--set KEY=VALUE]... [--resume auto|CHECKPOINT] [--nproc N]\n"
    "                  [--stats-json FILE]\n"
    "                                 run a pipeline spec, or train from a YAML config (a\n"
    "                                 conversion config runs as with `convert`); --resume\n"
    "                                 continues a training run (auto: from the newest\n"
    "                                 checkpoint of its folder, fresh when there is none);\n"
    "                                 --nproc N trains on N local ranks (c10d; a process\n"
    "                                 with torchrun's RANK, WORLD_SIZE, ... is one rank)\n"
    "  compile CONFIG [--set KEY=VALUE]... [-o SPEC.json]\n"
    "                                 YAML config (training or conversion) -> self-contained\n"
    "                                 pipeline spec\n"
    "  validate SPEC|CONFIG [--set KEY=VALUE]... [--resume auto|CHECKPOINT] [--spec-only]\n"
    "                                 check a spec or config and the files, folders and\n"
    "                                 device it needs; prints every problem at once\n"
    "                                 (--spec-only: the spec alone, e.g. a template)\n"
    "  dot SPEC|CONFIG                Graphviz DOT of the pipeline (pipe into `dot -Tsvg`)\n"
    "  stages [TYPE] [--markdown]     registered stage types: ports, params, defaults, docs\n"
    "                                 (--markdown: every type as Markdown, stages/README.md)\n"
    "  schema [--convert]             JSON Schema of the YAML training config, for editors\n"
    "                                 (configs/vsr_flow.schema.json; --convert: of the\n"
    "                                 conversion config, configs/convert.schema.json)\n"
    "  convert CONFIG [--set KEY=VALUE]... [--stats-json FILE]\n"
    "                                 cut footage (videos, frame folders) into a training set:\n"
    "                                 GT patches, LR stacks and Val/GT in the dataset layout\n"
    "  check-data CONFIG [--set KEY=VALUE]... [--report FILE.json]\n"
    "                                 read every training pair and validation image the config\n"
    "                                 points to; list every bad file at once (non-zero exit)\n"
    "  mock-data --root DIR [--categories general,space,toon] [--formats small_540,...]\n"
    "            [--lr-versions 5,7] [--count N] [--val-count N] [--scale 3] [--seed N]\n"
    "                                 write a synthetic dataset in the spec's layout\n"
    "  upscale CHECKPOINT --input CLIP --output CLIP [--precision off|auto|bf16|fp16]\n"
    "          [--tile N] [--tile-overlap N] [--cut-threshold X] [--fps X]\n"
    "          [--device auto|cpu|cuda] [--threads N] [--weights ema|model]\n"
    "                                 upscale a video file or a folder of frames with a\n"
    "                                 trained checkpoint into a video (codec by extension:\n"
    "                                 .mp4 .m4v .mov .avi .mkv .webm) or a folder of\n"
    "                                 <frame name>.png\n"
    "  export CHECKPOINT --to FILE.safetensors|FILE.pth|FILE.onnx [--weights ema|model]\n"
    "                                 the weights for other tools: .safetensors (EMA by\n"
    "                                 default, the architecture in its metadata) or a BasicSR\n"
    "                                 .pth {params_ema, params} of plain tensors\n"
    "  selftest [--keep DIR]          check this installation end to end on mock data\n"
    "  --version                      print the version\n"
    "\n"
    "SPEC is a JSON pipeline spec, CONFIG a YAML config (*.yaml): a training config, or a\n"
    "conversion config (sections SOURCES, OUTPUT, DATASET, LR, RUN); see README.md.\n";

struct Args {
  std::string command;
  std::vector<std::string> positional;
  std::map<std::string, std::string> options;  // --name value
  std::vector<std::string> sets;               // every --set KEY=VALUE, in order
  std::vector<std::string> argv;               // the whole command line, argv[0] first
};

Args parse_args(int argc, char** argv, const std::vector<std::string>& valued) {
  Args a;
  a.argv.assign(argv, argv + argc);
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--spec-only" || arg == "--markdown" || arg == "--convert") {
      a.options.emplace(arg, "1");  // (assigning a literal trips GCC 12's -Wrestrict in C++20)
    } else if (arg.rfind("--", 0) == 0) {
      bool known = false;
      for (const auto& v : valued) known |= (v == arg);
      if (!known) throw UsageError("unknown option " + arg);
      if (i + 1 >= argc) throw UsageError("option " + arg + " needs a value");
      if (arg == "--set") {
        a.sets.push_back(argv[++i]);
      } else {
        a.options[arg] = argv[++i];
      }
    } else if (arg == "-o") {
      if (i + 1 >= argc) throw UsageError("option -o needs a value");
      a.options["-o"] = argv[++i];
    } else if (a.command.empty()) {
      a.command = arg;
    } else {
      a.positional.push_back(arg);
    }
  }
  return a;
}

const std::string& one_path(const Args& a) {
  if (a.positional.size() != 1) {
    throw UsageError("'" + a.command + "' takes one SPEC path, got " +
                     std::to_string(a.positional.size()));
  }
  return a.positional[0];
}

LoadedSpec load(const Args& a, const CheckOptions& options = {}) {
  return load_spec_or_config(one_path(a), a.sets, options);
}

void print_stage(const StageType& t) {
  const StageSchema& s = t.schema;
  std::cout << s.type() << (s.kind() == StageKind::kSource ? "  (source)" : "")
            << (s.allows_concurrency() ? "  (concurrent)" : "  (serial)") << "\n";
  if (!s.doc().empty()) std::cout << "  " << s.doc() << "\n";
  for (const auto& p : s.inputs()) {
    std::cout << "  in  " << p.name << ": " << p.type << (p.doc.empty() ? "" : "  " + p.doc)
              << "\n";
  }
  for (const auto& p : s.outputs()) {
    std::cout << "  out " << p.name << ": " << p.type << (p.doc.empty() ? "" : "  " + p.doc)
              << "\n";
  }
  for_each_param(s.params(), [](const ParamSpec& p, const std::string& name) {
    const std::string detail = p.type_text();
    std::cout << "  param " << name << " (" << to_string(p.type) << ", "
              << (p.required ? std::string("required") : "default " + p.default_value.dump())
              << ")  " << p.doc << (detail != to_string(p.type) ? "  [" + detail + "]" : "")
              << "\n";
  });
  for (const auto& c : s.checks()) {
    std::cout << "  check " << (c.world ? "(world) " : "") << c.what << "\n";
  }
  std::cout << "\n";
}

int cmd_stages(const Args& a) {
  const Registry& r = Registry::global();
  if (a.options.count("--markdown")) {
    if (!a.positional.empty())
      throw UsageError("'stages --markdown' documents every type; drop " + a.positional[0]);
    std::cout << stages_markdown(r);
    return 0;
  }
  if (!a.positional.empty()) {
    for (const auto& name : a.positional) print_stage(r.get(name));
    return 0;
  }
  for (const auto& name : r.names()) print_stage(*r.find(name));
  return 0;
}

int cmd_schema(const Args& a) {
  if (!a.positional.empty())
    throw UsageError("'schema' takes no arguments, got " + a.positional[0]);
  const bool convert = a.options.count("--convert") > 0;
  std::cout << (convert ? convert_json_schema() : config_json_schema()).dump(2) << "\n";
  return 0;
}

RunOptions run_options(const Args& a) {
  RunOptions run;
  run.prepare = true;
  if (a.options.count("--resume")) {
    run.resume = a.options.at("--resume");
    if (run.resume.empty()) {
      throw UsageError("--resume takes auto or a checkpoint path (checkpoint_step_NNNNNN.pth)");
    }
  }
  return run;
}

int cmd_validate(const Args& a) {
  const bool spec_only = a.options.count("--spec-only") > 0;
  const LoadedSpec loaded = load_spec_or_config(one_path(a), a.sets, CheckOptions{!spec_only},
                                                spec_only ? RunOptions{} : run_options(a));
  for (const auto& w : loaded.warnings) std::cerr << "vsr_flow: warning: " << w << "\n";
  for (const auto& n : loaded.notes) std::cerr << "vsr_flow: " << n << "\n";
  std::cout << one_path(a) << ": ok (" << loaded.spec.stages.size() << " stages, "
            << loaded.spec.edges.size() << " edges)\n";
  if (!loaded.probabilities_line.empty()) std::cout << loaded.probabilities_line << "\n";
  return 0;
}

int cmd_dot(const Args& a) {
  std::cout << to_dot(load(a, CheckOptions{/*world=*/false}).spec);
  return 0;
}

int cmd_compile(const Args& a) {
  std::vector<std::string> warnings;
  const json spec = compile_config_file(one_path(a), a.sets, &warnings);
  for (const auto& w : warnings) {
    std::cerr << "vsr_flow: warning: " << w << " (the spec is written; it will not run here until "
              << "this is fixed)\n";
  }
  const std::string text = spec.dump(2) + "\n";
  if (!a.options.count("-o")) {
    std::cout << text;
    return 0;
  }
  write_file_atomic(a.options.at("-o"), text);
  std::cerr << "vsr_flow: wrote " << a.options.at("-o") << "\n";
  return 0;
}

// The last validation of a training run, read back from its TensorBoard file.
void print_training_summary(const std::string& experiment_dir) {
  namespace fs = std::filesystem;
  std::cout << "\noutputs: " << experiment_dir << "\n";
  for (const char* sub : {"checkpoints", "validation_images", "tensorboard"}) {
    std::cout << "  " << (fs::path(experiment_dir) / sub).string() << "\n";
  }
  const fs::path tb = fs::path(experiment_dir) / "tensorboard";
  if (!fs::is_directory(tb)) return;
  fs::path newest;
  for (const auto& e : fs::directory_iterator(tb)) {
    if (e.path().filename().string().rfind("events.out.tfevents.", 0) == 0 &&
        (newest.empty() || fs::last_write_time(e.path()) > fs::last_write_time(newest))) {
      newest = e.path();
    }
  }
  if (newest.empty()) return;
  double psnr = 0, bicubic = 0;
  std::int64_t step = -1;
  for (const auto& r : read_event_file(newest)) {
    if (r.tag == "val/psnr") {
      psnr = r.scalar;
      step = r.step;
    }
    if (r.tag == "val/bicubic_psnr") bicubic = r.scalar;
  }
  if (step < 0) return;
  std::ostringstream line;
  line << std::fixed << std::setprecision(2) << "last validation (step " << step << "): PSNR "
       << psnr << " dB, bicubic " << bicubic << " dB (" << std::showpos << psnr - bicubic
       << std::noshowpos << " dB)";
  std::cout << line.str() << "\n";
}

// Runs the pipeline with Ctrl-C as a clean stop; prints the stage stats to stderr (also after
// a failure) and writes them to --stats-json. Returns false when it was stopped on request.
bool run_with_stats(Pipeline& pipeline, const Args& a, bool print_stats = true) {
  install_stop_signals(pipeline.stop_flag());
  try {
    pipeline.run();
  } catch (...) {
    install_stop_signals(nullptr);
    if (print_stats) std::cerr << pipeline.stats_table();
    throw;
  }
  install_stop_signals(nullptr);
  if (print_stats) std::cerr << pipeline.stats_table();
  if (a.options.count("--stats-json")) {
    write_file_atomic(a.options.at("--stats-json"), pipeline.stats_json().dump(2) + "\n");
  }
  return !pipeline.stop_requested();
}

// The conversion job of a conversion config (compile_convert_spec): footage in, a training set
// under OUTPUT.output_root out.
int run_conversion(const LoadedSpec& loaded, const Args& a) {
  const json& source = loaded.spec.stage("clip_source")->params;
  const json& writer = loaded.spec.stage("dataset_writer")->params;
  const json& patches = loaded.spec.stage("patches")->params;
  std::string formats;
  for (const auto& f : patches.at("formats")) {
    formats += (formats.empty() ? "" : ", ") + f.get<std::string>();
  }
  const std::size_t inputs = source.at("sources").size();
  const int workers = loaded.spec.stage("patches")->concurrency;
  const std::string root = writer.at("output_root").get<std::string>();
  std::cout << "convert: " << inputs << (inputs == 1 ? " source" : " sources") << " -> " << root
            << " (category " << writer.at("category").get<std::string>() << ", formats " << formats
            << ", x" << writer.at("scale").get<int>() << "); " << workers
            << (workers == 1 ? " worker\n" : " workers\n") << std::flush;
  Pipeline pipeline(loaded.spec);
  if (!run_with_stats(pipeline, a)) {
    std::cerr << "vsr_flow: stopped on request; every file written so far is complete (run the "
                 "same command again to write the rest)\n";
    return 130;
  }
  std::cout << "convert: done: train on it with DATA.data_root: " << root
            << " and DATA.category: " << writer.at("category").get<std::string>() << "\n";
  return 0;
}

// `vsr_flow convert CONFIG`: a conversion config only (a training config is `vsr_flow run`'s).
int cmd_convert(const Args& a) {
  if (a.positional.size() != 1) {
    throw UsageError("'convert' takes one CONFIG path, got " + std::to_string(a.positional.size()));
  }
  const std::string& path = a.positional[0];
  if (config_file_kind(path) != ConfigKind::kConvert) {
    throw ConfigError(path +
                          ": convert reads a conversion config (sections SOURCES, OUTPUT, "
                          "DATASET, LR, RUN; see configs/convert_example.yaml), and this is a "
                          "training config: train with `vsr_flow run " +
                          path + "`",
                      path);
  }
  return run_conversion(load_spec_or_config(path, a.sets), a);
}

// The folders a training spec writes into whose leftovers of a killed run are removed before
// it starts: the experiment folder (configs) or the checkpoint folder (specs).
void remove_leftovers(const LoadedSpec& loaded) {
  std::string dir = loaded.experiment_dir;
  if (dir.empty()) {
    const StageDecl* checkpoint = nullptr;
    for (const auto& s : loaded.spec.stages) {
      if (s.type == "checkpoint") checkpoint = &s;
    }
    if (!checkpoint) return;
    dir = checkpoint->params.at("dir").get<std::string>();
  }
  const auto removed = remove_stale_temp_files(dir);
  if (!removed.empty()) {
    std::cerr << "vsr_flow: removed " << removed.size()
              << (removed.size() == 1 ? " temporary file" : " temporary files")
              << " left by an interrupted run (e.g. " << removed.front().string() << ")\n";
  }
}

// `run --nproc N`: the command line, checked once here, then run as N local ranks.
int run_local_ranks(const Args& a) {
  const std::string& n = a.options.at("--nproc");
  char* end = nullptr;
  const long nproc = std::strtol(n.c_str(), &end, 10);
  if (*end != '\0' || nproc < 1 || nproc > 256) {
    throw UsageError("--nproc takes the number of local ranks (1 to 256), got " + n);
  }
  if (std::getenv("WORLD_SIZE")) {
    throw UsageError(
        "--nproc starts the ranks itself, and WORLD_SIZE is already set (this "
        "process is a rank of a job): use one or the other");
  }
  RunOptions probe = run_options(a);
  probe.dist.world_size = static_cast<int>(nproc);  // checked as rank 0 of that job
  const LoadedSpec loaded = load_spec_or_config(one_path(a), a.sets, {}, probe);
  if (!loaded.spec.stage("train_step")) {
    throw UsageError("--nproc runs a training job on several processes; " + one_path(a) +
                     " is not a training config or spec");
  }
  std::vector<std::string> args;
  for (std::size_t i = 0; i < a.argv.size(); ++i) {
    if (a.argv[i] == "--nproc") {
      ++i;
      continue;
    }
    args.push_back(a.argv[i]);
  }
  return launch_local_ranks(static_cast<int>(nproc), args);
}

int cmd_run(const Args& a) {
  if (a.options.count("--nproc") && a.options.at("--nproc") != "1") return run_local_ranks(a);
  RunOptions options = run_options(a);
  options.dist = distributed_options_from_env();
  const bool rank0 = options.dist.rank == 0;
  // Other ranks print only their errors (stderr); rank 0 prints and writes for the job.
  if (!rank0) std::cout.setstate(std::ios::failbit);
  const LoadedSpec loaded = load_spec_or_config(one_path(a), a.sets, {}, options);
  if (loaded.from_config && loaded.kind == ConfigKind::kConvert) {
    if (a.options.count("--resume")) {
      throw UsageError(
          "--resume continues a training run; a conversion job resumes by itself "
          "(run the same command again: it skips what is written)");
    }
    return run_conversion(loaded, a);
  }
  if (rank0) remove_leftovers(loaded);
  if (const StageDecl* train = loaded.spec.stage("train_step");
      train && !loaded.resume_path.empty()) {
    const auto total = train->params.at("total_steps").get<std::int64_t>();
    if (loaded.resume_step >= total) {
      std::cout << "vsr_flow: " << loaded.resume_path << " is of step " << loaded.resume_step
                << ", and the run has total_steps " << total
                << ": it is complete, nothing left to train (raise TRAINING.total_steps to "
                   "train on)\n";
      return 0;
    }
    const double budget = 60 * train->params.at("time_budget_minutes").get<double>();
    if (budget > 0 && loaded.resume_train_time_s >= budget) {
      char minutes[96];
      std::snprintf(minutes, sizeof minutes, "%.1f min, and the run's time budget is %.1f min",
                    loaded.resume_train_time_s / 60, budget / 60);
      std::cout << "vsr_flow: " << loaded.resume_path << " has trained " << minutes
                << ": it is complete, nothing left to train (raise "
                   "TRAINING.time_budget_minutes to train on)\n";
      return 0;
    }
  }
  std::unique_ptr<ConsoleTee> tee;
  if (loaded.from_config && rank0) {
    namespace fs = std::filesystem;
    const fs::path dir = loaded.experiment_dir;
    fs::create_directories(dir);
    write_file_atomic((dir / "config.yaml").string(), loaded.config_text);
    write_file_atomic((dir / "spec.json").string(), to_json(loaded.spec).dump(2) + "\n");
    tee = std::make_unique<ConsoleTee>((dir / "train.log").string());
    std::cout << "vsr_flow: training " << loaded.spec.name << " -> " << dir.string() << "\n"
              << loaded.probabilities_line << "\n";
  }
  for (const auto& n : loaded.notes) std::cout << "vsr_flow: " << n << "\n";
  Pipeline pipeline(loaded.spec);
  if (!run_with_stats(pipeline, a, rank0)) {
    std::cerr << "vsr_flow: stopped on request; every file written so far is complete"
              << (loaded.spec.stage("train_step")
                      ? " and the last step is saved: continue with the same command and "
                        "--resume auto"
                      : "")
              << "\n";
    return 130;
  }
  if (loaded.from_config && rank0) print_training_summary(loaded.experiment_dir);
  return 0;
}

// The dataset check: scan -> check_pair -> check_report; see compile_check_data_spec.
int cmd_check_data(const Args& a) {
  if (a.positional.size() != 1) {
    throw UsageError("'check-data' takes one CONFIG path, got " +
                     std::to_string(a.positional.size()));
  }
  const std::string report = a.options.count("--report") ? a.options.at("--report") : "";
  const Spec spec = compile_check_data_file(a.positional[0], a.sets, report);
  const json& scan = spec.stage("scan")->params;
  const int workers = spec.stage("check")->concurrency;
  std::string formats;
  for (const auto& f : scan.at("formats")) {
    formats += (formats.empty() ? "" : ", ") + f.get<std::string>();
  }
  std::cout << "check-data: " << scan.at("data_root").get<std::string>() << " (category "
            << scan.at("category").get<std::string>() << ", "
            << scan.at("lr_version").get<std::string>() << ", x" << scan.at("scale").get<int>()
            << "): formats " << formats << "; validation images in "
            << scan.at("val_dir").get<std::string>() << "; " << workers
            << (workers == 1 ? " worker\n" : " workers\n");
  Pipeline pipeline(spec);
  install_stop_signals(pipeline.stop_flag());
  try {
    pipeline.run();
  } catch (const StageError& e) {
    install_stop_signals(nullptr);
    if (e.stage() != "scan" && e.stage() != "report") throw;
    // The problem list is the answer here, not a failure of a stage: print it as it is.
    std::cout << std::flush;  // the summary first, also when both go to one pipe
    std::cerr << "vsr_flow: check-data: " << e.cause() << "\n";
    return 1;
  } catch (...) {
    install_stop_signals(nullptr);
    throw;
  }
  install_stop_signals(nullptr);
  return pipeline.stop_requested() ? 130 : 0;
}

std::vector<std::string> split_list(const std::string& text) {
  std::vector<std::string> out;
  std::string item;
  for (char c : text + ",") {
    if (c == ',') {
      if (!item.empty()) out.push_back(item);
      item.clear();
    } else if (c != ' ') {
      item += c;
    }
  }
  return out;
}

long long int_option(const Args& a, const std::string& name, long long fallback) {
  auto it = a.options.find(name);
  if (it == a.options.end()) return fallback;
  try {
    std::size_t used = 0;
    const long long v = std::stoll(it->second, &used);
    if (used == it->second.size()) return v;
  } catch (const std::exception&) {
  }
  throw UsageError(name + " expects an integer, found '" + it->second + "'");
}

int cmd_mock_data(const Args& a) {
  if (!a.options.count("--root")) throw UsageError("mock-data needs --root DIR");
  MockDataOptions o;
  o.root = a.options.at("--root");
  if (a.options.count("--categories")) o.categories = split_list(a.options.at("--categories"));
  if (a.options.count("--formats")) o.formats = split_list(a.options.at("--formats"));
  if (a.options.count("--lr-versions")) {
    o.lr_versions.clear();
    for (const auto& v : split_list(a.options.at("--lr-versions"))) {
      const LrVersion* version = find_lr_version(v);
      if (!version) version = find_lr_version(v + "frames");  // "7" for "7frames"
      if (!version) {
        throw UsageError("--lr-versions takes " + known_lr_version_names() + " (or 5, 7), found " +
                         v);
      }
      o.lr_versions.push_back(version->frames);
    }
  }
  o.count = static_cast<int>(int_option(a, "--count", o.count));
  o.val_count = static_cast<int>(int_option(a, "--val-count", o.val_count));
  o.scale = static_cast<int>(int_option(a, "--scale", o.scale));
  o.seed = static_cast<std::uint64_t>(int_option(a, "--seed", 0));
  const MockDataSummary summary = write_mock_dataset(o);
  std::cout << "mock-data: wrote " << summary.files << " files (" << summary.clips
            << " training samples) under " << o.root.string() << "\n";
  return 0;
}

double float_option(const Args& a, const std::string& name, double fallback) {
  auto it = a.options.find(name);
  if (it == a.options.end()) return fallback;
  try {
    std::size_t used = 0;
    const double v = std::stod(it->second, &used);
    if (used == it->second.size()) return v;
  } catch (const std::exception&) {
  }
  throw UsageError(name + " expects a number, found '" + it->second + "'");
}

// Names a problem of the upscaling spec by the command-line option its value came from
// (make_infer_spec's meta.sources): "--precision: ...".
ProblemLabel option_label(const json& spec) {
  const json sources = spec.at("meta").value("sources", json::object());
  return [sources](const SpecProblem& p) {
    if (p.stage.empty() || p.param.empty()) return p.path;
    const bool shared = p.path.rfind("$.shared.", 0) == 0;
    const std::string ref = (shared ? "shared" : p.stage) + "." + p.param;
    return sources.contains(ref) ? sources.at(ref).get<std::string>() : p.path;
  };
}

// "video, 1440 frames, 1920x1080, 23.976 fps" or "frame folder, 120 frames, 640x360".
std::string clip_text(const ClipReader& clip) {
  std::ostringstream s;
  s << (clip.is_video() ? "video, " : "frame folder, ");
  if (clip.frame_count() > 0)
    s << (clip.is_video() ? "about " : "") << clip.frame_count() << " frames, ";
  s << size_text(clip.size());
  if (clip.fps() > 0) s << ", " << std::setprecision(5) << clip.fps() << " fps";
  return s.str();
}

// An upscaling job: frames -> upscale -> frame_writer (make_infer_spec), with the frame count
// taken from the checkpoint.
int cmd_upscale(const Args& a) {
  if (a.positional.size() != 1) {
    throw UsageError("'upscale' takes one CHECKPOINT path, got " +
                     std::to_string(a.positional.size()));
  }
  if (!a.options.count("--input")) {
    throw UsageError("upscale needs --input CLIP (a video file or a folder of LR frames)");
  }
  if (!a.options.count("--output")) {
    throw UsageError("upscale needs --output CLIP (a video file or a folder for the frames)");
  }
  UpscaleJob job;
  job.checkpoint = a.positional[0];
  job.input = a.options.at("--input");
  job.output = a.options.at("--output");
  job.tile = static_cast<int>(int_option(a, "--tile", job.tile));
  job.tile_overlap = static_cast<int>(int_option(a, "--tile-overlap", job.tile_overlap));
  job.threads = static_cast<int>(int_option(a, "--threads", job.threads));
  job.cut_threshold = float_option(a, "--cut-threshold", job.cut_threshold);
  job.fps = float_option(a, "--fps", job.fps);
  if (a.options.count("--device")) job.device = a.options.at("--device");
  if (a.options.count("--weights")) job.weights = a.options.at("--weights");
  if (a.options.count("--precision")) job.precision = a.options.at("--precision");
  const CheckpointData c = load_checkpoint(job.checkpoint);
  if (c.frames <= 0 || c.scale <= 0) {
    throw DataError("checkpoint " + job.checkpoint +
                    " has no architecture (arch.frames, arch.scale); use a checkpoint written by "
                    "vsr_flow training");
  }
  job.frames = c.frames;
  const json doc = make_infer_spec(job);
  const Spec spec = parse_spec(doc, Registry::global(), "upscale", {}, option_label(doc));
  // The spec's checks passed, so the input exists; its first frame gives the sizes.
  const ClipReader clip(job.input);
  const cv::Size out_size(clip.size().width * c.scale, clip.size().height * c.scale);
  const bool video_out = is_video_file(job.output);
  if (video_out && (out_size.width % 2 != 0 || out_size.height % 2 != 0)) {
    throw OutputError("--output " + job.output + ": the upscaled frames would be " +
                          size_text(out_size) + " (x" + std::to_string(c.scale) + " of " +
                          size_text(clip.size()) +
                          ") and a video stores even sides only; crop the input to an even "
                          "width and height, or write a frame folder (--output DIR)",
                      job.output);
  }
  const double fps = job.fps > 0 ? job.fps : clip.fps() > 0 ? clip.fps() : ClipWriter::kDefaultFps;
  std::ostringstream out;
  out << (video_out ? video_codec(job.output) + " video, " : std::string("PNG frames, "))
      << size_text(out_size);
  if (video_out) out << ", " << std::setprecision(5) << fps << " fps";
  std::cout << "upscale: " << job.checkpoint << " (step " << c.step << ", x" << c.scale << ", "
            << c.frames << " frames, " << (job.weights == "ema" && !c.ema.empty() ? "EMA" : "model")
            << " weights" << (job.precision == "off" ? "" : ", " + job.precision) << ")\n  "
            << job.input << " (" << clip_text(clip) << ") -> " << job.output << " (" << out.str()
            << ")\n"
            << std::flush;
  Pipeline pipeline(spec);
  if (!run_with_stats(pipeline, a)) {
    std::cerr << "vsr_flow: stopped on request; every frame written so far is complete"
              << (video_out ? " (the video holds them)" : "") << "\n";
    return 130;
  }
  long long written = 0;
  const json stats = pipeline.stats_json();
  for (const auto& s : stats.at("stages")) {
    if (s.at("name") == "frame_writer") written = s.at("in").get<long long>();
  }
  std::cout << "upscale: wrote " << written << (written == 1 ? " frame" : " frames") << " to "
            << job.output << "\n";
  return 0;
}

std::string fs_extension(const std::string& path) {
  return std::filesystem::path(path).extension().string();
}

// `vsr_flow export CKPT --to FILE`: the weights for other tools (runtime/outputs/safetensors.h).
int cmd_export(const Args& a) {
  if (a.positional.size() != 1) {
    throw UsageError("'export' takes one CHECKPOINT path, got " +
                     std::to_string(a.positional.size()));
  }
  if (!a.options.count("--to")) {
    throw UsageError("export needs --to FILE.safetensors, FILE.pth or FILE.onnx");
  }
  const std::string to = a.options.at("--to");
  const std::string ext = fs_extension(to);
  if (ext != ".safetensors" && ext != ".pth" && ext != ".onnx") {
    throw UsageError("--to " + to +
                     ": export writes .safetensors (the state dict with the architecture in its "
                     "metadata), .pth (BasicSR's {\"params_ema\", \"params\"}) or .onnx (the "
                     "whole model, input [1, frames*3, H, W])");
  }
  const std::string weights = a.options.count("--weights") ? a.options.at("--weights") : "ema";
  if (weights != "ema" && weights != "model") {
    throw UsageError("--weights takes ema or model, got " + weights);
  }
  const std::string& path = a.positional[0];
  const CheckpointData c = load_checkpoint(path);
  if (c.frames <= 0 || c.scale <= 0 || c.base_channels <= 0 || c.num_blocks <= 0) {
    throw DataError("checkpoint " + path +
                        " has no architecture (arch); export takes a checkpoint written by "
                        "vsr_flow training",
                    path);
  }
  if (ext == ".onnx") {
    std::cout << "export: " << path << " (step " << c.step << ", x" << c.scale << ", " << c.frames
              << " frames, " << (weights == "ema" && !c.ema.empty() ? "EMA" : "model")
              << " weights) -> " << to << " through vsr_flow's Python model and torch.onnx\n"
              << std::flush;
    export_onnx(path, to, weights, c.frames);
    return 0;
  }
  if (ext == ".pth") {
    // BasicSR's layout, which spandrel and chaiNNer load: params_ema (when kept) and params.
    std::vector<std::pair<std::string, const CheckpointData::Named*>> parts;
    if (!c.ema.empty()) parts.emplace_back("params_ema", &c.ema);
    parts.emplace_back("params", &c.model);
    save_state_dicts(to, parts);
    std::cout << "export: " << path << " (step " << c.step << ", x" << c.scale << ", " << c.frames
              << " frames) -> " << to << " (" << (c.ema.empty() ? "params" : "params_ema, params")
              << "; " << c.model.size() << " tensors each)\n";
    return 0;
  }
  const bool ema = weights == "ema" && !c.ema.empty();
  const json arch = {{"base_channels", c.base_channels},
                     {"num_blocks", c.num_blocks},
                     {"scale", c.scale},
                     {"frames", c.frames}};
  save_safetensors(to, ema ? c.ema : c.model,
                   {{"format", "pt"},
                    {"arch", arch.dump()},
                    {"scale", std::to_string(c.scale)},
                    {"frames", std::to_string(c.frames)},
                    {"step", std::to_string(c.step)},
                    {"weights", ema ? "ema" : "model"},
                    {"vsr_flow_version", version_string()},
                    {"config", c.config}});
  std::cout << "export: " << path << " (step " << c.step << ", x" << c.scale << ", " << c.frames
            << " frames, " << (ema ? "EMA" : "model") << " weights"
            << (weights == "ema" && !ema ? ": the run kept no EMA" : "") << ") -> " << to << " ("
            << (ema ? c.ema : c.model).size() << " tensors)\n";
  return 0;
}

}  // namespace

int cli_main(int argc, char** argv) {
  if (argc == 2 && (std::string(argv[1]) == "--version" || std::string(argv[1]) == "version")) {
    std::cout << "vsr_flow " << version_string() << "\n";
    return 0;
  }
  for (int i = 1; i < argc; ++i) {  // `vsr_flow --help`, `vsr_flow run --help`, ...
    const std::string arg = argv[i];
    if (arg == "--help" || arg == "-h") {
      std::cout << kUsage;
      return 0;
    }
  }
  try {
    const Args a = parse_args(
        argc, argv, {"--stats-json",    "--root",      "--categories", "--formats", "--lr-versions",
                     "--count",         "--val-count", "--scale",      "--seed",    "--set",
                     "--keep",          "--report",    "--input",      "--output",  "--tile",
                     "--tile-overlap",  "--device",    "--threads",    "--weights", "--precision",
                     "--cut-threshold", "--fps",       "--resume",     "--to",      "--nproc"});
    if (a.command.empty() || a.command == "help" || a.command == "-h") {
      std::cout << kUsage;
      return a.command.empty() ? 2 : 0;
    }
    if (a.command == "stages") return cmd_stages(a);
    if (a.command == "schema") return cmd_schema(a);
    if (a.command == "validate") return cmd_validate(a);
    if (a.command == "dot") return cmd_dot(a);
    if (a.command == "run") return cmd_run(a);
    if (a.command == "compile") return cmd_compile(a);
    if (a.command == "export") return cmd_export(a);
    if (a.command == "check-data") return cmd_check_data(a);
    if (a.command == "convert") return cmd_convert(a);
    if (a.command == "mock-data") return cmd_mock_data(a);
    if (a.command == "upscale") return cmd_upscale(a);
    if (a.command == "selftest")
      return run_selftest(a.options.count("--keep") ? a.options.at("--keep") : "");
    throw UsageError("unknown command '" + a.command + "'");
  } catch (const UsageError& e) {
    std::cerr << "vsr_flow: " << e.what() << "\n\n" << kUsage;
    return exit_code(e.kind());
  } catch (const Error& e) {
    const bool before_run = exit_code(e.kind()) == 2;
    std::cerr << "vsr_flow: " << (before_run ? "" : std::string(to_string(e.kind())) + " error: ")
              << e.what() << "\n";
    return exit_code(e.kind());
  } catch (const std::exception& e) {
    // Not one of ours: a bug or a library failure the code did not anticipate.
    std::cerr << "vsr_flow: error: " << e.what() << "\n";
    return 1;
  }
}

}  // namespace vsr
