// The player SDK (include/meshbridge/player_client.hpp), the same rules as client-sdk/index.ts.
#include "meshbridge/player_client.hpp"

#include <algorithm>
#include <random>

#include "connection.hpp"

namespace meshbridge {

using detail::Clock;
using detail::ConnEvent;
using detail::Connection;

struct PlayerClient::Impl {
  PlayerClient& self;
  std::unique_ptr<Connection> conn;
  std::size_t url_index = 0;
  int attempts = 0;
  bool stopped = true;
  bool had_session = false;
  bool in_session = false;
  std::string last_status;
  Clock::time_point retry_at{};
  Clock::time_point ack_progress_at = Clock::now();
  /** A re-send under way: the next seq to send, tokens left (half the bridge's burst, refilled at half its rate). */
  std::uint64_t resend_from = 0;
  bool resending = false;
  double tokens = 0;
  Clock::time_point refilled_at{};
  double per_second = 120, burst = 240;
  std::map<std::string, std::string> chat_cursors;
  std::set<std::string> rooms;
  std::mt19937 random{std::random_device{}()};

  explicit Impl(PlayerClient& s) : self(s) {}

  std::uint64_t floor() const { return std::max(self.saved_, self.ack_ > self.held_inputs_ ? self.ack_ - self.held_inputs_ : 0); }

  void forget() {
    const std::uint64_t f = floor();
    while (!self.held_.empty() && self.held_.front().first <= f) self.held_.pop_front();
  }

  void acknowledge(std::uint64_t seq) {
    if (seq <= self.ack_ || seq >= self.next_seq_) return;  // never past what this client sent
    self.ack_ = seq;
    ack_progress_at = Clock::now();
    forget();
  }

  void note_saved(std::uint64_t seq) {
    if (seq <= self.saved_) return;
    self.saved_ = std::min(seq, self.ack_);
    forget();
  }

  Json auth() const {
    Json a = {{"token", self.options_.token}, {"saved", floor()}};
    if (had_session) a["ack"] = self.ack_;
    Json chat = Json::object();
    for (const auto& [channel, id] : chat_cursors) {
      const bool keep = channel == "global" || channel.rfind("whisper:", 0) == 0 || rooms.count(channel) > 0 ||
                        channel == "area:" + self.area_;
      if (keep) chat[channel] = id;
    }
    if (!chat.empty()) a["chat"] = chat;
    return a;
  }

  void open() {
    const auto& urls = self.options_.urls;
    auto transport = self.options_.make_transport ? self.options_.make_transport() : make_websocket_transport();
    conn = std::make_unique<Connection>(std::move(transport), "/client", [this] { return auth(); });
    conn->start(urls.empty() ? "" : urls[url_index % urls.size()]);
  }

  void retry() {
    conn.reset();
    in_session = false;
    if (stopped) return;
    ++url_index;
    std::uniform_real_distribution<double> jitter(0.5, 1.5);
    const double ms = std::min(2000.0, 50.0 * (1 << std::min(attempts++, 6))) * jitter(random);
    retry_at = Clock::now() + std::chrono::milliseconds(static_cast<int>(ms));
  }

  void resend_all() {
    ack_progress_at = Clock::now();
    if (self.held_.empty()) return;
    resend_from = self.held_.front().first;
    if (resending) return;
    resending = true;
    tokens = burst / 2;
    refilled_at = Clock::now();
  }

  /** One step of a re-send: as many kept inputs, oldest first, as the tokens allow. */
  void pump() {
    if (!resending || !in_session) return;
    const auto now = Clock::now();
    tokens = std::min(burst / 2, tokens + std::chrono::duration<double>(now - refilled_at).count() * per_second / 2);
    refilled_at = now;
    for (const auto& [seq, data] : self.held_) {
      if (seq < resend_from) continue;
      if (tokens < 1) return;
      tokens -= 1;
      conn->emit("input", Json::array({{{"seq", seq}, {"data", data}}}));
      resend_from = seq + 1;
    }
    resending = false;
  }

  void advance(const std::string& channel, const std::string& id) {
    auto it = chat_cursors.find(channel);
    const auto parts = [](const std::string& s) {
      const auto dash = s.find('-');
      return std::make_pair(std::stoull(s.substr(0, dash)), dash == std::string::npos ? 0ULL : std::stoull(s.substr(dash + 1)));
    };
    try {
      if (it == chat_cursors.end() || parts(id) > parts(it->second)) chat_cursors[channel] = id;
    } catch (const std::exception&) {
      // not an id of the form <ms>-<n>: not a cursor
    }
  }

