// retain pretrain: packing and splitting invariants, the window order (random_permutation per
// epoch), the window loss against a hand-computed cross-entropy, the schedule it uses, SHA-256
// against FIPS 180-4 vectors, parallel tokenization against serial, the observers, and end to end
// on a tiny model (the loss of a memorisable corpus falls, resume is bitwise, the folder loads and
// runs).
#include "common/test_support.h"
#include "retain/core/files.h"
#include "retain/core/random.h"
#include "retain/core/sha256.h"
#include "retain/model/loader.h"
#include "retain/tokenizer/bpe_trainer.h"
#include "retain/train/pretrain.h"
#include "retain/train/pretrain_corpus.h"
#include "retain/train/pretrain_windows.h"
#include "retain/train/resume.h"
#include "retain/train/schedule.h"

#include <gtest/gtest.h>

#include <csignal>
#include <random>

#include <sys/wait.h>
#include <unistd.h>
#include <torch/torch.h>

#include <cmath>
#include <numeric>
#include <random>
#include <set>
#include <sstream>

namespace retain {
namespace {

namespace fs = std::filesystem;
using testing::error_of;
using testing::temp_dir;

TEST(Pretrain, SplitIsDisjointCompleteAndDeterministic) {
  for (double fraction : {0.0, 0.01, 0.3}) {
    const auto split = split_documents(500, 7, fraction);
    std::vector<size_t> all = split.train;
    all.insert(all.end(), split.eval.begin(), split.eval.end());
    std::sort(all.begin(), all.end());
    std::vector<size_t> expected(500);
    std::iota(expected.begin(), expected.end(), size_t{0});
    EXPECT_EQ(all, expected) << "every document in exactly one split, fraction " << fraction;
    EXPECT_TRUE(std::is_sorted(split.train.begin(), split.train.end()));
    EXPECT_TRUE(std::is_sorted(split.eval.begin(), split.eval.end()));
    EXPECT_EQ(split_documents(500, 7, fraction).eval, split.eval);
    if (fraction == 0)
      EXPECT_TRUE(split.eval.empty());
    else
      EXPECT_FALSE(split.eval.empty());
  }
  // 30% of 500 held out: binomial, sd ≈ 10; 5 sd either side.
  const auto split = split_documents(500, 7, 0.3);
  EXPECT_NEAR(static_cast<double>(split.eval.size()), 150, 50);
  EXPECT_NE(split_documents(500, 8, 0.3).eval, split.eval);  // the seed matters
  // Tiny corpora: one held out, one kept.
  EXPECT_EQ(split_documents(2, 0, 0.01).eval.size(), 1u);
  EXPECT_EQ(split_documents(1, 0, 0.5).train.size(), 1u);
}

TEST(Pretrain, PackingKeepsEveryTokenOnceWithBosAndEosAroundDocuments) {
  std::mt19937 rng(1);
  std::vector<Document> docs(40);
  for (auto& d : docs) {
    d.resize(rng() % 30);
    for (auto& t : d) t = static_cast<int32_t>(3 + rng() % 100);
  }
  const auto split = split_documents(docs.size(), 3, 0.2);
  const auto stream = pack_stream(docs, split.train, 0, 1);
  // Reconstruct the documents from the stream: bos, tokens, eos, in the order given.
  size_t at = 0;
  for (size_t d : split.train) {
    ASSERT_EQ(stream.at(at++), 0);
    for (int32_t t : docs[d]) ASSERT_EQ(stream.at(at++), t);
    ASSERT_EQ(stream.at(at++), 1);
  }
  EXPECT_EQ(at, stream.size());

  // Windows of T + 1 with stride T: inputs tile the stream, targets are the inputs shifted by one,
  // so every token but the first is predicted exactly once.
  const int64_t T = 16, n = window_count(static_cast<int64_t>(stream.size()), T);
  EXPECT_EQ(n, (static_cast<int64_t>(stream.size()) - 1) / T);
  EXPECT_EQ(window_count(T, T), 0);
  EXPECT_EQ(window_count(T + 1, T), 1);
  std::vector<int64_t> seen(static_cast<size_t>(n), 0);
  const int64_t B = 5, steps = 3 * n / B;  // three epochs
  for (int64_t step = 0; step < steps; ++step) {
    const auto w = batch_windows(step, B, n, 11);
    ASSERT_EQ(w.size(), static_cast<size_t>(B));
    for (int64_t i : w) ++seen.at(static_cast<size_t>(i));
    EXPECT_EQ(batch_windows(step, B, n, 11), w);  // a function of the step: resume sees the same data
  }
  // Within three whole epochs every window is drawn three times (the tail of the last epoch aside).
  const int64_t drawn = steps * B;
  for (int64_t c : seen) EXPECT_TRUE(c == drawn / n || c == drawn / n + 1) << c;
  EXPECT_NE(batch_windows(0, B, n, 11), batch_windows(0, B, n, 12));
}

// Pretraining's schedule is the shared one (train/schedule.h) with a floor: transformers' warm-up
// from 0 (step / warmup; it was (step + 1) / warmup before pretraining shared it), then the cosine
// from the peak to peak · min_ratio.
TEST(Pretrain, LearningRateWarmsUpThenFollowsTheCosineToTheFloor) {
  auto lr = [](int64_t step) { return learning_rate_at(Schedule::Cosine, 1.0, step, 100, 10, 0.1); };
  EXPECT_DOUBLE_EQ(lr(0), 0.0);
  EXPECT_DOUBLE_EQ(lr(9), 0.9);
  EXPECT_DOUBLE_EQ(lr(10), 1.0);
  EXPECT_NEAR(lr(55), 0.55, 1e-12);  // half way: the mean of peak and floor
  EXPECT_NEAR(lr(100), 0.1, 1e-12);
  for (int64_t s = 11; s < 100; ++s) EXPECT_LE(lr(s), lr(s - 1));
}

// The order of an epoch is random_permutation(windows, seeded_rng({seed, epoch})), and a step takes
// the next batch_size windows of the concatenated epochs (a batch may straddle two epochs).
TEST(Pretrain, WindowOrderIsOneRandomPermutationPerEpoch) {
  const int64_t windows = 7, B = 3;
  std::vector<int64_t> concatenated;
  for (uint64_t epoch = 0; epoch < 3; ++epoch) {
    auto rng = seeded_rng({11, epoch});
    const auto order = random_permutation(windows, rng);
    concatenated.insert(concatenated.end(), order.begin(), order.end());
  }
  for (int64_t step = 0; step < 7; ++step) {  // 21 windows: three whole epochs
    const std::vector<int64_t> expected(concatenated.begin() + step * B, concatenated.begin() + (step + 1) * B);
    EXPECT_EQ(batch_windows(step, B, windows, 11), expected) << "step " << step;
  }
}

// Oracle: −log softmax of the model's own logits at each target, summed in float64 by hand.
TEST(Pretrain, WindowLossIsTheNextTokenCrossEntropyOfEveryInputPosition) {
  torch::manual_seed(5);
  ModelConfig config = ModelConfig::from_json({{"model_type", "llama"},
                                               {"vocab_size", 17},
                                               {"hidden_size", 16},
                                               {"intermediate_size", 32},
                                               {"num_hidden_layers", 1},
                                               {"num_attention_heads", 2},
                                               {"num_key_value_heads", 1},
                                               {"max_position_embeddings", 8},
                                               {"rms_norm_eps", 1e-5},
                                               {"tie_word_embeddings", true}},
                                              "test");
  CausalLM model(config);
  init_weights(model, 5);
  std::vector<int32_t> stream(40);
  for (size_t i = 0; i < stream.size(); ++i) stream[i] = static_cast<int32_t>((i * 7 + i / 3) % 17);
  const int64_t T = 8;  // the model's whole context: the window's T + 1st token is only a target
  const at::Tensor windows = gather_windows(stream, {3, 0}, T);
  ASSERT_EQ(windows.sizes(), (std::vector<int64_t>{2, T + 1}));
  EXPECT_EQ(windows[0][0].item<int64_t>(), stream[3 * T]);
  EXPECT_EQ(windows[0][T].item<int64_t>(), stream[4 * T]);
  const LossSum loss = window_loss(model, windows, at::kCPU, false);
  EXPECT_EQ(loss.tokens, 2 * T);
  torch::NoGradGuard no_grad;
  ForwardInput input;
  input.input_ids = windows.narrow(1, 0, T);
  const at::Tensor log_p = at::log_softmax(model->forward(input).to(at::kDouble), -1);
  double expected = 0;
  for (int64_t b = 0; b < 2; ++b)
    for (int64_t t = 0; t < T; ++t) expected -= log_p[b][t][windows[b][t + 1].item<int64_t>()].item<double>();
  // float32 logits and sums of 16 terms of about ln 17: 1e-5 relative is ~50 float32 roundings.
  EXPECT_NEAR(loss.sum.item<double>(), expected, 1e-5 * expected);
  EXPECT_NEAR(heldout_loss(model, stream, T, 1, 2, at::kCPU, false) * 2 * T,
              window_loss(model, gather_windows(stream, {0, 1}, T), at::kCPU, false).sum.item<double>(), 1e-4);
}

TEST(Pretrain, Sha256MatchesTheStandardVectors) {
  const auto dir = temp_dir("pretrain_sha");
  write_file_atomic(dir / "empty", "");
  write_file_atomic(dir / "abc", "abc");
  write_file_atomic(dir / "two_blocks", "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq");
  write_file_atomic(dir / "million", std::string(1000000, 'a'));
  EXPECT_EQ(retain::sha256_file(dir / "empty"), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(retain::sha256_file(dir / "abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(retain::sha256_file(dir / "two_blocks"),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
  EXPECT_EQ(retain::sha256_file(dir / "million"), "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

// A corpus a tiny model can memorise: a handful of sentences, repeated in many documents.
std::string sentence(size_t i) {
  static const std::vector<std::string> s = {"the quick brown fox jumps over the lazy dog.",
                                             "a stitch in time saves nine.", "all that glitters is not gold.",
                                             "東京 is a city; 🙂 is a face."};
  return s[i % s.size()];
}

struct TinySetup {
  fs::path dir, tokenizer, config, text;
};

TinySetup make_tiny(const std::string& tag) {
  TinySetup t;
  t.dir = temp_dir(tag);
  fs::create_directories(t.dir / "text");
  std::string all;
  for (int f = 0; f < 4; ++f) {
    std::string file;
    for (int d = 0; d < 30; ++d) {
      for (int k = 0; k < 3; ++k) file += sentence(static_cast<size_t>(d + k)) + (k < 2 ? " " : "");
      file += "\n";
    }
    write_file_atomic(t.dir / "text" / ("part" + std::to_string(f) + ".txt"), file);
    all += file;
  }
  WordCounts counts;
  count_words(all, counts);
  BpeTrainerOptions bpe;
  bpe.vocab_size = 320;
  t.tokenizer = t.dir / "tokenizer.json";
  write_bpe_tokenizer(t.tokenizer, train_bpe(counts, bpe));
  json config = {{"model_type", "llama"},       {"vocab_size", 320},
                 {"hidden_size", 32},           {"intermediate_size", 64},
                 {"num_hidden_layers", 2},      {"num_attention_heads", 4},
                 {"num_key_value_heads", 2},    {"max_position_embeddings", 64},
                 {"rms_norm_eps", 1e-5},        {"rope_theta", 10000.0},
                 {"tie_word_embeddings", true}, {"torch_dtype", "float32"}};
  t.config = t.dir / "config.json";
  write_file_atomic(t.config, config.dump(2));
  t.text = t.dir / "text";
  return t;
}

PretrainOptions tiny_options(const TinySetup& t, const fs::path& out) {
  PretrainOptions o;
  o.config = t.config;
  o.tokenizer = t.tokenizer;
  o.text = {t.text.string()};
  o.doc_separator = "\n";
  o.out = out;
  o.steps = 60;
  o.batch_size = 4;
  o.seq_len = 32;
  o.lr = 1e-2;
  o.warmup = 5;
  o.eval_fraction = 0.1;
  o.eval_every = 20;
  o.checkpoint_every = 0;
  o.threads = 2;
  return o;
}

TEST(Pretrain, TokenizingInParallelEqualsSerialEncoding) {
  const auto t = make_tiny("pretrain_tok");
  const Tokenizer tok = Tokenizer::from_file(t.tokenizer);
  std::vector<std::string> docs;
  for (size_t i = 0; i < 50; ++i) docs.push_back(sentence(i) + "\n" + sentence(i + 1));
  std::string long_doc;  // over the 1 MiB piece size, so it is cut into pieces
  for (size_t i = 0; long_doc.size() < (1u << 21); ++i) long_doc += sentence(i) + (i % 3 ? " " : "\n");
  docs.push_back(long_doc);
  const auto ids = tokenize_documents(tok, docs, 3);
  ASSERT_EQ(ids.size(), docs.size());
  for (size_t i = 0; i < docs.size(); ++i) {
    const auto serial = tok.encode(docs[i]);
    ASSERT_EQ(std::vector<int64_t>(ids[i].begin(), ids[i].end()), serial) << "document " << i;
  }
}

TEST(Pretrain, LossFallsOnAMemorisableCorpusAndTheFolderLoads) {
  const auto t = make_tiny("pretrain_e2e");
  const auto o = tiny_options(t, t.dir / "out");
  const auto summary = pretrain(o);
  // Uniform guessing over 320 tokens is ln 320 = 5.77. The corpus is 4 sentences in a fixed cycle:
  // once learned, only a document's first sentence is uncertain (1 of 4), so a model that has
  // memorised it scores well under 1 nat per token; 1.5 leaves room for 60 steps of a tiny model.
  EXPECT_LT(summary.eval_loss, 1.5);
  EXPECT_LT(summary.final_train_loss, 1.5);
  EXPECT_GT(summary.eval_tokens, 0);

  // metrics.jsonl: the first step's loss is near ln 320; loss.csv has the evaluations.
  std::vector<double> losses;
  for_each_jsonl(t.dir / "out" / "metrics.jsonl", [&](size_t, const json& r) {
    if (r.contains("loss")) losses.push_back(r["loss"].get<double>());
  });
  ASSERT_EQ(losses.size(), 60u);
  EXPECT_NEAR(losses.front(), std::log(320.0), 0.5);
  const std::string csv = read_file(t.dir / "out" / "loss.csv");
  EXPECT_EQ(std::count(csv.begin(), csv.end(), '\n'), 4);  // header + steps 20, 40, 60

  // The folder is a Hugging Face model: config ids match the tokenizer, it loads and runs.
  const Tokenizer tok = Tokenizer::from_file(t.dir / "out" / "tokenizer.json");
  const ModelConfig config = ModelConfig::from_file(t.dir / "out" / "config.json");
  EXPECT_EQ(config.bos_token_id, tok.token_to_id("<s>"));
  EXPECT_EQ(config.eos_token_ids, std::vector<int64_t>{*tok.token_to_id("</s>")});
  EXPECT_EQ(config.pad_token_id, tok.token_to_id("<pad>"));
  CausalLM model = load_model(t.dir / "out");
  torch::NoGradGuard no_grad;
  ForwardInput input;
  const auto ids = tok.encode("the quick brown fox", true);
  input.input_ids = torch::tensor(ids).unsqueeze(0);
  const at::Tensor logits = model->forward(input);
  EXPECT_EQ(logits.sizes(), (std::vector<int64_t>{1, static_cast<int64_t>(ids.size()), 320}));
  // It learned the sentence: the most likely token after "the quick brown" continues it.
  const auto prefix = tok.encode("the quick brown", true);
  const auto next = tok.encode("the quick brown fox", true)[prefix.size()];
  input.input_ids = torch::tensor(prefix).unsqueeze(0);
  EXPECT_EQ(model->forward(input)[0][-1].argmax().item<int64_t>(), next);

  const json report = read_json_file(t.dir / "out" / "pretrain.json");
  EXPECT_EQ(report["steps"], 60);
  EXPECT_EQ(report["data"]["files"].size(), 4u);
  EXPECT_EQ(report["data"]["files"][0]["sha256"].get<std::string>().size(), 64u);
  EXPECT_EQ(report["data"]["train_tokens"].get<int64_t>() + report["data"]["eval_tokens"].get<int64_t>(),
            summary.train_tokens + summary.eval_tokens);
}

TEST(Pretrain, ResumeGivesBitwiseTheWeightsOfAnUninterruptedRun) {
  const auto t = make_tiny("pretrain_resume");
  auto o = tiny_options(t, t.dir / "full");
  o.steps = 12;
  o.eval_every = 4;
  o.checkpoint_every = 6;
  pretrain(o);  // leaves its step-6 checkpoint in full/checkpoint
  // An "interrupted" run: its folder holds what the full run held at step 6 (checkpoint + token cache).
  fs::create_directories(t.dir / "cut");
  for (const char* sub : {"checkpoint", "data"})
    fs::copy(t.dir / "full" / sub, t.dir / "cut" / sub, fs::copy_options::recursive);
  auto resumed = o;
  resumed.out = t.dir / "cut";
  resumed.resume = true;
  pretrain(resumed);
  EXPECT_EQ(read_file(t.dir / "full" / "model.safetensors"), read_file(t.dir / "cut" / "model.safetensors"));
  EXPECT_EQ(read_file(t.dir / "full" / "loss.csv"), read_file(t.dir / "cut" / "loss.csv"));
  const json report = read_json_file(t.dir / "cut" / "pretrain.json");
  EXPECT_EQ(report["resumed_at_step"], 6);

  // Changing a setting that shapes training is refused, naming it.
  auto changed = resumed;
  changed.lr = 5e-3;
  EXPECT_MSG(error_of([&] { pretrain(changed); }), "other settings");
}

// `retain pretrain` SIGKILLed at seeded random writes (token cache, loss.csv, checkpoint; the
// temporary written, not renamed: core/fault_injection.h) and resumed each time ends with the weights
// and loss curve of an uninterrupted run, bitwise.
TEST(Pretrain, KilledAtRandomWritesResumesToTheUninterruptedRun) {
  // One thread: the forked children must not depend on thread pools the parent's threads held.
  const int threads = at::get_num_threads();
  at::set_num_threads(1);
  const auto t = make_tiny("pretrain_faults");
  auto o = tiny_options(t, t.dir / "full");
  o.steps = 12;
  o.eval_every = 2;
  o.checkpoint_every = 3;
  pretrain(o);
  auto cut = o;
  cut.out = t.dir / "cut";
  std::mt19937 rng(4);
  int kills = 0;
  for (int attempt = 0; attempt < 8; ++attempt) {  // then one last resume without a fault
    const int at = attempt < 7 ? 1 + static_cast<int>(rng() % 6) : 0;
    const pid_t child = fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
      if (at > 0) setenv("RETAIN_TEST_FAULT", ("write:" + std::to_string(at)).c_str(), 1);
      try {
        pretrain(cut);
      } catch (...) {
        _exit(3);
      }
      _exit(0);
    }
    int status = 0;
    ASSERT_EQ(waitpid(child, &status, 0), child);
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0) break;
    ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) << "attempt " << attempt << " status " << status;
    ++kills;
    cut.resume = true;
  }
  at::set_num_threads(threads);
  EXPECT_GE(kills, 3);
  ASSERT_TRUE(fs::exists(t.dir / "cut" / "pretrain.json"));
  for (const auto& entry : fs::recursive_directory_iterator(t.dir / "cut"))
    EXPECT_EQ(entry.path().filename().string().find(".tmp-"), std::string::npos) << entry.path();
  EXPECT_EQ(read_file(t.dir / "full" / "model.safetensors"), read_file(t.dir / "cut" / "model.safetensors"));
  EXPECT_EQ(read_file(t.dir / "full" / "loss.csv"), read_file(t.dir / "cut" / "loss.csv"));
}

// Observers get every step (the trainer's StepInfo) and every evaluation; the metrics file, an
// observer too, holds the same values; the printer's lines are means of what it was given.
struct Recorder : PretrainObserver {
  std::vector<std::pair<int64_t, int64_t>> starts;
  std::vector<StepInfo> steps;
  std::vector<PretrainEvaluation> evaluations;
  std::vector<std::string> notes;
  void on_start(int64_t done, int64_t total) override { starts.emplace_back(done, total); }
  void on_step(const StepInfo& s) override { steps.push_back(s); }
  void on_evaluation(const PretrainEvaluation& e) override { evaluations.push_back(e); }
  void on_note(const std::string& line) override { notes.push_back(line); }
};

TEST(Pretrain, ObserversSeeEveryStepAndEvaluationAsTheMetricsFileRecordsThem) {
  const auto t = make_tiny("pretrain_observe");
  auto o = tiny_options(t, t.dir / "out");
  o.steps = 12;
  o.eval_every = 5;
  Recorder seen;
  std::ostringstream printed;
  PretrainProgressPrinter printer(printed, 4);
  pretrain(o, {&seen, &printer});
  const int64_t train_windows = read_json_file(t.dir / "out" / "pretrain.json")["data"]["train_windows"].get<int64_t>();

  EXPECT_EQ(seen.starts, (std::vector<std::pair<int64_t, int64_t>>{{0, 12}}));
  ASSERT_EQ(seen.steps.size(), 12u);
  for (int64_t i = 0; i < 12; ++i) {
    const StepInfo& s = seen.steps[static_cast<size_t>(i)];
    EXPECT_EQ(s.step, i);
    EXPECT_EQ(s.total_steps, 12);
    EXPECT_EQ(s.tokens, o.batch_size * o.seq_len);
    EXPECT_EQ(s.epoch, i * o.batch_size / train_windows);
    EXPECT_EQ(s.lr, learning_rate_at(Schedule::Cosine, o.lr, i, 12, 5, o.min_lr_ratio)) << "step " << i;
    EXPECT_TRUE(std::isfinite(s.loss) && s.grad_norm > 0);
  }
  ASSERT_EQ(seen.evaluations.size(), 3u);  // after steps 5, 10 and the last
  const std::vector<int64_t> eval_steps = {5, 10, 12};
  int64_t from = 0;
  for (size_t k = 0; k < 3; ++k) {
    const auto& e = seen.evaluations[k];
    EXPECT_EQ(e.step, eval_steps[k]);
    EXPECT_TRUE(std::isfinite(e.eval_loss));
    double sum = 0;
    for (int64_t i = from; i < e.step; ++i) sum += seen.steps[static_cast<size_t>(i)].loss;
    EXPECT_DOUBLE_EQ(e.train_loss, sum / static_cast<double>(e.step - from));
    from = e.step;
  }
  EXPECT_FALSE(seen.notes.empty());  // the tokenization line

  std::vector<double> losses, eval_losses;
  for_each_jsonl(t.dir / "out" / "metrics.jsonl", [&](size_t, const json& r) {
    if (r.contains("loss")) losses.push_back(r["loss"].get<double>());
    if (r.contains("eval_loss")) eval_losses.push_back(r["eval_loss"].get<double>());
  });
  ASSERT_EQ(losses.size(), 12u);
  for (size_t i = 0; i < 12; ++i) EXPECT_EQ(losses[i], seen.steps[i].loss);  // JSON keeps doubles exactly
  ASSERT_EQ(eval_losses.size(), 3u);
  for (size_t k = 0; k < 3; ++k) EXPECT_EQ(eval_losses[k], seen.evaluations[k].eval_loss);

  // Progress lines after steps 4, 8 and 12, each the mean loss of the last 4 steps.
  const std::string text = printed.str();
  for (int64_t done : {4, 8, 12}) {
    double sum = 0;
    for (int64_t i = done - 4; i < done; ++i) sum += seen.steps[static_cast<size_t>(i)].loss;
    const std::string line = fmt::format("step {:>6}/12  loss {:.4f}", done, sum / 4);
    EXPECT_MSG(text, line) << line << " in\n" << text;
  }
  EXPECT_NO_MSG(text, "step      3/12  loss");
  EXPECT_MSG(text, fmt::format("step     10/12  held-out loss {:.4f}", seen.evaluations[1].eval_loss));
  EXPECT_MSG(text, "retain pretrain: " + seen.notes.front());
}

TEST(Pretrain, ACheckpointOfTheFormerFormatIsRefusedNamingTheWayOut) {
  const auto t = make_tiny("pretrain_old_checkpoint");
  auto o = tiny_options(t, t.dir / "out");
  o.steps = 4;
  o.warmup = 1;
  o.eval_every = 0;
  o.checkpoint_every = 2;
  pretrain(o);
  const fs::path file = t.dir / "out" / "checkpoint" / "state.safetensors";
  ResumePoint point = read_resume_point(file);
  EXPECT_EQ(point.progress["format"], "retain-pretrain-2");
  point.progress["format"] = "retain-pretrain-1";  // its window order and optimizer state names differ
  write_resume_point(file, point);
  auto resumed = o;
  resumed.resume = true;
  const std::string e = error_of([&] { pretrain(resumed); });
  EXPECT_MSG(e, "retain-pretrain-1");
  EXPECT_MSG(e, "--overwrite");
}

TEST(Pretrain, BadInputIsNamed) {
  const auto t = make_tiny("pretrain_bad");
  auto o = tiny_options(t, t.dir / "out");
  o.steps = 1;
  o.warmup = 0;
  auto long_seq = o;
  long_seq.seq_len = 128;
  const std::string e = error_of([&] { pretrain(long_seq); });
  EXPECT_MSG(e, "max_position_embeddings");
  auto small_vocab = o;
  json config = read_json_file(t.config);
  config["vocab_size"] = 100;
  write_file_atomic(t.dir / "small.json", config.dump());
  small_vocab.config = t.dir / "small.json";
  EXPECT_MSG(error_of([&] { pretrain(small_vocab); }), "smaller than the tokenizer's vocabulary");
  auto bad_bos = o;
  bad_bos.bos_token = "<bos>";
  EXPECT_MSG(error_of([&] { pretrain(bad_bos); }), "\"<bos>\"");
  fs::create_directories(t.dir / "latin1");
  fs::create_directories(t.dir / "busy");
  write_file_atomic(t.dir / "latin1" / "x.txt", std::string("ok\ncaf\xE9\n"));
  auto latin1 = o;
  latin1.text = {(t.dir / "latin1").string()};
  EXPECT_MSG(error_of([&] { pretrain(latin1); }), "x.txt:2");
  // An occupied folder is not trained over without --resume or --overwrite.
  write_file_atomic(t.dir / "busy" / "keep.txt", "mine");
  auto busy = o;
  busy.out = t.dir / "busy";
  EXPECT_MSG(error_of([&] { pretrain(busy); }), "--resume");
  EXPECT_EQ(read_file(t.dir / "busy" / "keep.txt"), "mine");
}

}  // namespace
}  // namespace retain
