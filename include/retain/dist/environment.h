// retain/dist/environment.h — which rank this process is, read from torchrun's environment.
//
// Both `torchrun --no-python N retain run ...` and `retain launch --nproc-per-node N -- run ...`
// start N copies of the program with RANK, LOCAL_RANK, WORLD_SIZE, LOCAL_WORLD_SIZE, MASTER_ADDR
// and MASTER_PORT set. The TCPStore the ranks meet in lives at MASTER_ADDR:MASTER_PORT: under
// torchrun its agent hosts it (TORCHELASTIC_USE_AGENT_STORE=True) and every rank connects as a
// client under the prefix "/worker/attempt_<TORCHELASTIC_RESTART_COUNT>", as PyTorch's own ranks do;
// otherwise (retain launch, or a hand-started job) rank 0 hosts it.
#pragma once

#include <cstdint>
#include <map>
#include <string>

namespace retain {

struct DistEnvironment {
  int rank = 0;
  int local_rank = 0;
  int world_size = 1;
  int local_world_size = 1;
  std::string master_addr = "127.0.0.1";
  int master_port = 29500;
  bool agent_store = false;  // torchrun's agent hosts the store: every rank is a client
  std::string store_prefix;  // "" or "/worker/attempt_<n>" (torchrun)

  /// Whether this is one process alone (no variables set): no process group is made.
  bool single() const { return world_size == 1 && !launched; }
  bool launched = false;  // WORLD_SIZE was set (a launcher started us, even as a world of 1)
};

/// From the process environment; a world of 1 when none of the variables is set. Errors
/// ("[dist] ...") name the variable that is missing or malformed, and the ones that were set.
DistEnvironment dist_environment_from_env();

/// The same from an explicit map (tests): variable name → value.
DistEnvironment dist_environment_from(const std::map<std::string, std::string>& vars);

/// The environment variables a launcher sets for rank `rank` of `world` ranks on one machine.
std::map<std::string, std::string> launcher_environment(int rank, int world, const std::string& master_addr,
                                                        int master_port);

}  // namespace retain
