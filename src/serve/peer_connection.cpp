#include "peer_connection.h"

#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstdlib>
#include <filesystem>
#include <system_error>

namespace retain::serve {

namespace {

/// The numeric host and the port of `address` (as httplib formats them); false for a non-IP socket.
bool host_and_port(const sockaddr_storage& address, socklen_t length, std::string& host, int& port) {
  if (address.ss_family != AF_INET && address.ss_family != AF_INET6) return false;
  char name[NI_MAXHOST], service[NI_MAXSERV];
  if (getnameinfo(reinterpret_cast<const sockaddr*>(&address), length, name, sizeof name, service, sizeof service,
                  NI_NUMERICHOST | NI_NUMERICSERV) != 0)
    return false;
  host = name;
  port = std::atoi(service);
  return true;
}

}  // namespace

PeerConnection PeerConnection::find(const std::string& local_addr, int local_port, const std::string& remote_addr,
                                    int remote_port) {
  PeerConnection out;
  std::error_code error;
  for (std::filesystem::directory_iterator it("/proc/self/fd", error), end; !error && it != end; it.increment(error)) {
    char* rest = nullptr;
    const long fd = std::strtol(it->path().filename().c_str(), &rest, 10);
    if (!rest || *rest != '\0' || fd < 0) continue;
    sockaddr_storage local{}, peer{};
    socklen_t local_length = sizeof local, peer_length = sizeof peer;
    if (getsockname(static_cast<int>(fd), reinterpret_cast<sockaddr*>(&local), &local_length) != 0) continue;
    if (getpeername(static_cast<int>(fd), reinterpret_cast<sockaddr*>(&peer), &peer_length) != 0) continue;
    std::string local_host, peer_host;
    int local_p = -1, peer_p = -1;
    if (!host_and_port(local, local_length, local_host, local_p) || !host_and_port(peer, peer_length, peer_host, peer_p))
      continue;
    if (local_p == local_port && peer_p == remote_port && local_host == local_addr && peer_host == remote_addr) {
      out.fd_ = static_cast<int>(fd);
      break;
    }
  }
  return out;
}

bool PeerConnection::connected() const {
  if (fd_ < 0) return true;
  pollfd p{fd_, static_cast<short>(POLLIN | POLLRDHUP), 0};
  if (poll(&p, 1, 0) <= 0) return true;  // nothing has happened on the socket
  if (p.revents & (POLLERR | POLLHUP | POLLRDHUP | POLLNVAL)) return false;
  if (p.revents & POLLIN) {  // data (a pipelined request) or EOF
    char byte;
    const ssize_t n = recv(fd_, &byte, 1, MSG_PEEK | MSG_DONTWAIT);
    return n > 0 || (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR));
  }
  return true;
}

}  // namespace retain::serve
