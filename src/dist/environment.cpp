#include "retain/dist/environment.h"

#include "retain/core/error.h"

#include <cstdlib>
#include <vector>

extern char** environ;

namespace retain {

namespace {

const std::vector<std::string> kVariables = {"RANK",        "LOCAL_RANK", "WORLD_SIZE",
                                             "LOCAL_WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT"};

int parse_int(const std::map<std::string, std::string>& vars, const std::string& name, int min, int max) {
  const std::string& text = vars.at(name);
  size_t used = 0;
  long value = 0;
  try {
    value = std::stol(text, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  RETAIN_CHECK(used == text.size() && !text.empty(), "dist", "{}={} is not an integer", name, text);
  RETAIN_CHECK(value >= min && value <= max, "dist", "{}={} is out of range: expected {}..{}", name, text, min, max);
  return static_cast<int>(value);
}

}  // namespace

DistEnvironment dist_environment_from(const std::map<std::string, std::string>& vars) {
  DistEnvironment env;
  std::vector<std::string> set, missing;
  for (const auto& v : kVariables) (vars.count(v) ? set : missing).push_back(v);
  if (set.empty()) return env;
  RETAIN_CHECK(missing.empty(), "dist",
               "a distributed launch sets all of RANK, LOCAL_RANK, WORLD_SIZE, LOCAL_WORLD_SIZE, MASTER_ADDR, "
               "MASTER_PORT; {} {} set but {} {} not (start ranks with `retain launch` or torchrun)",
               fmt::join(set, ", "), set.size() == 1 ? "is" : "are", fmt::join(missing, ", "),
               missing.size() == 1 ? "is" : "are");
  env.launched = true;
  env.world_size = parse_int(vars, "WORLD_SIZE", 1, 1 << 20);
  env.rank = parse_int(vars, "RANK", 0, env.world_size - 1);
  env.local_world_size = parse_int(vars, "LOCAL_WORLD_SIZE", 1, env.world_size);
  env.local_rank = parse_int(vars, "LOCAL_RANK", 0, env.local_world_size - 1);
  env.master_addr = vars.at("MASTER_ADDR");
  RETAIN_CHECK(!env.master_addr.empty(), "dist", "MASTER_ADDR is empty");
  env.master_port = parse_int(vars, "MASTER_PORT", 1, 65535);
  const auto agent = vars.find("TORCHELASTIC_USE_AGENT_STORE");
  env.agent_store = agent != vars.end() && agent->second == "True";
  if (env.agent_store) {
    const auto restarts = vars.find("TORCHELASTIC_RESTART_COUNT");
    env.store_prefix = "/worker/attempt_" + (restarts != vars.end() ? restarts->second : std::string("0"));
  }
  return env;
}

DistEnvironment dist_environment_from_env() {
  std::map<std::string, std::string> vars;
  for (char** e = environ; e && *e; ++e) {
    const std::string entry = *e;
    const auto eq = entry.find('=');
    if (eq == std::string::npos) continue;
    vars.emplace(entry.substr(0, eq), entry.substr(eq + 1));
  }
  return dist_environment_from(vars);
}

std::map<std::string, std::string> launcher_environment(int rank, int world, const std::string& master_addr,
                                                        int master_port) {
  return {{"RANK", std::to_string(rank)},
          {"LOCAL_RANK", std::to_string(rank)},
          {"WORLD_SIZE", std::to_string(world)},
          {"LOCAL_WORLD_SIZE", std::to_string(world)},
          {"MASTER_ADDR", master_addr},
          {"MASTER_PORT", std::to_string(master_port)}};
}

}  // namespace retain
