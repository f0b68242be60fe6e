// The game-server SDK (include/meshbridge/game_server.hpp): the /server protocol on top of one
// Connection per attempt. All of it runs in poll(), on the game's thread.
#include "meshbridge/game_server.hpp"

#include <random>
#include <set>
#include <thread>

#include "connection.hpp"
#include "lease_gate.hpp"

namespace meshbridge {

using detail::Clock;
using detail::ConnEvent;
using detail::Connection;

struct GameServer::Impl {
  GameServer& self;
  std::unique_ptr<Connection> conn;
  std::size_t url_index = 0;
  int attempts = 0;
  bool stopped = true;
  Clock::time_point retry_at{};
  /** When to send sync:ready again after it failed (zero: not pending). */
  Clock::time_point ready_again_at{};
  detail::LeaseGate gate;
  std::vector<Json> queue;
  std::map<std::string, std::function<Json(const Json&, const std::string&)>> rpc_handlers;
  std::set<std::string> watching;
  /** State handed over ahead of the attach/assign that makes it ours: "p:<id>" / "a:<id>". */
  std::map<std::string, Json> incoming;
  std::mt19937 random{std::random_device{}()};

  explicit Impl(GameServer& s)
      : self(s), gate([this](std::function<void(long long)> answer) {
          if (!conn || !conn->connected()) return;  // reset with the connection
          conn->emit("lease", Json::array(), [answer](std::optional<Json> reply) {
            const Json* r = reply && reply->is_array() && !reply->empty() ? &(*reply)[0] : nullptr;
            answer(r && r->contains("ms") && (*r)["ms"].is_number() ? (*r)["ms"].get<long long>() : -1);
          }, 2000);
        }) {}

  void error(const std::string& code, const std::string& message) {
    if (self.on_error) self.on_error(code, message);
  }

  Json auth() const {
    Json a = {{"serverId", self.options_.server_id}, {"secret", self.options_.secret}, {"power", self.options_.power},
              {"protocol", kProtocolVersion}};
    if (self.epoch_ > 0) {
      a["epoch"] = self.epoch_;
      Json players = Json::object();
      for (const auto& [id, p] : self.players_) players[id] = p.last_applied;
      a["players"] = players;
    }
    return a;
  }

  void open() {
    const auto& urls = self.options_.urls;
    const std::string url = urls.empty() ? "" : urls[url_index % urls.size()];
    auto transport = self.options_.make_transport ? self.options_.make_transport() : make_websocket_transport();
    conn = std::make_unique<Connection>(std::move(transport), "/server", [this] { return auth(); });
    conn->start(url);
  }

  void retry() {
    conn.reset();
    if (stopped) return;
    ++url_index;
    std::uniform_real_distribution<double> jitter(0.5, 1.0);
    const double ms = std::min(2000.0, 100.0 * (1 << std::min(attempts++, 5))) * jitter(random);
    retry_at = Clock::now() + std::chrono::milliseconds(static_cast<int>(ms));
  }

  /** Drops everything held: the next registration starts afresh. */
  void forget() {
    for (const auto& [id, p] : self.players_) {
      if (self.on_detach) self.on_detach(id, "moved");
    }
    self.players_.clear();
    self.areas_.clear();
    self.epoch_ = 0;
  }

  void drop_held() {
    const std::size_t dropped = gate.reset();
    if (dropped > 0 && self.on_stale) self.on_stale(dropped);
  }

  Json take(const std::string& key) {
    auto it = incoming.find(key);
    if (it == incoming.end()) return Json();
    Json v = std::move(it->second);
    incoming.erase(it);
    return v;
  }

  void welcome(const Json& w) {
    attempts = 0;
    self.epoch_ = w.value("epoch", 0ULL);
    self.status_ = w.value("status", std::string("ready"));
    self.areas_.clear();
    for (const auto& a : w.value("areas", Json::array())) self.areas_[a.value("area", "")] = a.value("epoch", 0ULL);
    std::set<std::string> owned;
    for (const auto& p : w.value("players", Json::array())) owned.insert(p.get<std::string>());
    for (auto it = self.players_.begin(); it != self.players_.end();) {
      if (owned.count(it->first) == 0) {
        const std::string id = it->first;
        it = self.players_.erase(it);
        if (self.on_detach) self.on_detach(id, "moved");
      } else {
        ++it;
      }
    }
    gate.reset();
    gate.confirmed(conn->auth_sent_at(), w.value("confirmMs", 0LL));
    if (!watching.empty()) conn->emit("area:watch", Json::array({{{"areas", Json(watching)}}}));
    if (self.on_welcome) self.on_welcome(w);
    if (self.status_ == "syncing") send_ready();
    else if (self.on_ready) self.on_ready();
  }

