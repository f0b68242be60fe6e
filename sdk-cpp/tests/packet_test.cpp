// Engine.IO / Socket.IO framing: what the bridge sends decodes, what we send is what socket.io expects,
// and garbage never crashes or throws (a randomized run of 200,000 frames).
#include <random>

#include <catch2/catch.hpp>

#include "meshbridge/packet.hpp"

using meshbridge::Json;
using meshbridge::Packet;
using meshbridge::PacketType;

TEST_CASE("decodes events, acks with ids, namespaces and connect errors as socket.io sends them") {
  auto e = meshbridge::decode_packet(R"(2/server,["inputs",[{"player":"p","seq":3,"data":{"dx":1}}]])");
  REQUIRE(e);
  CHECK(e.value->type == PacketType::Event);
  CHECK(e.value->nsp == "/server");
  CHECK(!e.value->id);
  CHECK(e.value->data[1][0]["seq"] == 3);
  auto asked = meshbridge::decode_packet(R"(2/server,17["player:export",{"player":"p"}])");
  REQUIRE(asked);
  CHECK(*asked.value->id == 17);
  auto ack = meshbridge::decode_packet(R"(3/server,4[{"ok":true,"ms":1000}])");
  REQUIRE(ack);
  CHECK(ack.value->type == PacketType::Ack);
  CHECK(ack.value->data[0]["ms"] == 1000);
  auto refused = meshbridge::decode_packet(R"(4/server,{"message":"wrong","data":{"code":"BAD_SECRET"}})");
  REQUIRE(refused);
  CHECK(refused.value->data["data"]["code"] == "BAD_SECRET");
  auto root = meshbridge::decode_packet(R"(2["x",1])");
  REQUIRE(root);
  CHECK(root.value->nsp == "/");
}

TEST_CASE("encodes events and acks; binary values go out as attachments with placeholders") {
  std::vector<std::string> bins;
  Packet p;
  p.nsp = "/server";
  p.id = 5;
  p.data = Json::array({"handoff", {{"player", "p"}, {"area", "1,0"}}});
  CHECK(meshbridge::encode_packet(p, bins) == R"(42/server,5["handoff",{"area":"1,0","player":"p"}])");
  CHECK(bins.empty());
  Packet up;
  up.nsp = "/server";
  up.data = Json::array({"sync:put", {{"id", "c"}, {"data", Json::binary({1, 2, 3})}}});
  CHECK(meshbridge::encode_packet(up, bins) == R"(451-/server,["sync:put",{"data":{"_placeholder":true,"num":0},"id":"c"}])");
  REQUIRE(bins.size() == 1);
  CHECK(bins[0] == std::string("\x01\x02\x03", 3));
}

TEST_CASE("binary packets: placeholders are filled from the attachments, in order; a bad one is an error") {
  auto head = meshbridge::decode_packet(R"(61-/server,3[{"ok":true,"chunks":[{"id":"c","data":{"_placeholder":true,"num":0}}]}])");
  REQUIRE(head);
  CHECK(head.value->attachments == 1);
  auto filled = meshbridge::fill_placeholders(head.value->data, {std::string("ab")});
  REQUIRE(filled);
  CHECK((*filled.value)[0]["chunks"][0]["data"].is_binary());
  CHECK(!meshbridge::fill_placeholders(head.value->data, {}));
}

TEST_CASE("refuses what is no packet, with a reason") {
  for (const char* bad : {"", "9", "2/server,", "2/server,[1]", "3/server,[1]", "2/server,{\"a\":1}", "51/server,[\"x\"]",
                          "2/server,99999999999999999999[\"x\"]", "2/server,[\"x\",", "4/server,[]"}) {
    auto r = meshbridge::decode_packet(bad);
    CHECK_FALSE(r);
    CHECK_FALSE(r.error.empty());
  }
  std::string deep = "2[\"x\",";
  for (int i = 0; i < 100; ++i) deep += "[";
  CHECK_FALSE(meshbridge::decode_packet(deep));
}

TEST_CASE("the open packet and the bridge URL") {
  auto open = meshbridge::decode_open(R"({"sid":"abc","upgrades":[],"pingInterval":1000,"pingTimeout":2000,"maxPayload":1000000})");
  REQUIRE(open);
  CHECK(open.value->ping_interval_ms == 1000);
  CHECK(*meshbridge::engine_url("http://127.0.0.1:8080").value == "ws://127.0.0.1:8080/socket.io/?EIO=4&transport=websocket");
  CHECK(*meshbridge::engine_url("https://game.example/").value == "wss://game.example/socket.io/?EIO=4&transport=websocket");
  CHECK_FALSE(meshbridge::engine_url("ftp://x"));
}

TEST_CASE("garbage never crashes or throws: 200,000 random and mutated frames") {
  std::mt19937 rng(12345);
  const std::vector<std::string> seeds = {
      R"(2/server,["inputs",[{"player":"p","seq":3}]])", R"(3/server,4[{"ok":true}])", R"(61-/server,3[{"_placeholder":true,"num":0}])",
      R"(4/server,{"message":"m","data":{"code":"X"}})", R"(0/server,{"sid":"s"})"};
  const std::string alphabet = "0123456789[]{}\",:/-_placeholdernum\\ truefalsenull";
  std::size_t decoded = 0;
  for (int i = 0; i < 200000; ++i) {
    std::string s = seeds[rng() % seeds.size()];
    const int edits = 1 + static_cast<int>(rng() % 6);
    for (int k = 0; k < edits; ++k) {
      const std::size_t at = s.empty() ? 0 : rng() % s.size();
      switch (rng() % 3) {
        case 0: if (!s.empty()) s.erase(at, 1 + rng() % 3); break;
        case 1: s.insert(at, 1, alphabet[rng() % alphabet.size()]); break;
        default: if (!s.empty()) s[at] = static_cast<char>(rng() % 256); break;
      }
    }
    REQUIRE_NOTHROW([&] {
      auto r = meshbridge::decode_packet(s);
      if (r) {
        ++decoded;
        (void)meshbridge::fill_placeholders(r.value->data, {std::string("x")});
      }
      (void)meshbridge::decode_open(s);
    }());
  }
  CHECK(decoded > 0);  // positive control: the mutations leave some packets valid
}
