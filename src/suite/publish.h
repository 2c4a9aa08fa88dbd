// publish.h (private to src/suite) — putting a finished suite in place: it is built in a temporary
// folder beside the destination and renamed over it only when complete, so an interrupted or failed
// build never leaves a half-written suite, and --overwrite replaces only a suite this command built.
#pragma once

#include <filesystem>

namespace retain::suite {

/// OUT.tmp-PID: where the suite for OUT is built.
std::filesystem::path temporary_beside(const std::filesystem::path& out);

/// Whether `dir` may be replaced by --overwrite: an empty folder or one this command wrote (a
/// manifest.json of format retain-suite/1).
bool is_replaceable_suite(const std::filesystem::path& dir);

/// Renames `tmp` to `out`. An existing `out` is replaced only with `overwrite` and when it is
/// replaceable, by one atomic exchange (renameat2 RENAME_EXCHANGE; on a filesystem without it, moved
/// aside first and put back if the rename fails).
void publish(const std::filesystem::path& tmp, const std::filesystem::path& out, bool overwrite);

/// Removes OUT.tmp-PID and OUT.old-PID beside `out` left by builds that were killed (PID no longer
/// running); returns how many.
size_t remove_stale_temporaries(const std::filesystem::path& out);

}  // namespace retain::suite
