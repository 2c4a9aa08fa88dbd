// The chat-template renderer: the real Llama-3, Qwen2.5/Qwen3 and Mistral templates against the
// renderings of @huggingface/jinja (tests/fixtures/chat_templates, made by
// tests/reference/make_chat_template_fixtures.mjs; Python Jinja2 3.1.6 with transformers' settings
// agrees on every case), the language subset one construct at a time, errors, and finding a
// model folder's template.
#include "retain/serve/chat_template.h"

#include "common/test_support.h"

#include <set>

using namespace retain::testing;
using retain::serve::ChatMessage;
using retain::serve::ChatTemplate;

namespace {

// Renders `source` with no messages and the given extra variables.
std::string R(const std::string& source, const retain::json& extra = retain::json::object()) {
  return ChatTemplate::parse(source, "t.jinja").render({}, false, "<s>", "</s>", extra);
}

std::string render_error(const std::string& source, const retain::json& extra = retain::json::object()) {
  return error_of([&] { R(source, extra); });
}

std::string parse_error(const std::string& source) {
  return error_of([&] { ChatTemplate::parse(source, "t.jinja"); });
}

std::vector<ChatMessage> to_messages(const retain::json& list) {
  std::vector<ChatMessage> out;
  for (const auto& m : list) out.push_back({m.at("role").get<std::string>(), m.at("content").get<std::string>()});
  return out;
}

}  // namespace

// ---- the real templates against @huggingface/jinja ---------------------------------------------

TEST(ChatTemplateFixtures, MatchReferenceByteForByte) {
  const auto dir = fixtures() / "chat_templates";
  const auto fx = retain::read_json_file(dir / "renderings.json");
  size_t cases = 0, errors = 0;
  std::set<std::string> names;
  for (const auto& t : fx.at("templates")) {
    const std::string file = t.at("file").get<std::string>();
    names.insert(t.at("name").get<std::string>());
    const auto tpl = ChatTemplate::parse(retain::read_file(dir / file), file);
    for (const auto& c : t.at("cases")) {
      SCOPED_TRACE(file + " / " + c.at("name").get<std::string>());
      const auto messages = to_messages(c.at("messages"));
      const auto render = [&] {
        return tpl.render(messages, c.at("add_generation_prompt").get<bool>(), c.at("bos_token").get<std::string>(),
                          c.at("eos_token").get<std::string>(), c.at("extra"));
      };
      ++cases;
      if (c.contains("error")) {
        ++errors;
        const std::string message = error_of([&] { render(); });
        EXPECT_MSG(message, c.at("error").get<std::string>());
        EXPECT_MSG(message, file + ":");
      } else {
        EXPECT_EQ(render(), c.at("expected").get<std::string>());
      }
    }
  }
  EXPECT_EQ(names.size(), 9u);
  EXPECT_GE(cases, 120u);
  EXPECT_GE(errors, 10u);
}

// ---- the language subset -----------------------------------------------------------------------

TEST(ChatTemplateLanguage, ForLoopVariables) {
  EXPECT_EQ(R("{% for x in ['a', 'b', 'c'] %}{{ loop.index0 }}{{ loop.index }}{{ x }}"
              "{% if loop.first %}F{% endif %}{% if loop.last %}L{% endif %},{% endfor %}"),
            "01aF,12b,23cL,");
  EXPECT_EQ(R("{% for x in [1, 2, 3] %}{{ loop.revindex }}{{ loop.length }}{% endfor %}"), "332313");
  EXPECT_EQ(R("{% for x in [] %}no{% else %}empty{% endfor %}"), "empty");
  EXPECT_EQ(R("{% for x in [1, 2, 3, 4] if x is even %}{{ x }}{{ loop.index }}{% endfor %}"), "2142");
  EXPECT_EQ(R("{% for k, v in {'a': 1, 'b': 2} | items %}{{ k }}={{ v }};{% endfor %}"), "a=1;b=2;");
  EXPECT_EQ(R("{% for x in range(5) %}{% if x == 1 %}{% continue %}{% endif %}{% if x == 3 %}{% break %}{% endif %}"
              "{{ x }}{% endfor %}"),
            "02");
  // A set inside a loop does not leak out of it; a namespace carries state out.
  EXPECT_EQ(R("{% set x = 'out' %}{% for i in [1] %}{% set x = 'in' %}{% endfor %}{{ x }}"), "out");
  EXPECT_EQ(R("{% set ns = namespace(n=0) %}{% for i in [1, 2, 3] %}{% set ns.n = ns.n + i %}{% endfor %}{{ ns.n }}"), "6");
}

