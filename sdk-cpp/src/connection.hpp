// One Socket.IO connection to one namespace over a Transport, driven by the owner's poll(): the
// Engine.IO open and ping timeout, the namespace connect with auth, events, acknowledgements (with
// timeouts) and binary attachments. Internal to the library (game_server.cpp, player_client.cpp).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "meshbridge/packet.hpp"
#include "meshbridge/transport.hpp"

namespace meshbridge::detail {

using Clock = std::chrono::steady_clock;

struct ConnEvent {
  enum class Kind { Connected, Refused, Event, Closed };
  Kind kind;
  /** Event: its name and arguments (an array); Refused: {message, data}; Closed: why, in `reason`. */
  std::string name;
  Json args;
  std::optional<std::uint64_t> ack_id;
  std::string reason;
};

/** Called with the reply's arguments, or nullopt when none came (timeout, connection closed). */
using AckCallback = std::function<void(std::optional<Json>)>;

/** The code of a refused handshake ({message, data: {code}}), or "". */
inline std::string refusal_code(const Json& refused) {
  const Json data = refused.value("data", Json::object());
  return data.is_object() ? data.value("code", "") : "";
}

/** An AckCallback handing `done` the reply's first argument, or {ok: false, code: TIMEOUT} when none came. */
inline AckCallback first_reply(std::function<void(const Json&)> done, const std::string& what) {
  return [done = std::move(done), what](std::optional<Json> r) {
    if (!done) return;
    if (r && r->is_array() && !r->empty()) return done((*r)[0]);
    done({{"ok", false}, {"code", "TIMEOUT"}, {"message", "no answer to " + what}});
  };
}

class Connection {
 public:
  Connection(std::unique_ptr<Transport> transport, std::string nsp, std::function<Json()> auth);
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  /** Starts connecting to a bridge URL (http://host:port); never blocks. */
  void start(const std::string& bridge_url);
  /** Takes what arrived, decodes it, and appends what the owner must handle; fires ack callbacks and timeouts. */
  void poll(std::vector<ConnEvent>& out);
  /** Sends an event; with `on_ack`, asks for a reply within `timeout_ms`. */
  void emit(const std::string& event, Json args, AckCallback on_ack = {}, int timeout_ms = 5000);
  /** Answers an event that asked for a reply. */
  void ack(std::uint64_t id, Json args);
  void close();
  /** Waits until the transport has something, or `max` passes. */
  void wait(std::chrono::milliseconds max) { transport_->wait(max); }
  bool connected() const { return connected_; }
  /** When the auth was sent (the namespace connect), on the steady clock. */
  Clock::time_point auth_sent_at() const { return auth_sent_at_; }

 private:
  void on_text(const std::string& frame, std::vector<ConnEvent>& out);
  void on_packet(Packet p, std::vector<ConnEvent>& out);
  void closed(const std::string& why, std::vector<ConnEvent>& out);
  void send_packet(Packet p);

  struct PendingAck {
    AckCallback callback;
    Clock::time_point deadline;
  };

  std::unique_ptr<Transport> transport_;
  std::string nsp_;
  std::function<Json()> auth_;
  bool connected_ = false;
  /** The Closed event was given to the owner: nothing more happens on this connection. */
  bool over_ = false;
  /** Why it could not even start (a bad URL): reported at the next poll. */
  std::string failed_;
  Clock::time_point last_heard_;
  Clock::duration silence_limit_ = std::chrono::seconds(45);
  Clock::time_point auth_sent_at_;
  std::uint64_t next_id_ = 0;
  std::map<std::uint64_t, PendingAck> acks_;
  /** A binary packet waiting for its attachments. */
  std::optional<Packet> partial_;
  std::vector<std::string> attachments_;
};

}  // namespace meshbridge::detail
