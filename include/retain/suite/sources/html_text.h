// retain/suite/sources/html_text.h — the running text of an HTML page (Debian's manuals, the
// Erlang/PostgreSQL/GIMP/LibreOffice manuals), parsed by Gumbo (Google's HTML5 parser, Debian's
// libgumbo), so entities, unclosed tags and malformed markup are read as a browser reads them.
#pragma once

#include <string>
#include <vector>

namespace retain::suite {

/// The text blocks of an HTML page, each on one line with whitespace collapsed, in document order.
/// A block element (p, div, li, h1–h6, dt, dd, td, th, blockquote, section, …) and <br> end a block.
/// Left out with their contents: head, script, style, pre, table, nav, header, footer, form, select,
/// textarea, svg, math, and every element whose class names a code listing or navigation
/// ("programlisting", "screen", "synopsis", "highlight", "navheader", "navfooter", "sidebar",
/// "related", "toc", "breadcrumb"). Inline code (<code>, <tt>) keeps its text.
std::vector<std::string> html_paragraphs(const std::string& html);

}  // namespace retain::suite