TEST(ChatTemplateLanguage, IfElifElseAndSet) {
  const std::string t = "{% if n == 1 %}one{% elif n == 2 %}two{% else %}many{% endif %}";
  EXPECT_EQ(R(t, {{"n", 1}}), "one");
  EXPECT_EQ(R(t, {{"n", 2}}), "two");
  EXPECT_EQ(R(t, {{"n", 7}}), "many");
  EXPECT_EQ(R("{% set a = 'x' %}{% set b, c = [1, 2] %}{{ a }}{{ b }}{{ c }}"), "x12");
  EXPECT_EQ(R("{% set block %}in {{ 'side' }}{% endset %}[{{ block }}]"), "[in side]");
  EXPECT_EQ(R("{{ 'yes' if flag else 'no' }}", {{"flag", false}}), "no");
  EXPECT_EQ(R("{% macro greet(name, punct='!') %}Hi {{ name }}{{ punct }}{% endmacro %}{{ greet('Ann') }}{{ greet('Bo', punct='?') }}"),
            "Hi Ann!Hi Bo?");
}

TEST(ChatTemplateLanguage, Filters) {
  EXPECT_EQ(R("[{{ '  padded \n' | trim }}]"), "[padded]");
  EXPECT_EQ(R("{{ [1, 2, 3] | length }} {{ 'héllo' | length }} {{ {'a': 1} | length }}"), "3 5 1");
  EXPECT_EQ(R("{{ {'b': [1, 2.5, true, none], 'a': 'é\"\n'} | tojson }}"), "{\"b\": [1, 2.5, true, null], \"a\": \"é\\\"\\n\"}");
  EXPECT_EQ(R("{{ {'a': [1]} | tojson(indent=2) }}"), "{\n  \"a\": [\n    1\n  ]\n}");
  EXPECT_EQ(R("{{ 5 | string }}{{ [1, 'a'] | string }}"), "5[1, 'a']");
  EXPECT_EQ(R("{{ 'MiXed' | upper }} {{ 'MiXed' | lower }}"), "MIXED mixed");
  EXPECT_EQ(R("{{ missing | default('fallback') }} {{ '' | default('x', true) }} {{ 'set' | default('x') }}"),
            "fallback x set");
  EXPECT_EQ(R("{{ [1, 2, 3] | first }}{{ [1, 2, 3] | last }}{{ 'abc' | first }}"), "13a");
  EXPECT_EQ(R("{{ ['a', 'b'] | join(', ') }}|{{ [1, 2] | join }}"), "a, b|12");
  EXPECT_EQ(R("{{ ({'x': 1} | items | first)[0] }}{{ ({'x': 1} | items | first)[1] }}"), "x1");
  EXPECT_EQ(R("{{ ms | selectattr('role', 'equalto', 'user') | map(attribute='content') | join(',') }}",
              {{"ms", {{{"role", "user"}, {"content", "a"}}, {{"role", "bot"}, {"content", "b"}}, {{"role", "user"}, {"content", "c"}}}}}),
            "a,c");
  EXPECT_EQ(R("{{ ['x', 'code', 'y'] | reject('equalto', 'code') | join(',') }}"), "x,y");
  EXPECT_EQ(R("{{ [3, 1, 2] | sort | list }}{{ [1, 2] | reverse | list }}"), "[1, 2, 3][2, 1]");
}

TEST(ChatTemplateLanguage, StringMethods) {
  EXPECT_EQ(R("{{ 'hello'.startswith('he') }}{{ 'hello'.endswith('lo') }}{{ 'hello'.startswith(('x', 'h')) }}"), "TrueTrueTrue");
  EXPECT_EQ(R("[{{ '  a b  '.strip() }}][{{ 'xxaxx'.strip('x') }}][{{ '\n\n a'.lstrip('\n') }}][{{ 'a\n\n'.rstrip() }}]"),
            "[a b][a][ a][a]");
  EXPECT_EQ(R("{{ 'a,b,,c'.split(',') }}{{ '  one  two '.split() }}{{ 'a-b-c'.split('-', 1) }}"),
            "['a', 'b', '', 'c']['one', 'two']['a', 'b-c']");
  EXPECT_EQ(R("{{ 'aXbXc'.replace('X', '-') }} {{ 'aXbXc'.replace('X', '-', 1) }}"), "a-b-c a-bXc");
  EXPECT_EQ(R("{{ 'x</think>y'.split('</think>')[-1] }}{{ 'Title me'.upper() }}"), "yTITLE ME");
}

