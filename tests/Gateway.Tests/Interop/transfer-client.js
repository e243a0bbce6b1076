// The seed document 003's client.js for solution 3, run against the gateway. Changes from the seed:
// the port comes from argv, each decoded package is printed as JSON (with its serial number), and the
// client ends after its 18 replies instead of staying open.
const net = require("net");
const transfer = require('./transfer.js');
let rest = null;
let tsf = new transfer();
const port = Number(process.argv[2]);
const msg = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
let received = 0;
const client = net.connect({ port: port, host: '127.0.0.1' }, function () {
  console.log("client connected");
});
// 发送数据
for (let i = 0; i < 18; i++) {
  client.write(tsf.encode(msg));
}
client.on("data", function (chunk) {
  if(rest && rest.length > 0){
      chunk = Buffer.concat([rest, chunk]);
      rest = null;
  }
  while(chunk.length && tsf.getPackageLen(chunk) && tsf.getPackageLen(chunk) <= chunk.length){
      let packageLen = tsf.getPackageLen(chunk);
      const packageCon = chunk.slice(0, packageLen);
      chunk = chunk.slice(packageLen);
      const ret = tsf.decode(packageCon);
      console.log(JSON.stringify(ret));
      if (++received === 18) client.end();
  };
  chunk.length && (rest = chunk);
});
client.on("end", function () {
  console.log("client disconnected");
});
client.on("error", function (err) {
  console.error("client error: " + err.message);
  process.exitCode = 1;
});
