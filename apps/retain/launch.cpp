// retain launch: N data-parallel ranks of this same program on this machine, without Python.
//
//   retain launch --nproc-per-node 2 -- run --model M --task T --method seqft --out OUT
//
// Starts `retain <args...>` N times (core/child_jobs.h start_child_job, then exec), each with
// torchrun's variables (dist/environment.h launcher_environment): RANK = LOCAL_RANK = 0..N-1,
// WORLD_SIZE = LOCAL_WORLD_SIZE = N, MASTER_ADDR, MASTER_PORT (rank 0 hosts the store there).
// OMP_NUM_THREADS, when unset, becomes the CPU count / N so the ranks do not oversubscribe the CPUs.
// SIGINT and SIGTERM are forwarded to every rank. When a rank fails, the others get up to 2 s to end
// by themselves, then are stopped (SIGTERM, then SIGKILL after a grace period), and the launcher
// fails naming every failed rank and how it ended; it succeeds when every rank exits with 0.
#include "commands.h"

#include "retain/core/child_jobs.h"
#include "retain/core/error.h"
#include "retain/dist/environment.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <map>
#include <memory>
#include <thread>

namespace retain::cli {
namespace {

struct LaunchOptions {
  int nproc = 1;
  int master_port = 0;  // 0: a free port
  std::string master_addr = "127.0.0.1";
  double grace_s = 10;
  std::vector<std::string> args;
};

volatile std::sig_atomic_t g_signal = 0;
extern "C" void remember_signal(int signal) { g_signal = signal; }

// A port nothing listens on now (the kernel's choice for port 0); rank 0 binds it a moment later.
int free_port(const std::string& addr) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  RETAIN_CHECK(fd >= 0, "launch", "cannot open a socket to find a free port: {}", std::strerror(errno));
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = 0;
  a.sin_addr.s_addr = ::inet_addr(addr == "localhost" ? "127.0.0.1" : addr.c_str());
  socklen_t len = sizeof a;
  const bool ok = ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0 &&
                  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) == 0;
  const int err = errno;
  ::close(fd);
  RETAIN_CHECK(ok, "launch", "cannot find a free port on {}: {} (give --master-port)", addr, std::strerror(err));
  return ntohs(a.sin_port);
}

std::string self_executable() {
  std::error_code ec;
  const auto path = std::filesystem::read_symlink("/proc/self/exe", ec);
  RETAIN_CHECK(!ec, "launch", "cannot find this program's path (/proc/self/exe): {}", ec.message());
  return path.string();
}

