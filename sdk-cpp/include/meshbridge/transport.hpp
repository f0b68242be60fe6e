// The WebSocket under a connection, behind a small interface so that an engine can bring its own
// (Unreal's WebSockets module, say) instead of the Boost.Beast one this library ships. A transport
// never blocks its caller and never calls back: what happens on the wire waits in its queue until
// the owner's poll() takes it, on the owner's (the game's) thread.
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <vector>

namespace meshbridge {

struct TransportEvent {
  enum class Kind { Open, Text, Binary, Closed };
  Kind kind;
  /** A frame's payload, or why the connection closed. */
  std::string data;
};

class Transport {
 public:
  virtual ~Transport() = default;
  /** Starts connecting to a ws:// URL (host:port/path?query); returns at once. An Open or Closed event follows. */
  virtual void connect(const std::string& url) = 0;
  /** Queues one frame (from any thread); dropped when not open. */
  virtual void send(std::string frame, bool binary) = 0;
  /** Closes (from any thread); a Closed event follows unless one came already. */
  virtual void close() = 0;
  /** Moves what arrived since the last call into `out`, in order (from any thread). */
  virtual void take(std::vector<TransportEvent>& out) = 0;
  /** Blocks the caller until something arrived or `max` passed (a server's main loop idles here). */
  virtual void wait(std::chrono::milliseconds max) = 0;
};

/**
 * The Boost.Beast WebSocket transport, with its own network thread. It answers Engine.IO pings itself
 * (a game thread busy for a few seconds keeps its connection; its lease still depends on poll()).
 * Destroying it while connecting, connected or closing is safe: it stops and joins its thread.
 */
std::unique_ptr<Transport> make_websocket_transport();

}  // namespace meshbridge
