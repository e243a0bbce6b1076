// The seed document 003's UDP server (构建UDP服务, 创建UDP服务器端), used as the gateway's fixed UDP target.
// Changes from the seed: it binds 127.0.0.1 on a free port (port 0) instead of 41234 on every interface, and
// exits after the number of messages given in argv.
const dgram = require("dgram");
const expected = Number(process.argv[2] || 1);
let received = 0;
const server = dgram.createSocket("udp4");
server.on("message", function (msg, rinfo) {
  console.log("server got: " + msg + " from " + rinfo.address + ":" + rinfo.port);
  if (++received >= expected) server.close();
});
server.on("listening", function () {
  const address = server.address();
  console.log("server listening " + address.address + ":" + address.port);
});
server.on("close", function () {
  console.log("server closed");
});
server.bind(0, "127.0.0.1");