void run_launch(const LaunchOptions& o) {
  RETAIN_CHECK(!o.args.empty(), "launch", "no command given: retain launch --nproc-per-node N -- run ...");
  // Only `run` knows it is one of several ranks; any other subcommand would do its work N times over.
  RETAIN_CHECK(o.args.front() == "run", "launch",
               "the ranks' command must be `run` (the one subcommand that trains data-parallel), got `{}`",
               o.args.front());
  const std::string exe = self_executable();
  const int port = o.master_port > 0 ? o.master_port : free_port(o.master_addr);
  const unsigned cpus = std::max(1u, std::thread::hardware_concurrency());
  const std::string threads = std::to_string(std::max(1u, cpus / static_cast<unsigned>(o.nproc)));

  // Signals are remembered and forwarded from the loop below (no SA_RESTART: waitpid returns EINTR).
  struct sigaction action {}, old_int {}, old_term {};
  action.sa_handler = remember_signal;
  sigemptyset(&action.sa_mask);
  ::sigaction(SIGINT, &action, &old_int);
  ::sigaction(SIGTERM, &action, &old_term);

  std::map<pid_t, int> running;  // pid → rank
  auto others = [&] {
    std::vector<pid_t> pids;
    for (const auto& [pid, rank] : running) pids.push_back(pid);
    return pids;
  };
  std::vector<std::pair<int, int>> failed;  // (rank, exit status), in the order seen
  int forwarded = 0;
  try {
    for (int rank = 0; rank < o.nproc; ++rank) {
      ChildJob job;
      job.name = "rank " + std::to_string(rank);
      job.work = [&, rank] {
        for (const auto& [key, value] : launcher_environment(rank, o.nproc, o.master_addr, port))
          ::setenv(key.c_str(), value.c_str(), 1);
        ::setenv("OMP_NUM_THREADS", threads.c_str(), /*overwrite=*/0);
        std::vector<char*> argv;
        argv.push_back(const_cast<char*>("retain"));
        for (const auto& a : o.args) argv.push_back(const_cast<char*>(a.c_str()));
        argv.push_back(nullptr);
        ::execv(exe.c_str(), argv.data());
        fail("launch", "rank {}: cannot run {}: {}", rank, exe, std::strerror(errno));
      };
      running[start_child_job(job, "launch")] = rank;
    }
    std::cerr << fmt::format("retain launch: {} rank{} of `retain {}` on {}:{} ({} CPU thread{} each)\n", o.nproc,
                             o.nproc == 1 ? "" : "s", fmt::join(o.args, " "), o.master_addr, port, threads,
                             threads == "1" ? "" : "s");
    while (!running.empty()) {
      int status = 0;
      const pid_t pid = ::waitpid(-1, &status, 0);
      if (pid < 0) {
        RETAIN_CHECK(errno == EINTR, "launch", "waiting for the ranks failed: {}", std::strerror(errno));
        if (g_signal != 0 && forwarded == 0) {
          forwarded = g_signal;
          std::cerr << fmt::format("retain launch: {} received; forwarding it to the {} running rank{}\n",
                                   ::strsignal(forwarded), running.size(), running.size() == 1 ? "" : "s");
          stop_children(others(), forwarded, o.grace_s);
          running.clear();
        }
        continue;
      }
      auto it = running.find(pid);
      if (it == running.end()) continue;
      const int rank = it->second, code = exit_status_of(status);
      running.erase(it);
      if (code == 0) continue;
      failed.emplace_back(rank, code);
      // The others get a moment to end by themselves (all ranks refusing the same bad setting, a
      // peer's collective failing because this one died), so that the error names every failed rank.
      const auto linger_until = std::chrono::steady_clock::now() + std::chrono::duration<double>(std::min(o.grace_s, 2.0));
      while (!running.empty() && std::chrono::steady_clock::now() < linger_until) {
        for (auto at = running.begin(); at != running.end();) {
          if (::waitpid(at->first, &status, WNOHANG) == at->first) {
            const int c = exit_status_of(status);
            if (c != 0) failed.emplace_back(at->second, c);
            at = running.erase(at);
          } else {
            ++at;
          }
        }
        ::usleep(20000);
      }
      if (!running.empty()) {
        std::cerr << fmt::format("retain launch: rank {} {}; stopping the other {} rank{}\n", rank,
                                 describe_exit_status(code), running.size(), running.size() == 1 ? "" : "s");
        stop_children(others(), SIGTERM, o.grace_s);
        running.clear();
      }
    }
  } catch (...) {
    stop_children(others(), SIGTERM, o.grace_s);
    ::sigaction(SIGINT, &old_int, nullptr);
    ::sigaction(SIGTERM, &old_term, nullptr);
    throw;
  }
  ::sigaction(SIGINT, &old_int, nullptr);
  ::sigaction(SIGTERM, &old_term, nullptr);
  RETAIN_CHECK(forwarded == 0, "launch", "interrupted by {}: the ranks were stopped", ::strsignal(forwarded));
  if (failed.empty()) return;
  // A rank killed by a signal is the likelier cause than one whose collective then failed.
  std::stable_sort(failed.begin(), failed.end(), [](const auto& a, const auto& b) { return (a.second > 128) > (b.second > 128); });
  std::vector<std::string> parts;
  for (const auto& [rank, code] : failed) parts.push_back(fmt::format("rank {} {}", rank, describe_exit_status(code)));
  fail("launch", "{} of {} ranks failed: {}; the others were stopped", failed.size(), o.nproc, fmt::join(parts, "; "));
}

}  // namespace

void register_launch(CLI::App& app) {
  auto o = std::make_shared<LaunchOptions>();
  auto* command = app.add_subcommand("launch", "Run N data-parallel ranks of a retain command on this machine (as torchrun)");
  command->add_option("--nproc-per-node", o->nproc, "Ranks to start (processes on this machine)")
      ->required()
      ->check(CLI::Range(1, 1024));
  command->add_option("--master-port", o->master_port, "TCP port of the ranks' store (default: a free port)")
      ->check(CLI::Range(0, 65535));
  command->add_option("--master-addr", o->master_addr, "Address of the ranks' store (default 127.0.0.1)");
  command->add_option("--grace-seconds", o->grace_s, "How long stopped ranks get before SIGKILL (default 10)")
      ->check(CLI::PositiveNumber);
  command->add_option("args", o->args, "The retain command each rank runs, after --: run --model ... --out ...")
      ->expected(-1);
  command->callback([o] { run_launch(*o); });
}

}  // namespace retain::cli
