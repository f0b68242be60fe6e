#include "connection.hpp"

namespace meshbridge::detail {

Connection::Connection(std::unique_ptr<Transport> transport, std::string nsp, std::function<Json()> auth)
    : transport_(std::move(transport)), nsp_(std::move(nsp)), auth_(std::move(auth)) {}

Connection::~Connection() {
  if (!over_) transport_->close();
}

void Connection::start(const std::string& bridge_url) {
  last_heard_ = Clock::now();
  const auto url = engine_url(bridge_url);
  if (!url) {
    failed_ = url.error;
    return;
  }
  transport_->connect(*url.value);
}

void Connection::poll(std::vector<ConnEvent>& out) {
  if (over_) return;
  if (!failed_.empty()) return closed(failed_, out);
  std::vector<TransportEvent> events;
  transport_->take(events);
  for (auto& e : events) {
    if (over_) break;
    last_heard_ = Clock::now();
    switch (e.kind) {
      case TransportEvent::Kind::Open:
        break;
      case TransportEvent::Kind::Text:
        on_text(e.data, out);
        break;
      case TransportEvent::Kind::Binary:
        if (!partial_) break;  // an attachment nobody announced: ignored
        attachments_.push_back(std::move(e.data));
        if (attachments_.size() == partial_->attachments) {
          Packet p = std::move(*partial_);
          partial_.reset();
          auto filled = fill_placeholders(std::move(p.data), attachments_);
          attachments_.clear();
          if (!filled) return closed("bad binary packet: " + filled.error, out);
          p.data = std::move(*filled.value);
          p.attachments = 0;
          on_packet(std::move(p), out);
        }
        break;
      case TransportEvent::Kind::Closed:
        return closed(e.data, out);
    }
  }
  if (over_) return;
  const auto now = Clock::now();
  if (now - last_heard_ > silence_limit_) {
    transport_->close();
    return closed("ping timeout", out);
  }
  for (auto it = acks_.begin(); it != acks_.end();) {
    if (it->second.deadline <= now) {
      auto cb = std::move(it->second.callback);
      it = acks_.erase(it);
      cb(std::nullopt);
    } else {
      ++it;
    }
  }
}

void Connection::on_text(const std::string& frame, std::vector<ConnEvent>& out) {
  if (frame.empty()) return;
  switch (static_cast<EngineType>(frame[0])) {
    case EngineType::Open: {
      auto open = decode_open(std::string_view(frame).substr(1));
      if (!open) return closed("bad open packet: " + open.error, out);
      silence_limit_ = std::chrono::milliseconds(open.value->ping_interval_ms + open.value->ping_timeout_ms);
      Packet connect;
      connect.type = PacketType::Connect;
      connect.nsp = nsp_;
      connect.data = auth_();
      auth_sent_at_ = Clock::now();
      send_packet(std::move(connect));
      return;
    }
    case EngineType::Message: {
      auto p = decode_packet(std::string_view(frame).substr(1));
      if (!p) return closed("malformed packet from the bridge: " + p.error, out);
      if (p.value->attachments > 0) {
        partial_ = std::move(*p.value);
        attachments_.clear();
        return;
      }
      return on_packet(std::move(*p.value), out);
    }
    case EngineType::Close:
      transport_->close();
      return closed("closed by the bridge", out);
    default:
      return;  // pong, noop: only liveness
  }
}

void Connection::on_packet(Packet p, std::vector<ConnEvent>& out) {
  if (p.nsp != nsp_) return;
  switch (p.type) {
    case PacketType::Connect:
      connected_ = true;
      out.push_back({ConnEvent::Kind::Connected, "", p.data, std::nullopt, ""});
      return;
    case PacketType::ConnectError:
      out.push_back({ConnEvent::Kind::Refused, "", p.data, std::nullopt, ""});
      transport_->close();  // its Closed event follows
      return;
    case PacketType::Disconnect:
      transport_->close();
      return closed("io server disconnect", out);
    case PacketType::Event:
    case PacketType::BinaryEvent: {
      std::string name = p.data[0].get<std::string>();
      p.data.erase(p.data.begin());
      out.push_back({ConnEvent::Kind::Event, std::move(name), std::move(p.data), p.id, ""});
      return;
    }
    case PacketType::Ack:
    case PacketType::BinaryAck: {
      auto it = acks_.find(*p.id);
      if (it == acks_.end()) return;
      auto cb = std::move(it->second.callback);
      acks_.erase(it);
      cb(std::move(p.data));
      return;
    }
  }
}

void Connection::closed(const std::string& why, std::vector<ConnEvent>& out) {
  if (over_) return;
  over_ = true;
  connected_ = false;
  auto pending = std::move(acks_);
  acks_.clear();
  for (auto& [id, a] : pending) a.callback(std::nullopt);
  out.push_back({ConnEvent::Kind::Closed, "", nullptr, std::nullopt, why});
}

void Connection::emit(const std::string& event, Json args, AckCallback on_ack, int timeout_ms) {
  Packet p;
  p.type = PacketType::Event;
  p.nsp = nsp_;
  Json data = Json::array({event});
  if (args.is_array()) {
    for (auto& a : args) data.push_back(std::move(a));
  }
  p.data = std::move(data);
  if (on_ack) {
    if (!connected_) return on_ack(std::nullopt);
    p.id = next_id_++;
    acks_[*p.id] = {std::move(on_ack), Clock::now() + std::chrono::milliseconds(timeout_ms)};
  }
  if (connected_) send_packet(std::move(p));
}

void Connection::ack(std::uint64_t id, Json args) {
  Packet p;
  p.type = PacketType::Ack;
  p.nsp = nsp_;
  p.id = id;
  p.data = args.is_array() ? std::move(args) : Json::array({std::move(args)});
  if (connected_) send_packet(std::move(p));
}

void Connection::close() {
  if (!over_) transport_->close();
}

void Connection::send_packet(Packet p) {
  std::vector<std::string> binaries;
  transport_->send(encode_packet(std::move(p), binaries), false);
  for (auto& b : binaries) transport_->send(std::move(b), true);
}

}  // namespace meshbridge::detail
