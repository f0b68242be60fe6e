// The Node reference server's game (gameserver-stub/reference-server.ts), in C++ on the SDK: players
// move by inputs ({dx, dy}, kept inside their area), each owned area's state is pushed every tick
// with the players' acks, load is reported every second, autosaves every --snapshot-ms, and with
// --journal every applied input and attach is appended to a file (the conformance kit audits it).
// SIGTERM or SIGINT drains, then exits 0. Same flags as `npm run stub`; the secret comes from
// MESHBRIDGE_NETWORK_SECRET.
#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <map>
#include <sstream>
#include <string>
#include <thread>

#include <fcntl.h>
#include <unistd.h>

#include "meshbridge/game_server.hpp"

namespace {

volatile std::sig_atomic_t g_stop = 0;
void on_signal(int) { g_stop = 1; }

struct Pos {
  double x = 0, y = 0;
};

/** Appends lines unbuffered (write(2) per line): a kill -9 loses none. */
class Journal {
 public:
  explicit Journal(const std::string& path) : fd_(path.empty() ? -1 : ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644)) {}
  ~Journal() { if (fd_ >= 0) ::close(fd_); }
  void line(const std::string& s) {
    if (fd_ < 0) return;
    const std::string l = s + "\n";
    if (::write(fd_, l.data(), l.size()) < 0) std::perror("journal");
  }
 private:
  int fd_;
};

std::string now_ms() {
  const auto t = std::chrono::system_clock::now().time_since_epoch();
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.3f", std::chrono::duration<double, std::milli>(t).count());
  return buf;
}