  /**
   * This server keeps no world data of its own: it holds what it needs at once (docs/sdk-cpp.md). A
   * refused or unanswered sync:ready is sent again (poll() does it), or the session would never take work.
   */
  void send_ready() {
    ready_again_at = Clock::time_point{};
    conn->emit("sync:ready", Json::array(), [this](std::optional<Json> r) {
      if (r && !r->empty() && (*r)[0].value("ok", false)) {
        self.status_ = "ready";
        if (self.on_ready) self.on_ready();
      } else {
        ready_again_at = Clock::now() + std::chrono::milliseconds(500);
      }
    });
  }

  /** One event from the bridge, behind the lease gate (except the session's own: welcome, error, drained). */
  void event(const std::string& name, Json args, std::optional<std::uint64_t> ack_id) {
    const Json arg = args.empty() ? Json() : args[0];
    if (name == "welcome") return welcome(arg);
    if (name == "error") {
      const std::string code = arg.value("code", "");
      if (code == "SESSION_REPLACED") stopped = true;
      if (code == "FENCED") {
        drop_held();
        forget();
      }
      return error(code, arg.value("message", ""));
    }
    if (name == "drained") {
      stopped = true;
      if (self.on_drained) self.on_drained();
      return;
    }
    if (name == "sync:manifest") return;
    gate.run([this, name, arg, ack_id] { guarded(name, [&] { gated(name, arg, ack_id); }); });
  }

  /**
   * Runs one event's handling; a payload of the wrong shape (nlohmann's type errors), or an exception
   * from the game's own callback, becomes on_error: nothing escapes poll() into the game.
   */
  void guarded(const std::string& name, const std::function<void()>& fn) {
    try {
      fn();
    } catch (const std::exception& e) {
      error("BAD_MESSAGE", "handling '" + name + "' failed: " + e.what());
    } catch (...) {
      error("BAD_MESSAGE", "handling '" + name + "' failed");
    }
  }

  void reply(std::optional<std::uint64_t> id, Json value) {
    if (id && conn) conn->ack(*id, Json::array({std::move(value)}));
  }

