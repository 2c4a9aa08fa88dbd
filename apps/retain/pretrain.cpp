// retain pretrain: a causal LM trained from random initialisation on text, saved as a Hugging Face folder.
#include "commands.h"

#include "retain/core/error.h"
#include "retain/core/settings.h"
#include "retain/train/pretrain.h"
#include "retain/train/pretrain_corpus.h"

#include <fmt/format.h>
#include <iostream>
#include <memory>

namespace retain::cli {
namespace {

struct PretrainCliOptions {
  PretrainOptions options;
  std::string out, autocast = "off", schedule = "cosine";
  int64_t log_every = 10;
};

// An enum flag's value, by the names of its settings::EnumNames table.
template <class E>
E parse_choice(const std::string& flag, const std::string& value) {
  const auto parsed = settings::value_named<E>(value);
  RETAIN_CHECK(parsed.has_value(), "pretrain", "{} \"{}\" is not known: expected {}", flag, value,
               settings::names_of<E>());
  return *parsed;
}

// "\n", "\t" and "\\" in --doc-separator mean a newline, a tab and a backslash (shells make a
// literal newline awkward to pass).
std::string unescape(const std::string& s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '\\' || i + 1 == s.size()) {
      out += s[i];
      continue;
    }
    const char c = s[++i];
    RETAIN_CHECK(c == 'n' || c == 't' || c == '\\', "pretrain",
                 "--doc-separator: unknown escape \"\\{}\" (known: \\n, \\t, \\\\)", c);
    out += c == 'n' ? '\n' : c == 't' ? '\t' : '\\';
  }
  return out;
}

void run_pretrain(PretrainCliOptions& cli, const std::vector<std::string>& argv) {
  PretrainOptions o = cli.options;
  o.out = cli.out;
  if (cli.autocast == "none") {  // the spelling before retain run's off | bf16
    std::cerr << "retain pretrain: --autocast none is deprecated; it means --autocast off\n";
    cli.autocast = "off";
  }
  o.autocast = parse_choice<Autocast>("--autocast", cli.autocast);
  o.schedule = parse_choice<Schedule>("--schedule", cli.schedule);
  o.command_line = argv;
  o.doc_separator = unescape(o.doc_separator);
  if (o.general_text_only) {
    RETAIN_CHECK(o.general_text_documents > 0, "pretrain", "--general-text-only needs --general-text-documents > 0");
    std::filesystem::create_directories(o.out);
    const int64_t n = write_heldout_documents(o, o.out / "general_text.jsonl", o.general_text_documents);
    std::cerr << fmt::format("retain pretrain: {} held-out documents -> {}\n", n,
                             (o.out / "general_text.jsonl").string());
    return;
  }
  PretrainProgressPrinter printer(std::cerr, cli.log_every);
  const PretrainSummary s = pretrain(o, {&printer});
  std::cerr << fmt::format(
      "retain pretrain: {} steps, {} train tokens, final train loss {:.4f}, held-out loss {:.4f} (perplexity {:.2f}), "
      "{:.0f} tokens/s, {:.1f} s -> {}\n",
      s.steps, s.train_tokens, s.final_train_loss, s.eval_loss, s.eval_perplexity, s.tokens_per_second, s.seconds,
      cli.out);
}

}  // namespace

