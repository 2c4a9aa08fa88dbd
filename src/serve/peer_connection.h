// src/serve/peer_connection.h — whether the client of a request is still connected.
//
// cpp-httplib 0.11 (Debian's) gives a handler no access to its socket and notices a client gone only
// when a write fails; a non-streamed completion writes nothing until it is done. So the handler finds
// its connection's socket itself: the socket of this process whose local and peer addresses are the
// request's (one only, and open until the handler returns: httplib closes a connection after its
// last handler), and asks the kernel whether the peer has closed it (poll: POLLRDHUP / POLLHUP /
// POLLERR, or a readable socket at EOF).
#pragma once

#include <string>

namespace retain::serve {

class PeerConnection {
 public:
  /// The connection from remote_addr:remote_port to local_addr:local_port (numeric addresses, as
  /// httplib's Request holds them). When no such socket is found, connected() is always true.
  static PeerConnection find(const std::string& local_addr, int local_port, const std::string& remote_addr,
                             int remote_port);
  /// False once the peer has closed or reset the connection. Reads nothing (a pipelined request
  /// waiting on the socket is left there).
  bool connected() const;
  bool found() const { return fd_ >= 0; }

 private:
  int fd_ = -1;
};

}  // namespace retain::serve