  void gated(const std::string& name, const Json& a, std::optional<std::uint64_t> id) {
    if (name == "inputs") {
      if (!a.is_array()) return;
      for (const auto& item : a) {
        const std::string player = item.value("player", "");
        const std::uint64_t seq = item.value("seq", 0ULL);
        auto it = self.players_.find(player);
        if (it == self.players_.end() || seq <= it->second.last_applied) continue;  // the bridge dedupes; so do we
        it->second.last_applied = seq;
        if (self.on_input) self.on_input(player, seq, item.contains("data") ? item["data"] : Json());
      }
    } else if (name == "player:attach") {
      const std::string player = a.value("player", "");
      self.players_[player] = {a.value("area", ""), a.value("epoch", 0ULL), a.value("seq", 0ULL)};
      Json attach = a;
      Json handed = take("p:" + player);
      if (!handed.is_null()) attach["snapshot"] = handed;
      if (self.on_attach) self.on_attach(attach);
    } else if (name == "player:detach") {
      const std::string player = a.value("player", "");
      if (self.players_.erase(player) > 0 && self.on_detach) self.on_detach(player, a.value("reason", ""));
    } else if (name == "area:assign") {
      const std::string area = a.value("area", "");
      self.areas_[area] = a.value("epoch", 0ULL);
      if (self.on_area_assign) self.on_area_assign(area, a.value("epoch", 0ULL), take("a:" + area));
    } else if (name == "area:release") {
      const std::string area = a.value("area", "");
      self.areas_.erase(area);
      if (self.on_area_release) self.on_area_release(area);
    } else if (name == "player:export") {
      const std::string player = a.value("player", "");
      auto it = self.players_.find(player);
      reply(id, {{"snapshot", self.hooks.export_player(player)}, {"seq", it == self.players_.end() ? 0 : it->second.last_applied}});
    } else if (name == "player:import") {
      const std::string player = a.value("player", "");
      const Json snapshot = a.contains("snapshot") ? a["snapshot"] : Json();
      const bool ok = self.hooks.accept_player(player, a.value("area", ""), snapshot);
      if (ok) incoming["p:" + player] = snapshot;
      reply(id, {{"ok", ok}});
    } else if (name == "area:offer") {
      reply(id, {{"accept", self.hooks.offer(a)}});
    } else if (name == "area:export") {
      const std::string area = a.value("area", "");
      Json out = self.hooks.export_area(area);
      Json players = Json::object();
      for (const auto& [pid, p] : self.players_) {
        if (p.area != area) continue;
        const Json snap = out.contains("players") && out["players"].contains(pid) ? out["players"][pid] : Json();
        players[pid] = {{"snapshot", snap}, {"seq", p.last_applied}};
      }
      reply(id, {{"state", out.contains("state") ? out["state"] : Json()}, {"players", players}});
    } else if (name == "area:import") {
      const std::string area = a.value("area", "");
      const Json state = a.contains("state") ? a["state"] : Json();
      const bool ok = self.hooks.accept_area(area, state);
      if (ok) {
        incoming["a:" + area] = state;
        const Json players = a.value("players", Json::object());
        for (const auto& [pid, p] : players.items()) incoming["p:" + pid] = p.is_object() ? p.value("snapshot", Json()) : Json();
      }
      reply(id, {{"ok", ok}});
    } else if (name == "player:resume") {
      if (self.on_player_resume) self.on_player_resume(a.value("player", ""));
    } else if (name == "area:resume") {
      if (self.on_area_resume) self.on_area_resume(a.value("area", ""));
    } else if (name == "ghost") {
      if (self.on_ghost) self.on_ghost(a);
    } else if (name == "message") {
      if (self.on_message) self.on_message(a.value("from", ""), a.value("topic", ""), a.contains("payload") ? a["payload"] : Json());
    } else if (name == "rpc") {
      const std::string method = a.value("method", "");
      auto h = rpc_handlers.find(method);
      if (h == rpc_handlers.end()) return reply(id, {{"error", "no handler for " + method}});
      Json result = h->second(a.contains("payload") ? a["payload"] : Json(), a.value("from", ""));
      reply(id, {{"result", result}});
    }
  }

