// retain report: one self-contained HTML page of a run folder (eval/report.h) — the comparison
// table, AA/BWT bars, accuracy-matrix heatmaps, per-task curves and loss curves. `retain run` writes
// it too, as OUT/report.html; this command rewrites it, e.g. for a folder of an older version.
#include "commands.h"

#include "retain/eval/report.h"

#include <filesystem>
#include <iostream>
#include <memory>

namespace retain::cli {
namespace {

struct ReportOptions {
  std::string run_dir;
  std::string out;
};

}  // namespace

void register_report(CLI::App& app) {
  auto o = std::make_shared<ReportOptions>();
  auto* command = app.add_subcommand("report", "Write a self-contained HTML report of a run folder");
  command->add_option("RUN_DIR", o->run_dir, "Run folder written by `retain run`")->required();
  command->add_option("--out", o->out, "HTML file to write (default: RUN_DIR/report.html)");
  command->callback([o] {
    const auto path = write_run_report(o->run_dir, o->out);
    std::cout << path.string() << '\n';
  });
}

}  // namespace retain::cli
