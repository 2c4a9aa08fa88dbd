#include "retain/suite/build_suite.h"

#include "pretrain_corpus.h"
#include "publish.h"
#include "task_folder.h"

#include "retain/core/error.h"
#include "retain/core/files.h"
#include "retain/suite/split.h"
#include "retain/suite/suite_sources.h"
#include "retain/suite/task_catalogue.h"

#include <fmt/format.h>

#include <chrono>
#include <cstdlib>
#include <ostream>

namespace retain::suite {

namespace fs = std::filesystem;

constexpr const char* kComponent = "data";

fs::path default_cache_dir() {
  if (const char* env = std::getenv("RETAIN_CACHE"); env && *env) return env;
  const char* home = std::getenv("HOME");
  RETAIN_CHECK(home && *home, kComponent, "neither RETAIN_CACHE nor HOME is set; pass --cache DIR");
  return fs::path(home) / ".cache" / "retain";
}

json build_suite(const SuiteOptions& given, std::ostream& log) {
  const auto started = std::chrono::steady_clock::now();
  const auto tasks = suite_tasks(given.suite);
  RETAIN_CHECK(!given.out.empty(), kComponent, "no output folder given (--out DIR)");
  SuiteOptions options = given;
  options.out = options.out.lexically_normal();  // "data/core5/" → "data/core5": the temporary folder goes beside it
  if (!options.out.has_filename()) options.out = options.out.parent_path();
  RETAIN_CHECK(options.max_train > 0 && options.max_test > 1, kComponent,
               "--max-train must be at least 1 and --max-test at least 2 (got {} and {})", options.max_train,
               options.max_test);
  RETAIN_CHECK(options.overwrite || !fs::exists(options.out), kComponent,
               "{} already exists; pass --overwrite to replace it, or choose another --out", options.out.string());
  RETAIN_CHECK(!fs::exists(options.out) || is_replaceable_suite(options.out), kComponent,
               "{} is not a suite folder (no manifest.json of format retain-suite/1) and not empty; --overwrite "
               "replaces only a suite this command built",
               options.out.string());
  const fs::path cache = options.cache.empty() ? default_cache_dir() : options.cache;
  fs::create_directories(cache);
  if (options.out.has_parent_path()) fs::create_directories(options.out.parent_path());
  if (const size_t stale = remove_stale_temporaries(options.out))
    log << fmt::format("retain data: removed {} folder{} left beside {} by a build that was killed\n", stale,
                       stale == 1 ? "" : "s", options.out.string());
  const fs::path tmp = temporary_beside(options.out);
  remove_tree(tmp);
  fs::create_directories(tmp);

  SuiteSources sources(cache, log);
  json manifest = {
      {"format", "retain-suite/1"},
      {"suite", options.suite},
      {"retain_version", RETAIN_VERSION},
      {"seed", options.seed},
      {"max_train", options.max_train},
      {"max_test", options.max_test},
      {"max_dev", options.max_test / 2},
      {"max_input_chars", options.max_input_chars},
      {"split_rule",
       fmt::format("by source group: a group's split is fixed by a hash of (seed, group) alone, the same for every "
                   "task: {:.0f}% of groups "
                   "test, {:.0f}% dev, the rest train; then each split is capped, balanced per label (each label gets "
                   "min(cap / labels, the rarest label's count)), chosen by a seeded hash of the input",
                   kTestFraction * 100, kDevFraction * 100)},
      {"archive_note",
       "Debian's archive and npm are live, not snapshots: a rebuild after a package or list changes gives different "
       "examples. The sha256 of every .deb, .tgz and list file used is recorded below; equal checksums (and seed and "
       "caps) give byte-identical output."},
  };
  try {
    if (options.suite == "pretrain" || options.suite == "pretrain-large") {
      manifest.update(write_pretrain_corpus(sources, options, tmp, log));
    } else {
      json task_entries = json::array();
      for (const auto& name : tasks) {
        const TaskDraft draft = draft_task(name, sources);
        const TaskSplits splits = split_task(draft, options);
        RETAIN_CHECK(!splits.train.empty() && !splits.test.empty(), kComponent,
                     "task {}: an empty split (train {}, test {}); are the source files complete?", name,
                     splits.train.size(), splits.test.size());
        task_entries.push_back(write_task_folder(tmp / name, draft, splits));
        log << fmt::format("retain data: {}: train {}, dev {}, test {} ({} source items, {} duplicates dropped)\n",
                           name, splits.train.size(), splits.dev.size(), splits.test.size(), draft.items.size(),
                           splits.duplicates_dropped);
      }
      manifest["tasks"] = task_entries;
      std::string list;
      for (const auto& name : tasks) list += name + "\n";
      write_file_atomic(tmp / "tasks.txt", list, kComponent);
    }
    manifest["sources"] = sources.manifest();
    write_file_atomic(tmp / "manifest.json", manifest.dump(2) + "\n", kComponent);
    publish(tmp, options.out, options.overwrite);
  } catch (...) {
    remove_tree(tmp);
    throw;
  }
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  log << fmt::format("retain data: built {} into {} in {:.1f} s\n", options.suite, options.out.string(), seconds);
  return manifest;
}

}  // namespace retain::suite