  void flush() {
    if (queue.empty() || !conn || !conn->connected()) return;
    for (std::size_t i = 0; i < queue.size(); i += 1024) {
      Json batch = Json::array();
      for (std::size_t j = i; j < std::min(queue.size(), i + 1024); ++j) batch.push_back(std::move(queue[j]));
      conn->emit("state", Json::array({std::move(batch)}));
    }
    queue.clear();
  }
};

GameServer::GameServer(GameServerOptions options) : impl_(std::make_unique<Impl>(*this)), options_(std::move(options)) {}

GameServer::~GameServer() = default;

void GameServer::connect() {
  impl_->stopped = false;
  impl_->retry_at = Clock::time_point{};
  if (!impl_->conn) impl_->open();
}

void GameServer::close() {
  impl_->stopped = true;
  if (impl_->conn) impl_->conn->close();
  impl_->conn.reset();
  impl_->gate.reset();
  status_ = "offline";
}

bool GameServer::connected() const {
  return impl_->conn && impl_->conn->connected();
}

void GameServer::wait(std::chrono::milliseconds max) {
  if (impl_->conn) impl_->conn->wait(max);
  else std::this_thread::sleep_for(std::min(max, std::chrono::duration_cast<std::chrono::milliseconds>(impl_->retry_at - Clock::now())));
}

std::size_t GameServer::held_events() const {
  return impl_->gate.holding();
}

void GameServer::poll() {
  Impl& d = *impl_;
  if (!d.conn) {
    if (!d.stopped && Clock::now() >= d.retry_at) d.open();
    return;
  }
  std::vector<ConnEvent> events;
  d.conn->poll(events);
  for (auto& e : events) {
    switch (e.kind) {
      case ConnEvent::Kind::Connected:
        break;
      case ConnEvent::Kind::Refused: {
        const std::string code = detail::refusal_code(e.args);
        if (code == "FENCED") d.forget();
        if (code == "BAD_SECRET" || code == "PROTOCOL_MISMATCH" || code == "BAD_HANDSHAKE") d.stopped = true;
        d.error(code, e.args.value("message", ""));
        break;
      }
      case ConnEvent::Kind::Event: {
        const std::string name = e.name;
        d.guarded(name, [&] { d.event(name, std::move(e.args), e.ack_id); });
        break;
      }
      case ConnEvent::Kind::Closed:
        status_ = "offline";
        d.drop_held();
        if (on_disconnect) on_disconnect(e.reason);
        d.retry();
        return;
    }
    if (!d.conn) return;
  }
  const bool ready_due = d.ready_again_at != Clock::time_point{} && Clock::now() >= d.ready_again_at;
  if (status_ == "syncing" && ready_due && connected()) d.send_ready();
  d.gate.tick();
  d.flush();
}

void GameServer::push_area(const std::string& area, Json data, const std::map<std::string, std::uint64_t>& acks) {
  auto it = areas_.find(area);
  if (it == areas_.end()) return;
  Json item = {{"kind", "area"}, {"area", area}, {"epoch", it->second}, {"data", std::move(data)}};
  Json owned = Json::object();
  for (const auto& [player, seq] : acks) {
    if (players_.count(player) > 0) owned[player] = seq;  // only our own players: the bridge refuses others
  }
  if (!owned.empty()) item["acks"] = owned;
  impl_->queue.push_back(std::move(item));
}

void GameServer::push_player(const std::string& player, Json data) {
  auto it = players_.find(player);
  if (it == players_.end()) return;
  impl_->queue.push_back({{"kind", "player"}, {"player", player}, {"epoch", it->second.epoch}, {"data", std::move(data)}});
}

void GameServer::push_all(Json data) {
  impl_->queue.push_back({{"kind", "all"}, {"data", std::move(data)}});
}

void GameServer::report_load(Json report) {
  if (connected()) impl_->conn->emit("load", Json::array({std::move(report)}));
}

void GameServer::snapshot(Json autosave) {
  if (connected()) impl_->conn->emit("snapshot", Json::array({std::move(autosave)}));
}

using detail::first_reply;

void GameServer::handoff(const std::string& player, const std::string& area, std::function<void(const Json&)> done) {
  if (!connected()) return first_reply(std::move(done), "handoff")(std::nullopt);
  impl_->conn->emit("handoff", Json::array({{{"player", player}, {"area", area}}}), first_reply(std::move(done), "handoff"), 10000);
}

void GameServer::drain(std::function<void(const Json&)> done) {
  if (!connected()) return first_reply(std::move(done), "drain")(std::nullopt);
  impl_->conn->emit("drain", Json::array(), first_reply(std::move(done), "drain"), 10000);
}

void GameServer::call(const std::string& to, const std::string& method, Json payload, int timeout_ms,
                      std::function<void(const Json&)> done) {
  if (!connected()) return first_reply(std::move(done), "rpc")(std::nullopt);
  Json req = {{"to", to}, {"method", method}, {"payload", std::move(payload)}, {"timeoutMs", timeout_ms}};
  impl_->conn->emit("rpc", Json::array({std::move(req)}), first_reply(std::move(done), "rpc"), timeout_ms + 1000);
}

void GameServer::handle(const std::string& method, std::function<Json(const Json&, const std::string&)> fn) {
  impl_->rpc_handlers[method] = std::move(fn);
}

void GameServer::send_message(const std::string& to, const std::string& topic, Json payload) {
  if (connected()) impl_->conn->emit("message", Json::array({{{"to", to}, {"topic", topic}, {"payload", std::move(payload)}}}));
}

void GameServer::chat(const std::string& channel, const std::string& text, std::function<void(const Json&)> done) {
  if (!connected()) return first_reply(std::move(done), "chat")(std::nullopt);
  impl_->conn->emit("chat", Json::array({{{"channel", channel}, {"text", text}}}), first_reply(std::move(done), "chat"));
}

void GameServer::watch(const std::vector<std::string>& areas) {
  for (const auto& a : areas) impl_->watching.insert(a);
  if (connected()) impl_->conn->emit("area:watch", Json::array({{{"areas", areas}}}));
}

}  // namespace meshbridge