TEST(ChatTemplateLanguage, OperatorsAndTests) {
  EXPECT_EQ(R("{{ 'a' in 'cat' }}{{ 'z' not in 'cat' }}{{ 2 in [1, 2] }}{{ 'k' in {'k': 1} }}{{ 'x' in missing }}"),
            "TrueTrueTrueTrueFalse");
  EXPECT_EQ(R("{{ x is defined }}{{ y is defined }}{{ n is none }}{{ x is string }}{{ x is not number }}",
              {{"x", "s"}, {"n", nullptr}}),
            "TrueFalseTrueTrueTrue");
  EXPECT_EQ(R("{{ {'a': 1} is mapping }}{{ [1] is iterable }}{{ 3 is odd }}{{ f is false }}", {{"f", false}}),
            "TrueTrueTrueTrue");
  EXPECT_EQ(R("{{ [1, 2, 3, 4][1:] }}{{ [1, 2, 3][::-1] }}{{ 'hello'[1:3] }}{{ [1, 2, 3][-1] }}{{ 'abc'[:-1] }}"),
            "[2, 3, 4][3, 2, 1]el3ab");
  EXPECT_EQ(R("{{ 'a' ~ 1 ~ none }}|{{ 'a' + 'b' }}|{{ [1] + [2] }}|{{ missing ~ 'x' }}"), "a1None|ab|[1, 2]|x");
  EXPECT_EQ(R("{{ 7 // 2 }} {{ -7 // 2 }} {{ 7 % 3 }} {{ -7 % 3 }} {{ 7 / 2 }} {{ 2 ** 10 }} {{ 1 + 2 * 3 }} {{ 1.5 + 1 }}"),
            "3 -4 1 2 3.5 1024 7 2.5");
  EXPECT_EQ(R("{{ 1 < 2 }}{{ 'b' > 'a' }}{{ 2 <= 2 }}{{ 1 != 1 }}{{ 1 == 1.0 }}"), "TrueTrueTrueFalseTrue");
  EXPECT_EQ(R("{{ true and 'x' }}|{{ 0 or 'y' }}|{{ not [] }}|{{ not x is defined }}"), "x|y|True|True");
  EXPECT_EQ(R("{{ none }}|{{ true }}|{{ missing }}|{{ 1.0 }}|{{ {'a': 'b'} }}"), "None|True||1.0|{'a': 'b'}");
}

TEST(ChatTemplateLanguage, WhitespaceControlAndComments) {
  EXPECT_EQ(R("a  {{- 'b' -}}  \n c"), "abc");
  EXPECT_EQ(R("a \n {%- if true -%} \n b \n {%- endif -%} \n c"), "abc");
  EXPECT_EQ(R("a{# a comment #}b {#- stripped -#} c"), "abc");
  // transformers' trim_blocks and lstrip_blocks: the newline after a block tag and the indentation
  // before it go; expression tags keep theirs. One trailing newline of the template is dropped.
  EXPECT_EQ(R("{% if true %}\n    x\n    {% endif %}\n  {{ 'y' }}\n"), "    x\n  y");
  EXPECT_EQ(R("{{ 'a' }}\n{# c #}\nb\n\n"), "a\nb\n");
}

TEST(ChatTemplateLanguage, MessagesAndSpecialTokens) {
  const auto t = ChatTemplate::parse(
      "{{ bos_token }}{% for m in messages %}<{{ m.role }}>{{ m['content'] }}{% endfor %}"
      "{% if add_generation_prompt %}<assistant>{% endif %}{{ eos_token }}",
      "t.jinja");
  EXPECT_EQ(t.render({{"user", "hi"}, {"assistant", "yo"}}, true, "<s>", "</s>"), "<s><user>hi<assistant>yo<assistant></s>");
  EXPECT_EQ(t.render({}, false, "", ""), "");
  EXPECT_EQ(t.where(), "t.jinja");
}

// ---- errors ------------------------------------------------------------------------------------

