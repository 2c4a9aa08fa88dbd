// retain — the command-line program. The only place where an exception becomes a message on stderr
// and an exit code: 0 success, 1 a retain or runtime error, CLI11's own codes (100+) for usage errors.
#include "commands.h"

#include "retain/core/error.h"
#include "retain/core/torch_compat.h"

#include <c10/util/Exception.h>
#include <fmt/format.h>
#include <CLI/CLI.hpp>

#include <csignal>
#include <exception>
#include <iostream>

namespace {

std::string version_text() {
  return fmt::format("retain {}\nlibtorch {}\nCUDA: {}", RETAIN_VERSION, retain::compat::torch_version(),
                     retain::compat::cuda_available() ? "available" : "not available");
}

int report(const char* what) {
  std::cerr << "retain: error: " << what << std::endl;
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  // Over a file-size limit (ulimit -f, prlimit --fsize) a write fails with EFBIG and the writer names
  // the file (core/files.h), instead of SIGXFSZ killing the process mid-write.
  std::signal(SIGXFSZ, SIG_IGN);
  CLI::App app{"retain: continual learning for language models (libtorch)", "retain"};
  app.set_version_flag("--version", version_text, "Print the versions of retain and libtorch, and CUDA availability");
  // At most one subcommand during parsing, so that an unknown word is reported as such; none at all
  // is checked after.
  app.require_subcommand(0, 1);

  retain::cli::register_tokenize(app);
  retain::cli::register_forward(app);
  retain::cli::register_generate(app);
  retain::cli::register_inspect(app);
  retain::cli::register_init(app);
  retain::cli::register_export(app);
  retain::cli::register_run(app);
  retain::cli::register_data(app);
  retain::cli::register_report(app);
  retain::cli::register_tokenizer(app);
  retain::cli::register_pretrain(app);
  retain::cli::register_plan(app);
  retain::cli::register_serve(app);
  retain::cli::register_launch(app);

  try {
    app.parse(argc, argv);
    if (app.get_subcommands().empty())
      throw CLI::RequiredError("A subcommand (tokenize, forward, generate, inspect, init)");
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  } catch (const retain::Error& e) {
    return report(e.what());
  } catch (const c10::Error& e) {
    // libtorch's what() carries a C++ backtrace; the message alone is what a user can act on.
    return report(e.what_without_backtrace());
  } catch (const std::exception& e) {
    return report(e.what());
  }
  return 0;
}
