// chat_template.cpp — the public chat-template API: parse, render, and finding a model's template.
#include "retain/serve/chat_template.h"

#include "jinja_eval.h"
#include "jinja_parser.h"

#include "retain/core/error.h"
#include "retain/core/files.h"
#include "retain/core/json.h"

namespace retain::serve {

ChatTemplate::ChatTemplate(std::shared_ptr<const jinja::Template> program) : program_(std::move(program)) {}

ChatTemplate ChatTemplate::parse(const std::string& source, const std::string& where) {
  return ChatTemplate(std::make_shared<const jinja::Template>(jinja::parse_template(source, where)));
}

const std::string& ChatTemplate::where() const { return program_->where; }

std::string ChatTemplate::render(const std::vector<ChatMessage>& messages, bool add_generation_prompt,
                                 const std::string& bos_token, const std::string& eos_token,
                                 const nlohmann::json& extra) const {
  RETAIN_CHECK(extra.is_object(), "chat_template", "{}: the extra variables must be a JSON object, got {}", where(),
               extra.type_name());
  std::vector<jinja::Value> items;
  items.reserve(messages.size());
  for (const auto& m : messages) {
    jinja::Object message;
    message.set("role", jinja::Value::string(m.role));
    message.set("content", jinja::Value::string(m.content));
    items.push_back(jinja::Value::object(std::move(message)));
  }
  jinja::Object variables;
  variables.set("messages", jinja::Value::array(std::move(items)));
  variables.set("add_generation_prompt", jinja::Value::boolean(add_generation_prompt));
  variables.set("bos_token", jinja::Value::string(bos_token));
  variables.set("eos_token", jinja::Value::string(eos_token));
  for (const auto& [key, value] : extra.items()) {
    RETAIN_CHECK(!variables.find(key), "chat_template",
                 "{}: the extra variable '{}' would replace the one render() sets; pass it as an argument instead", where(),
                 key);
    try {
      variables.set(key, jinja::Value::from_json(value));
    } catch (const std::runtime_error& e) {
      fail("chat_template", "{}: extra variable '{}': {}", where(), key, e.what());
    }
  }
  return jinja::render(*program_, variables);
}

std::optional<std::string> find_chat_template(const std::filesystem::path& model_dir) {
  const auto config_path = model_dir / "tokenizer_config.json";
  if (std::filesystem::exists(config_path)) {
    const json config = read_json_file(config_path, "chat_template");
    RETAIN_CHECK(config.is_object(), "chat_template", "{}: expected a JSON object, got {}", config_path.string(),
                 config.type_name());
    const auto it = config.find("chat_template");
    if (it != config.end() && !it->is_null()) {
      if (it->is_string()) return it->get<std::string>();
      RETAIN_CHECK(it->is_array(), "chat_template",
                   "{}: key \"chat_template\" must be a string or a list of {{\"name\", \"template\"}}, got {}",
                   config_path.string(), it->type_name());
      std::vector<std::string> names;
      for (size_t i = 0; i < it->size(); ++i) {
        const json& entry = (*it)[i];
        RETAIN_CHECK(entry.is_object() && entry.contains("name") && entry["name"].is_string() && entry.contains("template") &&
                         entry["template"].is_string(),
                     "chat_template", "{}: key \"chat_template\"[{}] must be an object with string \"name\" and \"template\"",
                     config_path.string(), i);
        names.push_back(entry["name"].get<std::string>());
        if (names.back() == "default") return entry["template"].get<std::string>();
      }
      std::string listed;
      for (const auto& n : names) listed += (listed.empty() ? "\"" : ", \"") + n + "\"";
      fail("chat_template", "{}: key \"chat_template\" lists no template named \"default\" (it has {})", config_path.string(),
           listed.empty() ? "none" : listed);
    }
  }
  const auto jinja_path = model_dir / "chat_template.jinja";
  if (std::filesystem::exists(jinja_path)) return read_file(jinja_path, "chat_template");
  return std::nullopt;
}

}  // namespace retain::serve
