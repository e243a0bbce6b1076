// The seed document 003's UDP client (构建UDP服务, 创建UDP客户端), run against the gateway. Changes from the
// seed: the port comes from argv; Buffer.from without `new`; the client waits for the gateway's echo (a
// 'message' event carrying the sender's address, printed as the seed's server prints it) before it closes,
// and gives up after 10 seconds.
const dgram = require("dgram");
const message = Buffer.from("学习Node.js网络编程");
const port = Number(process.argv[2]);
const client = dgram.createSocket("udp4");
const giveUp = setTimeout(function () {
  console.error("no reply within 10 s");
  process.exitCode = 1;
  client.close();
}, 10000);
client.on("message", function (msg, rinfo) {
  console.log("client got: " + msg + " from " + rinfo.address + ":" + rinfo.port);
  client.close();
});
client.on("close", function () {
  clearTimeout(giveUp);
  console.log("client closed");
});
client.on("error", function (err) {
  console.error("client error: " + err.message);
  process.exitCode = 1;
  client.close();
});
client.send(message, 0, message.length, port, "localhost", function (err, bytes) {
  if (err) throw err;
  console.log("sent " + bytes + " bytes");
});
