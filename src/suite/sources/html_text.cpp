#include "retain/suite/sources/html_text.h"

#include "retain/suite/text_clean.h"

#include <gumbo.h>

#include <cstring>
#include <memory>
#include <sstream>

namespace retain::suite {

namespace {

bool skipped_tag(GumboTag tag) {
  switch (tag) {
    case GUMBO_TAG_HEAD: case GUMBO_TAG_SCRIPT: case GUMBO_TAG_STYLE: case GUMBO_TAG_PRE:
    case GUMBO_TAG_TABLE: case GUMBO_TAG_NAV: case GUMBO_TAG_HEADER: case GUMBO_TAG_FOOTER:
    case GUMBO_TAG_FORM: case GUMBO_TAG_SELECT: case GUMBO_TAG_TEXTAREA: case GUMBO_TAG_SVG:
    case GUMBO_TAG_MATH: case GUMBO_TAG_NOSCRIPT: case GUMBO_TAG_BUTTON:
      return true;
    default:
      return false;
  }
}

bool block_tag(GumboTag tag) {
  switch (tag) {
    case GUMBO_TAG_P: case GUMBO_TAG_DIV: case GUMBO_TAG_LI: case GUMBO_TAG_UL: case GUMBO_TAG_OL:
    case GUMBO_TAG_DL: case GUMBO_TAG_DT: case GUMBO_TAG_DD: case GUMBO_TAG_H1: case GUMBO_TAG_H2:
    case GUMBO_TAG_H3: case GUMBO_TAG_H4: case GUMBO_TAG_H5: case GUMBO_TAG_H6: case GUMBO_TAG_BR:
    case GUMBO_TAG_TD: case GUMBO_TAG_TH: case GUMBO_TAG_TR: case GUMBO_TAG_BLOCKQUOTE:
    case GUMBO_TAG_SECTION: case GUMBO_TAG_ARTICLE: case GUMBO_TAG_ASIDE: case GUMBO_TAG_BODY:
    case GUMBO_TAG_HR: case GUMBO_TAG_CAPTION: case GUMBO_TAG_FIGURE: case GUMBO_TAG_FIGCAPTION:
    case GUMBO_TAG_MAIN: case GUMBO_TAG_ADDRESS: case GUMBO_TAG_CENTER:
      return true;
    default:
      return false;
  }
}

// Classes of DocBook/Sphinx/Javadoc-style pages that hold code or navigation, not prose.
bool skipped_class(const GumboElement& element) {
  const GumboAttribute* cls = gumbo_get_attribute(&element.attributes, "class");
  if (cls == nullptr) return false;
  std::istringstream in(cls->value);
  std::string name;
  while (in >> name) {
    for (const char* bad : {"programlisting", "screen", "synopsis", "highlight", "navheader", "navfooter",
                            "sidebar", "sphinxsidebar", "related", "toc", "breadcrumb", "literal-block",
                            "funcsynopsis", "cmdsynopsis", "example-code"}) {
      if (name == bad || name.rfind(std::string(bad) + "-", 0) == 0) return true;
    }
  }
  return false;
}

class Collector {
 public:
  void visit(const GumboNode* node) {
    if (node->type == GUMBO_NODE_TEXT || node->type == GUMBO_NODE_CDATA || node->type == GUMBO_NODE_WHITESPACE) {
      current_ += node->v.text.text;
      return;
    }
    if (node->type != GUMBO_NODE_ELEMENT && node->type != GUMBO_NODE_DOCUMENT && node->type != GUMBO_NODE_TEMPLATE) return;
    const GumboVector* children = node->type == GUMBO_NODE_DOCUMENT ? &node->v.document.children : &node->v.element.children;
    const bool element = node->type != GUMBO_NODE_DOCUMENT;
    if (element && (skipped_tag(node->v.element.tag) || skipped_class(node->v.element))) {
      flush();
      return;
    }
    const bool block = element && block_tag(node->v.element.tag);
    if (block) flush();
    for (unsigned int i = 0; i < children->length; ++i) visit(static_cast<const GumboNode*>(children->data[i]));
    if (block) flush();
  }

  void flush() {
    std::string block = normalize_whitespace(current_);
    current_.clear();
    if (!block.empty()) blocks_.push_back(std::move(block));
  }

  std::vector<std::string> take() {
    flush();
    return std::move(blocks_);
  }

 private:
  std::string current_;
  std::vector<std::string> blocks_;
};

}  // namespace

std::vector<std::string> html_paragraphs(const std::string& html) {
  std::unique_ptr<GumboOutput, void (*)(GumboOutput*)> output(
      gumbo_parse_with_options(&kGumboDefaultOptions, html.data(), html.size()),
      [](GumboOutput* o) { gumbo_destroy_output(&kGumboDefaultOptions, o); });
  Collector collector;
  collector.visit(output->document);
  return collector.take();
}

}  // namespace retain::suite
