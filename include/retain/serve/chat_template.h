// retain/serve/chat_template.h — Hugging Face chat templates: the Jinja subset that the Llama-3,
// Qwen2.5/Qwen3 and Mistral templates use, rendered as transformers' apply_chat_template does.
//
// The environment is transformers' one: trim_blocks and lstrip_blocks on, a single trailing newline
// of the template dropped, `raise_exception(msg)`, `strftime_now(fmt)`, `namespace(...)`, `range(...)`
// and a `tojson` that keeps non-ASCII text (ensure_ascii=False). Values follow Python Jinja2: `{{ none }}`
// prints "None", `true` prints "True", lists print as Python reprs, "a" + 1 is an error, undefined
// names render as "" and are falsy, but an attribute of an undefined value is an error.
//
// The language subset:
//   statements  {{ expr }}, {% if/elif/else/endif %}, {% for x in xs [if cond] %} with {% else %},
//               loop.index/index0/revindex/revindex0/first/last/length/previtem/nextitem,
//               {% break %}/{% continue %}, {% set x = e %}, {% set a, b = e %}, {% set ns.attr = e %},
//               {% set x %}...{% endset %}, {% macro name(a, b=1) %}...{% endmacro %}, {# comments #},
//               whitespace control {%- -%} {{- -}} {#- -#}
//   expressions literals (strings with escapes, ints, floats, true/false/none in either case, lists,
//               tuples, dicts), a.b, a['b'], a[-1], a[1:], a[::-1], calls with keyword arguments,
//               + - * / // % **, ~, == != < <= > >=, in / not in, and/or/not, x if c else y,
//               `is [not] test`, `| filter(args)`
//   filters     trim, length/count, tojson(indent=, sort_keys=), string, upper, lower, title,
//               capitalize, default/d, first, last, join, items, list, reverse, sort, unique, int,
//               float, abs, round, replace, indent, safe, select/reject, selectattr/rejectattr,
//               map(attribute=)
//   tests       defined, undefined, none, string, number, integer, float, boolean, true, false,
//               mapping, iterable, sequence, callable, odd, even, divisibleby, equalto/eq/==,
//               ne/!=, lt/<, le/<=, gt/>, ge/>=, in, sameas, lower, upper
//   methods     str: startswith endswith strip lstrip rstrip split replace upper lower title
//               capitalize find count join; dict: get items keys values
// Not supported: template inheritance (extends/block/include/import), {% raw %}, {% call %},
// {% filter %}, the transformers-only {% generation %} tag, recursive loops, string formatting
// (`%` on strings, str.format), *args/**kwargs, and Python tuples (a tuple is a list, so it prints
// as [a, b]). Such a template fails to parse (or render) with an error that names the construct.
// upper/lower/title/capitalize change ASCII letters only.
#pragma once

#include <nlohmann/json.hpp>

#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace retain::serve {

/// One message of a conversation as the template sees it: `message.role`, `message['content']`.
struct ChatMessage {
  std::string role;
  std::string content;
};

namespace jinja {
struct Template;  // the parsed program (src/serve/jinja_ast.h)
}

/// A parsed chat template. parse() errors throw retain::Error (component "chat_template") naming
/// `where`, the line:column and what was expected, e.g. "tokenizer_config.json:3:17: expected '%}'
/// to close the 'if' tag, got end of template". Rendering is const and thread-safe: one parsed
/// template may serve many requests at once.
class ChatTemplate {
 public:
  /// Parses `source`; `where` names it in every error (a path, or "tokenizer_config.json").
  static ChatTemplate parse(const std::string& source, const std::string& where);

  /// Renders with the variables `messages` (a list of {role, content}), `add_generation_prompt`,
  /// `bos_token` and `eos_token`, plus every member of `extra` (a JSON object, e.g.
  /// {"enable_thinking": false, "tools": [...]}). JSON objects keep nlohmann's (sorted) key order,
  /// which `tojson` prints. Runtime errors — `raise_exception(...)` in the template, an unknown
  /// method, filter or test, a type error — throw retain::Error with `where` and the line:column;
  /// for raise_exception the message is the template's own text.
  std::string render(const std::vector<ChatMessage>& messages, bool add_generation_prompt, const std::string& bos_token,
                     const std::string& eos_token, const nlohmann::json& extra = nlohmann::json::object()) const;

  /// The `where` given to parse().
  const std::string& where() const;

 private:
  explicit ChatTemplate(std::shared_ptr<const jinja::Template> program);
  std::shared_ptr<const jinja::Template> program_;
};

/// The chat template of a model folder: tokenizer_config.json's "chat_template" (a string, or a list
/// of {"name", "template"} from which the one named "default" is taken), else the file
/// chat_template.jinja; std::nullopt when there is neither. Errors name the file and the key when
/// the value has the wrong type, or when a list has no "default" entry (listing the names it has).
std::optional<std::string> find_chat_template(const std::filesystem::path& model_dir);

}  // namespace retain::serve
