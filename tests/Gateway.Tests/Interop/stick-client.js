// The seed document 003's client.js for the stick module, run against the gateway. Changes from the
// seed: the port comes from argv; what the gateway sends back is decoded with a second StackBuffer
// (putData/onMsgRecv, as the seed's server.js does) and printed; the client ends after the first reply.
const net = require('net');
const StackBuffer = require('./stackBuffer');
const stick = new StackBuffer(128);
const msg = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
const port = Number(process.argv[2]);
const client = net.createConnection({ port: port, host: '127.0.0.1' }, function () {
    for (let i = 0; i < 18; i++) {
        client.write(stick.publishMsg(msg))
      }
    console.log('sent 18');
});

const replies = new StackBuffer(128);
client.on('data', data => replies.putData(data));
replies.onMsgRecv(data => {
    console.log('recv data: ' + data.toString());
    client.end();
});
client.on('end', function () {
    console.log('disconnect from server');
});
client.on('error', function (err) {
    console.error('client error: ' + err.message);
    process.exitCode = 1;
});
