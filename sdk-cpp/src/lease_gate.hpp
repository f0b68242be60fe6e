// The lease gate (docs/protocol.md, "A frozen server"): what the bridge sends is acted on only
// while the server's lease is confirmed; outside, it waits in order for the next confirmation and
// is dropped with the connection. The same rule as gameserver-stub/sdk-lease.ts, on the game thread.
#pragma once

#include <algorithm>
#include <chrono>
#include <deque>
#include <functional>

namespace meshbridge::detail {

class LeaseGate {
 public:
  using Clock = std::chrono::steady_clock;
  /** Sends `lease`; the callback gets the answer's ms, or a negative value when none came. */
  using Ask = std::function<void(std::function<void(long long)>)>;

  explicit LeaseGate(Ask ask) : ask_(std::move(ask)) {}

  void run(std::function<void()> fn) {
    if (held_.empty() && Clock::now() < until_) return fn();
    held_.push_back(std::move(fn));
    confirm();
  }

  void confirmed(Clock::time_point sent_at, long long ms) {
    until_ = std::max(until_, sent_at + std::chrono::milliseconds(ms));
    while (!held_.empty() && Clock::now() < until_) {
      auto fn = std::move(held_.front());
      held_.pop_front();
      fn();
    }
    const long long again = held_.empty() ? std::clamp(ms / 2, 50LL, 1000LL) : (ms > 0 ? 0 : 100);
    next_ask_ = Clock::now() + std::chrono::milliseconds(again);
  }

  /** Asks again when it is time (called from poll()). */
  void tick() {
    if (!asking_ && Clock::now() >= next_ask_ && next_ask_ != Clock::time_point{}) confirm();
  }

  /** The connection ended: what is held is dropped unapplied. Returns how many. */
  std::size_t reset() {
    const std::size_t dropped = held_.size();
    held_.clear();
    until_ = Clock::time_point{};
    asking_ = false;
    next_ask_ = Clock::time_point{};
    ++generation_;
    return dropped;
  }

  std::size_t holding() const { return held_.size(); }

 private:
  void confirm() {
    if (asking_) return;
    asking_ = true;
    const auto generation = generation_;
    const auto sent_at = Clock::now();
    ask_([this, generation, sent_at](long long ms) {
      if (generation != generation_) return;
      asking_ = false;
      if (ms < 0) {
        if (!held_.empty()) confirm();
        return;
      }
      confirmed(sent_at, ms);
    });
  }

  Ask ask_;
  Clock::time_point until_{};
  Clock::time_point next_ask_{};
  std::deque<std::function<void()>> held_;
  bool asking_ = false;
  unsigned generation_ = 0;
};

}  // namespace meshbridge::detail
