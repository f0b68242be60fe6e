// The Boost.Beast transport (include/meshbridge/transport.hpp). Every operation on the socket runs on
// the transport's own thread (one io_context, one thread: no strand needed); callers only post to it
// and read the event queue under a mutex. The destructor stops the io_context and joins the thread
// before anything it owns is destroyed, so no handler ever runs on a freed transport.
#include <chrono>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <optional>
#include <thread>

#include <boost/asio/connect.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/websocket.hpp>

#include "meshbridge/transport.hpp"

namespace meshbridge {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace ws = beast::websocket;
using tcp = asio::ip::tcp;

class WebSocketTransport final : public Transport {
 public:
  WebSocketTransport() : work_(asio::make_work_guard(io_)), thread_([this] { io_.run(); }) {}

  ~WebSocketTransport() override {
    work_.reset();
    io_.stop();
    thread_.join();
  }

  void connect(const std::string& url) override {
    asio::post(io_, [this, url] { start(url); });
  }

  void send(std::string frame, bool binary) override {
    asio::post(io_, [this, f = std::move(frame), binary]() mutable { queue(std::move(f), binary); });
  }

  void close() override {
    asio::post(io_, [this] {
      if (!open_) return finish("closed by the client");
      open_ = false;
      ws_->async_close(ws::close_code::normal, [this](beast::error_code) { finish("closed by the client"); });
    });
  }

  void take(std::vector<TransportEvent>& out) override {
    std::lock_guard<std::mutex> lock(mutex_);
    for (auto& e : events_) out.push_back(std::move(e));
    events_.clear();
  }

  void wait(std::chrono::milliseconds max) override {
    std::unique_lock<std::mutex> lock(mutex_);
    arrived_.wait_for(lock, max, [this] { return !events_.empty(); });
  }

 private:
  void push(TransportEvent::Kind kind, std::string data) {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      events_.push_back({kind, std::move(data)});
    }
    arrived_.notify_one();
  }

  /** Reports the end once, whatever ended it. */
  void finish(const std::string& why) {
    open_ = false;
    if (finished_) return;
    finished_ = true;
    push(TransportEvent::Kind::Closed, why);
  }

  void start(const std::string& url) {
    // ws://host:port/target (engine_url made it); wss is not built in: say so rather than fail oddly.
    if (url.rfind("ws://", 0) != 0) return finish("only ws:// URLs are supported by this transport");
    const std::string rest = url.substr(5);
    const std::size_t slash = rest.find('/');
    host_ = rest.substr(0, slash);
    target_ = slash == std::string::npos ? "/" : rest.substr(slash);
    const std::size_t colon = host_.rfind(':');
    const std::string name = host_.substr(0, colon);
    const std::string port = colon == std::string::npos ? "80" : host_.substr(colon + 1);
    ws_.emplace(io_);
    ws_->read_message_max(64u << 20);
    beast::get_lowest_layer(*ws_).expires_after(std::chrono::seconds(5));
    resolver_.async_resolve(name, port, [this](beast::error_code ec, tcp::resolver::results_type found) {
      if (ec) return finish("resolve: " + ec.message());
      beast::get_lowest_layer(*ws_).async_connect(found, [this](beast::error_code ec2, const tcp::endpoint&) {
        if (ec2) return finish("connect: " + ec2.message());
        beast::get_lowest_layer(*ws_).expires_never();
        ws_->set_option(ws::stream_base::timeout::suggested(beast::role_type::client));
        ws_->async_handshake(host_, target_, [this](beast::error_code ec3) {
          if (ec3) return finish("handshake: " + ec3.message());
          open_ = true;
          push(TransportEvent::Kind::Open, "");
          read();
          write_next();
        });
      });
    });
  }

  void read() {
    ws_->async_read(buffer_, [this](beast::error_code ec, std::size_t) {
      if (ec) return finish(ec == ws::error::closed ? "closed by the bridge" : "read: " + ec.message());
      std::string data = beast::buffers_to_string(buffer_.data());
      buffer_.consume(buffer_.size());
      const bool binary = ws_->got_binary();
      if (!binary && data == "2") queue("3", false);  // Engine.IO ping: answered here, whatever the game thread does
      else push(binary ? TransportEvent::Kind::Binary : TransportEvent::Kind::Text, std::move(data));
      read();
    });
  }

  void queue(std::string frame, bool binary) {
    if (finished_) return;
    outbox_.emplace_back(std::move(frame), binary);
    if (open_ && !writing_) write_next();
  }

  void write_next() {
    if (writing_ || outbox_.empty() || !open_) return;
    writing_ = true;
    ws_->binary(outbox_.front().second);
    ws_->async_write(asio::buffer(outbox_.front().first), [this](beast::error_code ec, std::size_t) {
      writing_ = false;
      outbox_.pop_front();
      if (ec) return finish("write: " + ec.message());
      write_next();
    });
  }

  asio::io_context io_;
  asio::executor_work_guard<asio::io_context::executor_type> work_;
  tcp::resolver resolver_{io_};
  std::optional<ws::stream<beast::tcp_stream>> ws_;
  beast::flat_buffer buffer_;
  std::deque<std::pair<std::string, bool>> outbox_;
  std::string host_, target_;
  bool open_ = false;
  bool writing_ = false;
  bool finished_ = false;
  std::mutex mutex_;
  std::condition_variable arrived_;
  std::vector<TransportEvent> events_;
  std::thread thread_;  // last: started once everything above exists
};

}  // namespace

std::unique_ptr<Transport> make_websocket_transport() {
  return std::make_unique<WebSocketTransport>();
}

}  // namespace meshbridge
