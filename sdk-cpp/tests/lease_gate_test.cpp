// The lease gate as a pure rule (the same cases as test/lease-gate.test.ts for the Node SDK).
#include <thread>

#include <catch2/catch.hpp>

#include "lease_gate.hpp"

using meshbridge::detail::LeaseGate;

TEST_CASE("within the window events run at once; past it they wait, in order, for an answer") {
  std::vector<std::function<void(long long)>> asks;
  LeaseGate gate([&](std::function<void(long long)> a) { asks.push_back(std::move(a)); });
  std::vector<int> ran;
  gate.confirmed(LeaseGate::Clock::now(), 40);
  gate.run([&] { ran.push_back(1); });
  CHECK(ran == std::vector<int>{1});
  std::this_thread::sleep_for(std::chrono::milliseconds(60));
  gate.run([&] { ran.push_back(2); });
  gate.run([&] { ran.push_back(3); });
  CHECK(ran == std::vector<int>{1});
  CHECK(gate.holding() == 2);
  REQUIRE(asks.size() == 1);
  asks[0](500);
  CHECK(ran == std::vector<int>{1, 2, 3});
}

TEST_CASE("the connection ends: held events are dropped, and a late answer changes nothing") {
  std::vector<std::function<void(long long)>> asks;
  LeaseGate gate([&](std::function<void(long long)> a) { asks.push_back(std::move(a)); });
  std::vector<int> ran;
  gate.run([&] { ran.push_back(1); });
  CHECK(gate.reset() == 1);
  asks[0](1000);
  CHECK(ran.empty());
  gate.confirmed(LeaseGate::Clock::now(), 1000);  // positive control: a new session's confirmation
  gate.run([&] { ran.push_back(2); });
  CHECK(ran == std::vector<int>{2});
}

TEST_CASE("an answer granting nothing keeps holding; no answer asks again") {
  std::vector<std::function<void(long long)>> asks;
  LeaseGate gate([&](std::function<void(long long)> a) { asks.push_back(std::move(a)); });
  std::vector<int> ran;
  gate.run([&] { ran.push_back(1); });
  asks[0](-1);
  CHECK(asks.size() == 2);
  asks[1](0);
  CHECK(ran.empty());
  std::this_thread::sleep_for(std::chrono::milliseconds(120));
  gate.tick();
  REQUIRE(asks.size() == 3);
  asks[2](1000);
  CHECK(ran == std::vector<int>{1});
}