const char* kUsage = R"(usage: reference-server --id <server id> [options]
  --id ID            this server's id (required)
  --url URLS         bridge URL, or several separated by commas to fail over (default http://127.0.0.1:8080)
  --power N          how much work this server can do (default 1)
  --tick HZ          simulation ticks per second (default 10)
  --snapshot-ms MS   autosave period, 0 = off (default 1000)
  --journal FILE     append every applied input and attach to FILE
  --echo             answer every input at once with a player item (benchmarks)
environment: MESHBRIDGE_NETWORK_SECRET (required; or this server's own key))";

}  // namespace

int main(int argc, char** argv) {
  std::map<std::string, std::string> flags = {{"--url", "http://127.0.0.1:8080"}, {"--power", "1"}, {"--tick", "10"},
                                              {"--snapshot-ms", "1000"}};
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "-h" || a == "--help") { std::cout << kUsage << "\n"; return 0; }
    if (a == "--echo") { flags[a] = "1"; continue; }
    if (i + 1 >= argc || a.rfind("--", 0) != 0) { std::cerr << "reference-server: bad argument " << a << "\n" << kUsage << "\n"; return 2; }
    flags[a] = argv[++i];
  }
  const char* secret = std::getenv("MESHBRIDGE_NETWORK_SECRET");
  if (flags["--id"].empty() || !secret) {
    std::cerr << "reference-server: --id and MESHBRIDGE_NETWORK_SECRET are required\n" << kUsage << "\n";
    return 2;
  }
  const std::string id = flags["--id"];
  const double tick_hz = std::max(1.0, std::atof(flags["--tick"].c_str()));
  const int snapshot_ms = std::atoi(flags["--snapshot-ms"].c_str());
  const double area_size = 100, speed = 1;
  const bool echo = flags.count("--echo") > 0;

  meshbridge::GameServerOptions opts;
  std::stringstream urls(flags["--url"]);
  for (std::string u; std::getline(urls, u, ',');) if (!u.empty()) opts.urls.push_back(u);
  opts.server_id = id;
  opts.secret = secret;
  opts.power = std::atof(flags["--power"].c_str());
  meshbridge::GameServer server(opts);
  Journal journal(flags.count("--journal") ? flags["--journal"] : "");
  std::map<std::string, Pos> positions;

  const auto origin = [&](const std::string& area) {
    const auto comma = area.find(',');
    return Pos{std::atof(area.substr(0, comma).c_str()) * area_size, std::atof(area.substr(comma + 1).c_str()) * area_size};
  };
  const auto keep_inside = [&](const std::string& player, const std::string& area) {
    auto it = positions.find(player);
    if (it == positions.end()) return;
    const Pos o = origin(area);
    it->second.x = std::clamp(it->second.x, o.x, o.x + area_size - 1e-6);
    it->second.y = std::clamp(it->second.y, o.y, o.y + area_size - 1e-6);
  };
  const auto saved_pos = [](const meshbridge::Json& s, Pos& out) {
    if (!s.is_object() || !s.contains("x") || !s.contains("y") || !s["x"].is_number() || !s["y"].is_number()) return false;
    out = {s["x"].get<double>(), s["y"].get<double>()};
    return true;
  };

  server.hooks.export_player = [&](const std::string& player) -> meshbridge::Json {
    auto it = positions.find(player);
    if (it == positions.end()) return nullptr;
    return {{"x", it->second.x}, {"y", it->second.y}};
  };
  server.hooks.export_area = [&](const std::string& area) -> meshbridge::Json {
    meshbridge::Json players = meshbridge::Json::object();
    for (const auto& [pid, p] : server.players()) {
      if (p.area == area && positions.count(pid)) players[pid] = {{"x", positions[pid].x}, {"y", positions[pid].y}};
    }
    return {{"state", {{"players", players.size()}}}, {"players", players}};
  };
  server.on_attach = [&](const meshbridge::Json& a) {
    const std::string player = a.value("player", "");
    journal.line("A " + now_ms() + " " + id + " " + player + " " + std::to_string(a.value("seq", 0ULL)) + " " +
                 (a.value("resync", false) ? "1" : "0"));
    Pos p;
    if (a.contains("snapshot") && saved_pos(a["snapshot"], p)) positions[player] = p;
    else if (!positions.count(player)) {
      const Pos o = origin(a.value("area", "0,0"));
      positions[player] = {o.x + area_size / 2, o.y + area_size / 2};
    }
    keep_inside(player, a.value("area", "0,0"));
  };
  server.on_detach = [&](const std::string& player, const std::string&) { positions.erase(player); };
  server.on_input = [&](const std::string& player, std::uint64_t seq, const meshbridge::Json& data) {
    journal.line("I " + now_ms() + " " + id + " " + player + " " + std::to_string(seq));
    if (echo) server.push_player(player, {{"seq", seq}, {"data", data}});
    auto it = positions.find(player);
    auto owned = server.players().find(player);
    if (it == positions.end() || owned == server.players().end() || !data.is_object()) return;
    if (data.contains("dx") && data["dx"].is_number()) it->second.x += std::clamp(data["dx"].get<double>(), -1.0, 1.0) * speed;
    if (data.contains("dy") && data["dy"].is_number()) it->second.y += std::clamp(data["dy"].get<double>(), -1.0, 1.0) * speed;
    keep_inside(player, owned->second.area);
  };
  server.on_stale = [&](std::size_t dropped) {
    journal.line("S " + now_ms() + " " + id + " " + std::to_string(dropped));
    std::cout << id << ": " << dropped << " events arrived while the lease was unconfirmed; dropped, not applied" << std::endl;
  };
  server.on_welcome = [&](const meshbridge::Json& w) {
    std::cout << id << ": session " << w.value("epoch", 0ULL) << " on " << w.value("node", "") << std::endl;
  };
  bool registered = false;
  server.on_ready = [&] {
    if (!registered) std::cout << id << ": registered with " << flags["--url"] << std::endl;
    registered = true;
  };
  server.on_error = [&](const std::string& code, const std::string& message) {
    std::cerr << id << ": bridge error " << code << ": " << message << std::endl;
  };
  server.on_disconnect = [&](const std::string& why) { std::cout << id << ": disconnected (" << why << ")" << std::endl; };
  bool drained = false;
  server.on_drained = [&] { drained = true; };
  server.handle("playersNear", [&](const meshbridge::Json& q, const std::string&) {
    meshbridge::Json out = meshbridge::Json::array();
    const double x = q.value("x", 0.0), y = q.value("y", 0.0), reach = q.value("reach", 0.0);
    for (const auto& [pid, p] : positions) {
      if (std::hypot(p.x - x, p.y - y) <= reach) out.push_back({{"id", pid}, {"x", p.x}, {"y", p.y}});
    }
    return out;
  });

  std::signal(SIGTERM, on_signal);
  std::signal(SIGINT, on_signal);
  server.connect();
  using Clock = std::chrono::steady_clock;
  const auto tick_every = std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(1.0 / tick_hz));
  auto next_tick = Clock::now(), next_load = Clock::now(), next_save = Clock::now();
  std::uint64_t ticks = 0;
  bool draining = false;
  while (!drained) {
    server.poll();
    const auto now = Clock::now();
    if (g_stop && !draining && registered) {
      draining = true;
      std::cout << id << ": draining" << std::endl;
      server.drain([&](const meshbridge::Json& r) {
        if (!r.value("ok", false)) { std::cerr << id << ": drain refused: " << r.dump() << std::endl; std::exit(1); }
      });
    }
    if (g_stop && !registered) return 0;
    if (registered && !echo && now >= next_tick) {
      next_tick += tick_every;
      ++ticks;
      std::map<std::string, meshbridge::Json> rows;
      std::map<std::string, std::map<std::string, std::uint64_t>> acks;
      for (const auto& [pid, p] : server.players()) {
        auto it = positions.find(pid);
        if (it == positions.end()) continue;
        rows[p.area].push_back({{"id", pid}, {"x", it->second.x}, {"y", it->second.y}, {"seq", p.last_applied}});
        acks[p.area][pid] = p.last_applied;
      }
      for (const auto& [area, epoch] : server.areas()) {
        (void)epoch;
        server.push_area(area, {{"tick", ticks}, {"players", rows.count(area) ? rows[area] : meshbridge::Json::array()}}, acks[area]);
      }
    }
    if (registered && now >= next_load) {
      next_load = now + std::chrono::seconds(1);
      meshbridge::Json areas = meshbridge::Json::object();
      for (const auto& [area, epoch] : server.areas()) { (void)epoch; areas[area] = {{"players", 0}}; }
      for (const auto& [pid, p] : server.players()) {
        if (areas.contains(p.area)) areas[p.area]["players"] = areas[p.area]["players"].get<int>() + 1;
      }
      server.report_load({{"areas", areas}});
    }
    if (registered && snapshot_ms > 0 && now >= next_save) {
      next_save = now + std::chrono::milliseconds(snapshot_ms);
      meshbridge::Json areas = meshbridge::Json::object(), players = meshbridge::Json::object();
      for (const auto& [area, epoch] : server.areas()) { (void)epoch; areas[area] = {{"players", 0}}; }
      for (const auto& [pid, p] : server.players()) {
        auto it = positions.find(pid);
        if (it != positions.end()) players[pid] = {{"snapshot", {{"x", it->second.x}, {"y", it->second.y}}}, {"seq", p.last_applied}};
      }
      server.snapshot({{"areas", areas}, {"players", players}});
    }
    // Idle until the bridge sends something or the next tick is due (at most 5 ms: signals are checked here).
    const auto due = std::min({next_tick, next_load, next_save, now + std::chrono::milliseconds(5)});
    server.wait(std::chrono::duration_cast<std::chrono::milliseconds>(std::max(due - Clock::now(), Clock::duration::zero())));
  }
  server.poll();  // sends what is queued
  std::cout << id << ": drained" << std::endl;
  return 0;
}