void register_pretrain(CLI::App& app) {
  auto cli = std::make_shared<PretrainCliOptions>();
  PretrainOptions& o = cli->options;
  auto* c = app.add_subcommand("pretrain", "Train a causal LM from random initialisation on text (HF folder out)");
  c->add_option("--config", o.config, "Hugging Face config.json of the architecture")->required();
  c->add_option("--tokenizer", o.tokenizer, "tokenizer.json (e.g. from `retain tokenizer train`)")->required();
  c->add_option("--text", o.text, "Text files or folders; .jsonl files give one document per {\"text\": ...} line")
      ->required()
      ->expected(1, -1);
  c->add_option("--out", cli->out, "Output folder (model folder, checkpoints, metrics)")->required();
  c->add_option("--doc-separator", o.doc_separator,
                "Split plain-text files into documents at this string; \\n, \\t, \\\\ are escapes (\"\\n\": one "
                "document per line; default: one per file)");
  c->add_option("--steps", o.steps, "Optimizer steps")->capture_default_str();
  c->add_option("--batch-size", o.batch_size, "Sequences per step")->capture_default_str();
  c->add_option("--seq-len", o.seq_len, "Tokens per sequence")->capture_default_str();
  c->add_option("--lr", o.lr, "Peak learning rate")->capture_default_str();
  c->add_option("--warmup", o.warmup, "Linear warm-up steps (-1: min(100, steps / 10))")->capture_default_str();
  c->add_option("--schedule", cli->schedule, "Decay after warm-up: constant, linear or cosine")->capture_default_str();
  c->add_option("--min-lr-ratio", o.min_lr_ratio, "Floor of the decay as a fraction of --lr")->capture_default_str();
  c->add_option("--weight-decay", o.weight_decay, "AdamW weight decay (matrices only)")->capture_default_str();
  c->add_option("--beta2", o.beta2, "AdamW beta2")->capture_default_str();
  c->add_option("--max-grad-norm", o.max_grad_norm, "Gradient clipping norm (0: off)")->capture_default_str();
  c->add_option("--eval-fraction", o.eval_fraction, "Fraction of documents held out")->capture_default_str();
  c->add_option("--eval-every", o.eval_every, "Steps between held-out evaluations (0: at the end only)")
      ->capture_default_str();
  c->add_option("--eval-batches", o.eval_batches, "Held-out batches per evaluation (0: all)")->capture_default_str();
  c->add_option("--checkpoint-every", o.checkpoint_every, "Steps between checkpoints (0: none)")->capture_default_str();
  c->add_option("--log-every", cli->log_every, "Steps between progress lines")->capture_default_str();
  c->add_option("--device", o.device, "cpu, cuda or cuda:N")->capture_default_str();
  c->add_option("--autocast", cli->autocast, "Mixed precision on CUDA: off or bf16 (none: deprecated, off)")
      ->capture_default_str();
  c->add_option("--seed", o.seed, "Seed of the initialisation, data order and held-out split")->capture_default_str();
  c->add_flag("--resume", o.resume, "Continue from OUT/checkpoint (reusing OUT/data's token cache)");
  c->add_flag("--overwrite", o.overwrite, "Start over in a non-empty OUT");
  c->add_option("--dtype-out", o.dtype_out, "dtype of the saved model.safetensors: float32 or bfloat16")
      ->capture_default_str();
  c->add_option("--threads", o.threads, "Tokenization threads (0: all cores)")->capture_default_str();
  c->add_option(
       "--general-text-documents", o.general_text_documents,
       "Held-out documents written to OUT/general_text.jsonl, the model's general text for retain run (0: none)")
      ->capture_default_str();
  c->add_flag("--general-text-only", o.general_text_only,
              "Only write OUT/general_text.jsonl: the held-out documents of this --text/--seed/--eval-fraction split "
              "(for a model pretrained before it was written)");
  c->add_option("--bos", o.bos_token, "BOS token string")->capture_default_str();
  c->add_option("--eos", o.eos_token, "EOS token string")->capture_default_str();
  c->callback([cli, c] {
    std::vector<std::string> argv = {"retain", "pretrain"};
    for (const auto& option : c->get_options()) {
      if (option->count() == 0 || option->get_name() == "--help") continue;
      for (const auto& value : option->results()) {
        argv.push_back(option->get_name());
        if (option->get_expected_min() > 0) argv.push_back(value);
      }
    }
    run_pretrain(*cli, argv);
  });
}

}  // namespace retain::cli
