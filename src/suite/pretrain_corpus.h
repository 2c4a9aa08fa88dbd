// pretrain_corpus.h (private to src/suite) — the "pretrain" suite: plain-text shards from the same
// sources as the tasks, with every test group and every document that overlaps a test text left out.
#pragma once

#include "retain/core/json.h"
#include "retain/suite/build_suite.h"
#include "retain/suite/suite_sources.h"

#include <filesystem>
#include <iosfwd>

namespace retain::suite {

/// Writes DIR/text/<shard>.txt (one document per line) and returns the manifest's corpus fields:
/// text_format, shards, documents, words, dropped_overlapping_test and disjointness.
/// Documents from a test group (split_of_group) and documents that overlap the whole uncapped test
/// side of any suite task (OverlapIndex) are left out.
json write_pretrain_corpus(SuiteSources& sources, const SuiteOptions& options, const std::filesystem::path& dir,
                           std::ostream& log);

}  // namespace retain::suite
