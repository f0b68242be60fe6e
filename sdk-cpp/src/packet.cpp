// Engine.IO v4 / Socket.IO v5 framing (see include/meshbridge/packet.hpp).
#include "meshbridge/packet.hpp"

#include <cctype>

namespace meshbridge {
namespace {

/** Nesting depth of a JSON text, counting brackets outside strings: refused before parsing, so no deep recursion. */
bool too_deep(std::string_view s) {
  int depth = 0;
  bool in_string = false;
  for (std::size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    if (in_string) {
      if (c == '\\') ++i;
      else if (c == '"') in_string = false;
    } else if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      if (++depth > kMaxJsonDepth) return true;
    } else if (c == ']' || c == '}') {
      --depth;
    }
  }
  return false;
}

Decoded<Json> parse_json(std::string_view s) {
  if (too_deep(s)) return {std::nullopt, "JSON nested deeper than " + std::to_string(kMaxJsonDepth)};
  Json j = Json::parse(s.begin(), s.end(), nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return {std::nullopt, "malformed JSON"};
  return {std::move(j), ""};
}

/** Reads decimal digits at `pos`; none: nullopt. Values past 2^53 are refused (JSON numbers beyond are inexact). */
std::optional<std::uint64_t> read_number(std::string_view s, std::size_t& pos) {
  const std::size_t start = pos;
  std::uint64_t v = 0;
  while (pos < s.size() && std::isdigit(static_cast<unsigned char>(s[pos]))) {
    if (pos - start >= 16) return std::nullopt;
    v = v * 10 + static_cast<std::uint64_t>(s[pos] - '0');
    ++pos;
  }
  if (pos == start || v > (std::uint64_t{1} << 53)) return std::nullopt;
  return v;
}

void extract_binaries(Json& j, std::vector<std::string>& out) {
  if (j.is_binary()) {
    const auto& bin = j.get_binary();
    out.emplace_back(bin.begin(), bin.end());
    j = Json{{"_placeholder", true}, {"num", out.size() - 1}};
  } else if (j.is_array() || j.is_object()) {
    for (auto& v : j) extract_binaries(v, out);
  }
}

bool fill(Json& j, const std::vector<std::string>& attachments, std::string& error) {
  if (j.is_object() && j.size() == 2 && j.contains("_placeholder") && j.contains("num")) {
    const Json& num = j["num"];
    if (!j["_placeholder"].is_boolean() || !num.is_number_unsigned() || num.get<std::size_t>() >= attachments.size()) {
      error = "bad attachment placeholder";
      return false;
    }
    const std::string& a = attachments[num.get<std::size_t>()];
    j = Json::binary(Json::binary_t::container_type(a.begin(), a.end()));
    return true;
  }
  if (j.is_array() || j.is_object()) {
    for (auto& v : j) {
      if (!fill(v, attachments, error)) return false;
    }
  }
  return true;
}

}  // namespace

Decoded<Packet> decode_packet(std::string_view s) {
  if (s.empty()) return {std::nullopt, "empty packet"};
  const char t = s[0];
  if (t < '0' || t > '6') return {std::nullopt, std::string("unknown packet type '") + t + "'"};
  Packet p;
  p.type = static_cast<PacketType>(t - '0');
  std::size_t pos = 1;
  if (p.type == PacketType::BinaryEvent || p.type == PacketType::BinaryAck) {
    const auto n = read_number(s, pos);
    if (!n || pos >= s.size() || s[pos] != '-' || *n > 1000) return {std::nullopt, "bad attachment count"};
    p.attachments = static_cast<std::size_t>(*n);
    ++pos;
  }
  if (pos < s.size() && s[pos] == '/') {
    const std::size_t comma = s.find(',', pos);
    const std::size_t end = comma == std::string_view::npos ? s.size() : comma;
    p.nsp = std::string(s.substr(pos, end - pos));
    pos = comma == std::string_view::npos ? s.size() : comma + 1;
  }
  if (pos < s.size() && std::isdigit(static_cast<unsigned char>(s[pos]))) {
    p.id = read_number(s, pos);
    if (!p.id) return {std::nullopt, "bad acknowledgement id"};
  }
  if (pos < s.size()) {
    auto json = parse_json(s.substr(pos));
    if (!json) return {std::nullopt, json.error};
    p.data = std::move(*json.value);
  }
  switch (p.type) {
    case PacketType::Event:
    case PacketType::BinaryEvent:
      if (!p.data.is_array() || p.data.empty() || !p.data[0].is_string()) return {std::nullopt, "an event must be [name, ...]"};
      break;
    case PacketType::Ack:
    case PacketType::BinaryAck:
      if (!p.id || !p.data.is_array()) return {std::nullopt, "an ack must have an id and an array"};
      break;
    case PacketType::ConnectError:
      if (!p.data.is_object()) return {std::nullopt, "a connect error must be an object"};
      break;
    default:
      break;
  }
  return {std::move(p), ""};
}

std::string encode_packet(Packet p, std::vector<std::string>& binaries) {
  const std::size_t before = binaries.size();
  extract_binaries(p.data, binaries);
  const std::size_t n = binaries.size() - before;
  if (n > 0 && p.type == PacketType::Event) p.type = PacketType::BinaryEvent;
  if (n > 0 && p.type == PacketType::Ack) p.type = PacketType::BinaryAck;
  std::string out = "4";
  out += static_cast<char>('0' + static_cast<int>(p.type));
  if (n > 0) out += std::to_string(n) + "-";
  if (p.nsp != "/") out += p.nsp + ",";
  if (p.id) out += std::to_string(*p.id);
  if (!p.data.is_null()) out += p.data.dump(-1, ' ', false, Json::error_handler_t::replace);
  return out;
}

Decoded<Json> fill_placeholders(Json data, const std::vector<std::string>& attachments) {
  std::string error;
  if (!fill(data, attachments, error)) return {std::nullopt, error};
  return {std::move(data), ""};
}

Decoded<OpenInfo> decode_open(std::string_view s) {
  auto json = parse_json(s);
  if (!json) return {std::nullopt, json.error};
  const Json& j = *json.value;
  if (!j.is_object() || !j.contains("sid") || !j["sid"].is_string()) return {std::nullopt, "an open packet needs a sid"};
  OpenInfo o;
  o.sid = j["sid"].get<std::string>();
  if (j.contains("pingInterval") && j["pingInterval"].is_number_unsigned()) o.ping_interval_ms = j["pingInterval"].get<int>();
  if (j.contains("pingTimeout") && j["pingTimeout"].is_number_unsigned()) o.ping_timeout_ms = j["pingTimeout"].get<int>();
  if (j.contains("maxPayload") && j["maxPayload"].is_number_unsigned()) o.max_payload = j["maxPayload"].get<std::size_t>();
  return {o, ""};
}

Decoded<std::string> engine_url(std::string_view url) {
  std::string scheme;
  std::size_t rest = 0;
  if (url.rfind("http://", 0) == 0) { scheme = "ws://"; rest = 7; }
  else if (url.rfind("ws://", 0) == 0) { scheme = "ws://"; rest = 5; }
  else if (url.rfind("https://", 0) == 0) { scheme = "wss://"; rest = 8; }
  else if (url.rfind("wss://", 0) == 0) { scheme = "wss://"; rest = 6; }
  else return {std::nullopt, "a bridge URL starts with http://, https://, ws:// or wss://"};
  std::string host(url.substr(rest));
  while (!host.empty() && host.back() == '/') host.pop_back();
  if (host.empty() || host.find('/') != std::string::npos) return {std::nullopt, "a bridge URL is scheme://host[:port]"};
  return {scheme + host + "/socket.io/?EIO=4&transport=websocket", ""};
}

}  // namespace meshbridge
