// A C++ player on the player SDK: logs in with a token, sends {dx, dy} inputs at --hz for --seconds,
// then waits until every input is acknowledged and prints `ACK <ack> PENDING <pending>` (the
// conformance kit audits the servers' journals up to that ack). Exits 0 when nothing is pending.
//   bot --url http://127.0.0.1:8080[,…] --token <JWT> [--hz 20] [--seconds 10]
#include <chrono>
#include <cstdlib>
#include <iostream>
#include <map>
#include <random>
#include <sstream>
#include <string>
#include <thread>

#include "meshbridge/player_client.hpp"

int main(int argc, char** argv) {
  std::map<std::string, std::string> flags = {{"--hz", "20"}, {"--seconds", "10"}};
  for (int i = 1; i + 1 < argc; i += 2) flags[argv[i]] = argv[i + 1];
  if (flags["--url"].empty() || flags["--token"].empty()) {
    std::cerr << "usage: bot --url URLS --token JWT [--hz 20] [--seconds 10]\n";
    return 2;
  }
  meshbridge::PlayerClientOptions o;
  std::stringstream urls(flags["--url"]);
  for (std::string u; std::getline(urls, u, ',');) if (!u.empty()) o.urls.push_back(u);
  o.token = flags["--token"];
  meshbridge::PlayerClient bot(o);
  bool playing = false;
  bot.on_session = [&](const meshbridge::Json& s) {
    playing = true;
    std::cout << "SESSION " << s.value("player", "") << " on " << s.value("server", "") << " in " << s.value("area", "")
              << " via " << s.value("node", "") << " ack " << s.value("ack", 0ULL) << std::endl;
  };
  bot.on_error = [](const std::string& code, const std::string& message) { std::cerr << "error " << code << ": " << message << std::endl; };
  bot.on_disconnect = [](const std::string& why) { std::cout << "disconnected (" << why << ")" << std::endl; };
  bot.connect();
  using Clock = std::chrono::steady_clock;
  const auto every = std::chrono::microseconds(static_cast<long long>(1e6 / std::max(1.0, std::atof(flags["--hz"].c_str()))));
  const auto stop_at = Clock::now() + std::chrono::seconds(std::atoi(flags["--seconds"].c_str()));
  const auto connect_by = Clock::now() + std::chrono::seconds(15);
  std::mt19937 rng(std::random_device{}());
  std::uniform_real_distribution<double> step(-1, 1);
  auto next = Clock::now();
  while (Clock::now() < stop_at) {
    bot.poll();
    if (!playing && Clock::now() > connect_by) {
      std::cerr << "no session within 15 s" << std::endl;
      return 1;
    }
    // As a game does: it keeps playing while its connection is away; the SDK keeps and re-sends the inputs.
    if (playing && Clock::now() >= next) {
      next += every;
      bot.send({{"dx", step(rng)}, {"dy", step(rng)}});
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  const auto settle_by = Clock::now() + std::chrono::seconds(15);
  while (bot.pending() > 0 && Clock::now() < settle_by) {
    bot.poll();
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  std::cout << "ACK " << bot.ack() << " PENDING " << bot.pending() << std::endl;
  return bot.pending() == 0 ? 0 : 1;
}
