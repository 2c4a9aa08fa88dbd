#include "retain/train/general_text.h"

#include "retain/core/error.h"
#include "retain/core/files.h"
#include "retain/core/json.h"
#include "retain/data/batching.h"
#include "retain/train/loss.h"

#include <torch/torch.h>

#include <cmath>
#include <fstream>

namespace retain {

namespace {
constexpr const char* kComponent = "general_text";

bool blank(const std::string& s) { return s.find_first_not_of(" \t\r\n") == std::string::npos; }
}  // namespace

std::optional<std::filesystem::path> resolve_general_text(const std::string& setting,
                                                          const std::filesystem::path& model_dir) {
  if (setting == "off") return std::nullopt;
  if (setting == "auto") {
    const auto own = model_dir / "general_text.jsonl";
    std::error_code ec;
    if (std::filesystem::is_regular_file(own) && std::filesystem::file_size(own, ec) > 0) return own;
    return std::nullopt;
  }
  RETAIN_CHECK(std::filesystem::is_regular_file(setting), "config",
               "eval.general_text = \"{}\": no such file (a .jsonl of {{\"text\"}} documents or a text file of one "
               "document per line; or auto | off)",
               setting);
  return std::filesystem::path(setting);
}

std::vector<std::string> read_general_documents(const std::filesystem::path& path) {
  std::vector<std::string> out;
  if (path.extension() == ".jsonl") {
    for_each_jsonl(
        path,
        [&](size_t line, const json& value) {
          RETAIN_CHECK(value.is_object() && value.contains("text") && value["text"].is_string(), kComponent,
                       "{}:{}: expected an object with a string \"text\", got {}", path.string(), line,
                       value.dump().substr(0, 80));
          const auto& text = value["text"].get_ref<const std::string&>();
          if (!blank(text)) out.push_back(text);
        },
        kComponent);
  } else {
    std::ifstream in(path, std::ios::binary);
    RETAIN_CHECK(in, kComponent, "cannot read {}", path.string());
    std::string line;
    while (std::getline(in, line))
      if (!blank(line)) out.push_back(line);
  }
  RETAIN_CHECK(!out.empty(), kComponent, "{} holds no document", path.string());
  return out;
}

GeneralText prepare_general_text(const Tokenizer& tokenizer, const std::vector<std::string>& documents,
                                 int64_t eos_token_id, int64_t window, int64_t max_tokens) {
  RETAIN_CHECK(window >= 1 && max_tokens >= 1, kComponent, "windows of {} tokens, {} tokens in all", window,
               max_tokens);
  GeneralText text;
  std::vector<int64_t> stream;
  // Enough of the stream for max_tokens predictions: documents are tokenized only as far as needed.
  for (const auto& doc : documents) {
    if (static_cast<int64_t>(stream.size()) > max_tokens + max_tokens / window + 1) break;
    const auto prefix = special_prefix(tokenizer, doc);
    stream.insert(stream.end(), prefix.begin(), prefix.end());
    const auto ids = tokenizer.encode(doc, /*add_special_tokens=*/false);
    stream.insert(stream.end(), ids.begin(), ids.end());
    stream.push_back(eos_token_id);
    ++text.documents;
  }
  RETAIN_CHECK(stream.size() >= 2, kComponent, "the general text has fewer than two tokens");
  for (size_t start = 0; start + 1 < stream.size() && text.tokens < max_tokens;) {
    const int64_t n = std::min({window, static_cast<int64_t>(stream.size() - start) - 1, max_tokens - text.tokens});
    text.windows.emplace_back(stream.begin() + static_cast<std::ptrdiff_t>(start),
                              stream.begin() + static_cast<std::ptrdiff_t>(start + n + 1));
    text.tokens += n;
    start += static_cast<size_t>(n);
  }
  return text;
}

double general_text_loss(CausalLM& model, const GeneralText& text, int64_t batch_size) {
  RETAIN_CHECK(!text.windows.empty() && batch_size >= 1, kComponent, "nothing to score");
  const auto device = model->model->embed_tokens->weight.device();
  const int64_t pad = model->config.pad_token_id.value_or(0);
  torch::NoGradGuard no_grad;
  model->eval();
  at::Tensor total = at::zeros({}, at::TensorOptions().dtype(at::kDouble).device(device));
  for (size_t first = 0; first < text.windows.size(); first += static_cast<size_t>(batch_size)) {
    const size_t last = std::min(text.windows.size(), first + static_cast<size_t>(batch_size));
    std::vector<std::vector<int64_t>> rows(text.windows.begin() + static_cast<std::ptrdiff_t>(first),
                                           text.windows.begin() + static_cast<std::ptrdiff_t>(last));
    const PaddedIds padded = right_pad(rows, pad);
    auto labels = padded.input_ids.masked_fill(padded.attention_mask.eq(0), kIgnoreIndex);
    ForwardInput in;
    in.input_ids = padded.input_ids.to(device);
    in.attention_mask = padded.attention_mask.to(device);
    // The vocabulary projection in chunks of positions: full (B, T, V) logits of a real model's
    // vocabulary (150k) over long windows would not fit. Position p predicts token p + 1.
    const auto hidden = model->hidden_states(in);  // (B, T, H)
    const auto targets = labels.to(device);
    const int64_t b = hidden.size(0), t = hidden.size(1), vocab = model->config.vocab_size;
    const int64_t chunk = std::max<int64_t>(1, (int64_t{1} << 26) / std::max<int64_t>(1, b * vocab));
    for (int64_t start = 0; start + 1 < t; start += chunk) {
      const int64_t n = std::min(chunk, t - 1 - start);
      auto logits = model->logits(hidden.narrow(1, start, n));
      if (logits.scalar_type() != at::kDouble) logits = logits.to(at::kFloat);
      total += at::cross_entropy_loss(logits.reshape({-1, logits.size(-1)}), targets.narrow(1, start + 1, n).reshape({-1}),
                                      {}, at::Reduction::Sum, kIgnoreIndex)
                   .to(at::kDouble);
    }
  }
  const double loss = total.item<double>() / static_cast<double>(text.tokens);
  return std::isfinite(loss) ? loss : std::nan("");  // a diverged model: NaN (results.json: null)
}

}  // namespace retain
