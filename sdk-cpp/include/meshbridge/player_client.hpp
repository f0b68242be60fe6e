// The player SDK: a game client's connection to the mesh (the /client protocol of docs/protocol.md).
// Logging in is the game's business: it gives the SDK a token. The SDK numbers inputs after the
// session's ack, keeps each until an autosave covers it and re-sends what it keeps when the protocol
// says (a new session, an `active` that does not end a `transferring`, stalled acks), paced under the
// session's limits; it delivers state and chat. The same threading as GameServer: the network on its
// own thread, every callback from poll() on the caller's thread; nothing blocks; no exception leaves.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "meshbridge/packet.hpp"
#include "meshbridge/transport.hpp"

namespace meshbridge {

struct PlayerClientOptions {
  /** Bridge URLs (http://host:port), tried in turn. */
  std::vector<std::string> urls;
  /** A JWT whose subject is the player (how it is obtained is the game's business). */
  std::string token;
  /** Re-send what is kept when no acknowledgement came for this long. */
  int resend_after_ms = 1000;
  std::function<std::unique_ptr<Transport>()> make_transport;
};

class PlayerClient {
 public:
  explicit PlayerClient(PlayerClientOptions options);
  ~PlayerClient();
  PlayerClient(const PlayerClient&) = delete;
  PlayerClient& operator=(const PlayerClient&) = delete;

  void connect();
  void poll();
  void close();

  /** Sends one input; returns its seq. Kept and re-sent until an autosave covers it. */
  std::uint64_t send(Json data);
  /** Chat: send to `global`, `area`, `whisper:<player>` or a joined `room:<name>`; join/leave rooms; read history. */
  void chat(const std::string& channel, const std::string& text, std::function<void(const Json&)> done = {});
  void join(const std::string& room, std::function<void(const Json&)> done = {});
  void leave(const std::string& room, std::function<void(const Json&)> done = {});
  void history(const std::string& channel, int limit, std::function<void(const Json&)> done);

  std::function<void(const Json& session)> on_session;
  std::function<void(const Json& item)> on_state;
  std::function<void(const Json& authority)> on_authority;
  std::function<void(const Json& message)> on_chat;
  std::function<void(const std::string& code, const std::string& message)> on_error;
  std::function<void(const std::string& reason)> on_disconnect;

  bool connected() const;
  /** The last seq acknowledged (applied by the owner), and how many sent inputs are not yet. */
  std::uint64_t ack() const { return ack_; }
  std::uint64_t pending() const { return next_seq_ - 1 - ack_; }
  /** Inputs kept for re-sending (unacknowledged, or acknowledged but not yet covered by an autosave). */
  std::size_t kept() const { return held_.size(); }
  const std::string& player() const { return player_; }
  const std::string& area() const { return area_; }

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  PlayerClientOptions options_;
  std::string player_, area_;
  std::uint64_t next_seq_ = 1, ack_ = 0, saved_ = 0, held_inputs_ = 0;
  std::deque<std::pair<std::uint64_t, Json>> held_;
  friend struct Impl;
};

}  // namespace meshbridge
