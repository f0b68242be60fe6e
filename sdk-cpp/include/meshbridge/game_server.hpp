// The game-server SDK: one dedicated server's session with the bridge mesh (the /server protocol of
// docs/protocol.md). The network runs on its own thread; everything the SDK tells the game — inputs,
// attaches, hooks, replies — is delivered by poll(), on the thread that calls it (an Unreal tick, a
// game loop), so game code never runs on the network thread. Nothing blocks: connect() returns at
// once, poll() only handles what already arrived. No exception leaves the API; errors arrive as
// on_error. Destroying a GameServer in any state is safe.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "meshbridge/packet.hpp"
#include "meshbridge/transport.hpp"

namespace meshbridge {

inline constexpr int kProtocolVersion = 1;

struct GameServerOptions {
  /** Bridge URLs (http://host:port), tried in turn: a failover list. */
  std::vector<std::string> urls;
  std::string server_id;
  /** The network secret, or this server's own key. */
  std::string secret;
  double power = 1;
  /** Makes the transport of each connection attempt; the Boost.Beast one when empty. */
  std::function<std::unique_ptr<Transport>()> make_transport;
};

struct OwnedPlayer {
  std::string area;
  std::uint64_t epoch = 0;
  /** The last input seq applied (delivered to on_input). */
  std::uint64_t last_applied = 0;
};

/** What the game hands over when a player or an area leaves it, and takes when one arrives. */
struct GameHooks {
  std::function<Json(const std::string& player)> export_player = [](const std::string&) { return Json(); };
  /** {state, players: {id: snapshot}}. */
  std::function<Json(const std::string& area)> export_area = [](const std::string&) { return Json::object(); };
  std::function<bool(const std::string& player, const std::string& area, const Json& snapshot)> accept_player =
      [](const std::string&, const std::string&, const Json&) { return true; };
  std::function<bool(const Json& offer)> offer = [](const Json&) { return true; };
  std::function<bool(const std::string& area, const Json& state)> accept_area = [](const std::string&, const Json&) { return true; };
};

class GameServer {
 public:
  explicit GameServer(GameServerOptions options);
  ~GameServer();
  GameServer(const GameServer&) = delete;
  GameServer& operator=(const GameServer&) = delete;

  /** Starts registering (never blocks); on_welcome follows from poll(). */
  void connect();
  /** Handles what arrived and runs the callbacks, on this thread; sends the state pushed since the last call. */
  void poll();
  /** Leaves at once (no drain): the bridge recovers what it held after its grace. */
  void close();
  /**
   * Blocks until something arrived from the bridge or `max` passed: a dedicated server's main loop can
   * idle here instead of sleeping (an engine's tick just calls poll()).
   */
  void wait(std::chrono::milliseconds max);

  // What the game hears (set before connect()).
  std::function<void(const Json& welcome)> on_welcome;
  std::function<void()> on_ready;
  std::function<void(const std::string& player, std::uint64_t seq, const Json& data)> on_input;
  /** {player, area, epoch, seq, snapshot?, resync?}; snapshot is what was handed over or saved. */
  std::function<void(const Json& attach)> on_attach;
  std::function<void(const std::string& player, const std::string& reason)> on_detach;
  std::function<void(const std::string& area, std::uint64_t epoch, const Json& state)> on_area_assign;
  std::function<void(const std::string& area)> on_area_release;
  std::function<void(const std::string& player)> on_player_resume;
  std::function<void(const std::string& area)> on_area_resume;
  std::function<void(const Json& batch)> on_ghost;
  std::function<void(const std::string& from, const std::string& topic, const Json& payload)> on_message;
  /** A refusal or an error event (code, message); FENCED and SESSION_REPLACED are handled as well. */
  std::function<void(const std::string& code, const std::string& message)> on_error;
  std::function<void(const std::string& reason)> on_disconnect;
  /** Events dropped unapplied: they arrived while the lease was unconfirmed (it was frozen). */
  std::function<void(std::size_t dropped)> on_stale;
  std::function<void()> on_drained;
  GameHooks hooks;

  // What the game does.
  /** Area state for this tick; `acks`: player → last seq applied. Sent at the next poll(), batched. */
  void push_area(const std::string& area, Json data, const std::map<std::string, std::uint64_t>& acks = {});
  void push_player(const std::string& player, Json data);
  void push_all(Json data);
  /** Renews the lease: call at least three times per lease (welcome.leaseMs). */
  void report_load(Json report);
  /** Autosave: {areas: {id: state}, players: {id: {snapshot, seq}}}. */
  void snapshot(Json autosave);
  /** Moves an owned player to `area`; the callback gets the reply ({ok, ...}). */
  void handoff(const std::string& player, const std::string& area, std::function<void(const Json&)> done = {});
  /** Graceful shutdown: on_drained follows. */
  void drain(std::function<void(const Json&)> done = {});
  /** Calls `method` on server `to`: the callback gets {ok, result} or {ok: false, code, message}. */
  void call(const std::string& to, const std::string& method, Json payload, int timeout_ms, std::function<void(const Json&)> done);
  /** Answers calls of `method` (returning the result); calls of other methods are answered {error}. */
  void handle(const std::string& method, std::function<Json(const Json& payload, const std::string& from)> fn);
  void send_message(const std::string& to, const std::string& topic, Json payload);
  void chat(const std::string& channel, const std::string& text, std::function<void(const Json&)> done = {});
  void watch(const std::vector<std::string>& areas);

  std::uint64_t epoch() const { return epoch_; }
  bool connected() const;
  bool ready() const { return status_ == "ready"; }
  const std::map<std::string, OwnedPlayer>& players() const { return players_; }
  const std::map<std::string, std::uint64_t>& areas() const { return areas_; }
  std::size_t held_events() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  GameServerOptions options_;
  std::uint64_t epoch_ = 0;
  std::string status_ = "offline";
  std::map<std::string, OwnedPlayer> players_;
  std::map<std::string, std::uint64_t> areas_;
  friend struct Impl;
};

}  // namespace meshbridge
