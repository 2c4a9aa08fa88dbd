// retain/suite/sources/rst.h — the running text of reStructuredText (Sphinx `_sources/*.txt`, the
// Linux kernel's Documentation/*.rst), also read for Sphinx's plain-text builds and AsciiDoc files,
// whose paragraphs follow the same blank-line rules.
#pragma once

#include <string>
#include <vector>

namespace retain::suite {

/// The text paragraphs of an rst document, each on one line, in document order. Left out: section
/// titles (a line over or under a line of one repeated punctuation character), comments, targets and
/// substitution definitions, directives whose body is code or data (code-block, literalinclude, math,
/// tables, toctree, autodoc, kernel-doc, …) with their bodies, the line and options of text
/// directives (note, function, method, …; their bodies are read as text), literal blocks (the indented block after a
/// paragraph ending in "::", which keeps one ":"), grid and simple tables, field lists (":key:"
/// lines) and substitution/target definitions. A list item ("- ", "* ", "#. ", "1. ") starts a new
/// paragraph. Inline markup is reduced to its text: :role:`text <target>` and `text <url>`_ → text,
/// ``literal`` → literal, *emphasis* and **strong** → their words, `ref`_ → ref.
std::vector<std::string> rst_paragraphs(const std::string& text);

/// Inline markup of one paragraph reduced to its text, as rst_paragraphs does.
std::string strip_rst_inline(const std::string& paragraph);

}  // namespace retain::suite
