// Engine.IO v4 and Socket.IO v5 framing: what travels in one WebSocket frame, and back. Pure
// functions, no I/O: the transport carries frames, the client (client.hpp) speaks the protocol.
// Nothing here throws: a frame that is not a packet gives an error string instead.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

namespace meshbridge {

using Json = nlohmann::json;

/** Engine.IO packet types (the first character of a text frame). */
enum class EngineType : char { Open = '0', Close = '1', Ping = '2', Pong = '3', Message = '4', Upgrade = '5', Noop = '6' };

/** Socket.IO packet types (the first character inside an Engine.IO message). */
enum class PacketType : int { Connect = 0, Disconnect = 1, Event = 2, Ack = 3, ConnectError = 4, BinaryEvent = 5, BinaryAck = 6 };

struct Packet {
  PacketType type = PacketType::Event;
  std::string nsp = "/";
  /** The acknowledgement id: set on an event that wants an answer, and on that answer. */
  std::optional<std::uint64_t> id;
  /** Connect: auth or {sid}; Event: [name, args...]; Ack: [args...]; ConnectError: {message, data}. */
  Json data;
  /** Binary attachments still to come (binary types only); placeholders in `data` name them. */
  std::size_t attachments = 0;
};

template <typename T>
struct Decoded {
  std::optional<T> value;
  std::string error;
  explicit operator bool() const { return value.has_value(); }
};

/** Deepest JSON nesting a packet may have; deeper is refused (the bridge's own limit is 32). */
inline constexpr int kMaxJsonDepth = 64;

/** Decodes the Socket.IO packet inside an Engine.IO message (the text after the leading '4'). */
Decoded<Packet> decode_packet(std::string_view text);

/**
 * Encodes a packet as the text of an Engine.IO message (with its leading '4'). Binary values in `data`
 * (Json::binary) are replaced by placeholders and appended to `binaries`, in order: send them as
 * binary frames right after the text (the packet type becomes the binary one).
 */
std::string encode_packet(Packet packet, std::vector<std::string>& binaries);

/** Puts the attachments received after a binary packet back where its placeholders are. */
Decoded<Json> fill_placeholders(Json data, const std::vector<std::string>& attachments);

/** The Engine.IO open packet's fields the client needs. */
struct OpenInfo {
  std::string sid;
  int ping_interval_ms = 25000;
  int ping_timeout_ms = 20000;
  std::size_t max_payload = 1000000;
};
Decoded<OpenInfo> decode_open(std::string_view json);

/** The WebSocket URL of an Engine.IO endpoint for a bridge URL (http://h:p → ws://h:p/socket.io/?EIO=4&transport=websocket). */
Decoded<std::string> engine_url(std::string_view bridge_url);

}  // namespace meshbridge