TEST(ChatTemplateErrors, ParseErrorsNameWhereLineAndColumn) {
  EXPECT_MSG(parse_error("ok\n  {% if x %}yes"), "t.jinja:2:16: expected 'endif' to close the 'if' at 2:3, got end of template");
  EXPECT_MSG(parse_error("line one\nab {{ x "), "t.jinja:2:4: unterminated '{{' tag: expected '}}'");
  EXPECT_MSG(parse_error("{% if x "), "t.jinja:1:1: unterminated '{%' tag: expected '%}'");
  EXPECT_MSG(parse_error("{# open"), "t.jinja:1:1: unterminated comment");
  EXPECT_MSG(parse_error("{{ 'abc }}"), "t.jinja:1:4: unterminated string");
  EXPECT_MSG(parse_error("{{ x | trimm }}"), "t.jinja:1:8: unknown filter 'trimm' (did you mean \"trim\"?)");
  EXPECT_MSG(parse_error("{{ x is stringy }}"), "unknown test 'stringy'");
  EXPECT_MSG(parse_error("{% endfor %}"), "t.jinja:1:4: unexpected 'endfor' with no open tag to close");
  EXPECT_MSG(parse_error("{% for x in y %}{% endif %}"), "unexpected 'endif': expected 'endfor' to close the 'for' at 1:1");
  EXPECT_MSG(parse_error("{% raw %}x{% endraw %}"), "the 'raw' tag is not supported");
  EXPECT_MSG(parse_error("{{ (1 + }}"), "t.jinja:1:9: expected an expression, got '}}'");
  EXPECT_MSG(parse_error("{% if x = 1 %}{% endif %}"), "expected '%}' to close the 'if' tag, got '='");
}

TEST(ChatTemplateErrors, RuntimeErrors) {
  EXPECT_MSG(render_error("\n  {{ raise_exception('Roles must alternate') }}"),
             "t.jinja:2:21: the template raised an error: Roles must alternate");
  EXPECT_MSG(render_error("{{ 'abc'.shout() }}"), "t.jinja:1:15: cannot call an undefined value: a string has no method 'shout'");
  EXPECT_MSG(render_error("{{ missing.attr }}"), "cannot read attribute 'attr' of an undefined value: 'missing' is undefined");
  EXPECT_MSG(render_error("{{ 'a' + 1 }}"), "unsupported operand types for +: string and int");
  EXPECT_MSG(render_error("{{ 1 // 0 }}"), "division by zero");
  EXPECT_MSG(render_error("{% set x.y = 1 %}", {{"x", 1}}), "'x' is not a namespace");
  EXPECT_MSG(render_error("{{ x | tojson(ensure_ascii=true) }}", {{"x", 1}}), "not supported");
  EXPECT_MSG(error_of([] { ChatTemplate::parse("x", "t.jinja").render({}, false, "", "", {{"messages", 1}}); }),
             "the extra variable 'messages' would replace");
}

// ---- finding a model folder's template ---------------------------------------------------------

TEST(ChatTemplateFind, TokenizerConfigThenJinjaFile) {
  using retain::serve::find_chat_template;
  const auto dir = temp_dir("chat_template");
  EXPECT_EQ(find_chat_template(dir), std::nullopt);
  write_text(dir / "chat_template.jinja", "from file");
  EXPECT_EQ(find_chat_template(dir), "from file");
  write_text(dir / "tokenizer_config.json", R"({"bos_token": "<s>"})");
  EXPECT_EQ(find_chat_template(dir), "from file");
  write_text(dir / "tokenizer_config.json", R"({"chat_template": "from config"})");
  EXPECT_EQ(find_chat_template(dir), "from config");
  write_text(dir / "tokenizer_config.json",
             R"({"chat_template": [{"name": "tool_use", "template": "T"}, {"name": "default", "template": "D"}]})");
  EXPECT_EQ(find_chat_template(dir), "D");
  write_text(dir / "tokenizer_config.json", R"({"chat_template": [{"name": "tool_use", "template": "T"}]})");
  EXPECT_MSG(error_of([&] { find_chat_template(dir); }), "tokenizer_config.json: key \"chat_template\" lists no template named \"default\" (it has \"tool_use\")");
  write_text(dir / "tokenizer_config.json", R"({"chat_template": 3})");
  EXPECT_MSG(error_of([&] { find_chat_template(dir); }), "tokenizer_config.json: key \"chat_template\" must be a string or a list");
  write_text(dir / "tokenizer_config.json", R"({"chat_template": [{"name": 1}]})");
  EXPECT_MSG(error_of([&] { find_chat_template(dir); }), "key \"chat_template\"[0] must be an object");
}