  void event(const std::string& name, const Json& args) {
    const Json a = args.empty() ? Json() : args[0];
    if (name == "session") {
      attempts = 0;
      had_session = true;
      in_session = true;
      self.player_ = a.value("player", "");
      self.area_ = a.value("area", "");
      const std::uint64_t ack = a.value("ack", 0ULL);
      if (self.next_seq_ <= ack) self.next_seq_ = ack + 1;  // the bridge's word on where this player stands
      const Json limits = a.value("limits", Json::object());
      self.held_inputs_ = limits.value("heldInputs", 0ULL);
      per_second = limits.value("inputsPerSecond", 120.0);
      burst = limits.value("inputBurst", 240.0);
      acknowledge(ack);
      if (self.on_session) self.on_session(a);
      resend_all();
    } else if (name == "state") {
      if (a.contains("acks") && a["acks"].is_object() && a["acks"].contains(self.player_)) {
        acknowledge(a["acks"][self.player_].get<std::uint64_t>());
        if (a.contains("saved") && a["saved"].is_object() && a["saved"].contains(self.player_)) {
          note_saved(a["saved"][self.player_].get<std::uint64_t>());
        }
      }
      if (self.on_state) self.on_state(a);
    } else if (name == "authority") {
      self.area_ = a.value("area", self.area_);
      const std::string status = a.value("status", "");
      if (self.on_authority) self.on_authority(a);
      // transferring -> active held and replayed every input; any other active may have lost some in flight.
      if (status == "active" && last_status != "transferring") resend_all();
      last_status = status;
    } else if (name == "chat") {
      advance(a.value("channel", ""), a.value("id", ""));
      if (self.on_chat) self.on_chat(a);
    } else if (name == "chat:recovery") {
      for (const auto& c : a.value("channels", Json::array())) advance(c.value("channel", ""), c.value("last", ""));
    } else if (name == "error") {
      const std::string code = a.value("code", "");
      if (code == "SESSION_REPLACED") stopped = true;
      if (self.on_error) self.on_error(code, a.value("message", ""));
    }
  }

  void ask(const std::string& event, Json payload, std::function<void(const Json&)> done) {
    if (!conn || !conn->connected()) {
      if (done) done({{"ok", false}, {"code", "DISCONNECTED"}, {"message", "not connected"}});
      return;
    }
    conn->emit(event, Json::array({std::move(payload)}), detail::first_reply(std::move(done), event), 10000);
  }
};

PlayerClient::PlayerClient(PlayerClientOptions options) : impl_(std::make_unique<Impl>(*this)), options_(std::move(options)) {}

PlayerClient::~PlayerClient() = default;

void PlayerClient::connect() {
  impl_->stopped = false;
  if (!impl_->conn) impl_->open();
}

void PlayerClient::close() {
  impl_->stopped = true;
  if (impl_->conn) impl_->conn->close();
  impl_->conn.reset();
  impl_->in_session = false;
}

bool PlayerClient::connected() const {
  return impl_->in_session && impl_->conn && impl_->conn->connected();
}

std::uint64_t PlayerClient::send(Json data) {
  const std::uint64_t seq = next_seq_++;
  held_.emplace_back(seq, data);
  if (connected()) impl_->conn->emit("input", Json::array({{{"seq", seq}, {"data", std::move(data)}}}));
  return seq;
}

void PlayerClient::poll() {
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
        if (code == "BAD_TOKEN" || code == "PLAYER_MISMATCH" || code == "BAD_HANDSHAKE") d.stopped = true;
        if (on_error) on_error(code, e.args.value("message", ""));
        break;
      }
      case ConnEvent::Kind::Event:
        try {
          d.event(e.name, e.args);
        } catch (const std::exception& ex) {
          if (on_error) on_error("BAD_MESSAGE", "handling '" + e.name + "' failed: " + ex.what());
        }
        break;
      case ConnEvent::Kind::Closed:
        if (on_disconnect) on_disconnect(e.reason);
        d.retry();
        return;
    }
    if (!d.conn) return;
  }
  if (pending() > 0 && Clock::now() - d.ack_progress_at > std::chrono::milliseconds(options_.resend_after_ms)) d.resend_all();
  d.pump();
}

void PlayerClient::chat(const std::string& channel, const std::string& text, std::function<void(const Json&)> done) {
  impl_->ask("chat", {{"channel", channel}, {"text", text}}, std::move(done));
}

void PlayerClient::join(const std::string& room, std::function<void(const Json&)> done) {
  impl_->rooms.insert(room);
  impl_->ask("chat:join", {{"channel", room}}, std::move(done));
}

void PlayerClient::leave(const std::string& room, std::function<void(const Json&)> done) {
  impl_->rooms.erase(room);
  impl_->ask("chat:leave", {{"channel", room}}, std::move(done));
}

void PlayerClient::history(const std::string& channel, int limit, std::function<void(const Json&)> done) {
  impl_->ask("chat:history", {{"channel", channel}, {"limit", limit}}, std::move(done));
}

}  // namespace meshbridge
