// Run inside a lab namespace (ip netns exec …): tries the rungs against the host's probe servers and prints JSON.
// argv: host udpPort udpPort2 tcpPort tcp443Port lossCount
import { createSocket } from 'node:dgram';
import { connect } from 'node:net';

const [host, udpPort, udpPort2, tcpPort, tcp443Port, lossCount] = process.argv.slice(2);

function udpAsk(socket, port, payload, waitMs = 800) {
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      socket.off('message', on);
      resolve(undefined);
    }, waitMs);
    const on = (msg) => {
      const text = msg.toString();
      if (!text.startsWith(payload + ' ')) return;
      clearTimeout(timer);
      socket.off('message', on);
      resolve(text.slice(payload.length + 1));
    };
    socket.on('message', on);
    socket.send(payload, Number(port), host);
  });
}

function tcpAsk(port) {
  return new Promise((resolve) => {
    const s = connect({ host, port: Number(port) });
    const timer = setTimeout(() => {
      s.destroy();
      resolve(undefined);
    }, 1500);
    let data = '';
    s.on('data', (d) => {
      data += d;
    });
    s.on('end', () => {
      clearTimeout(timer);
      resolve(data);
    });
    s.on('error', () => {
      clearTimeout(timer);
      resolve(undefined);
    });
  });
}

const socket = createSocket('udp4');
await new Promise((r) => socket.bind(0, r));
const local = socket.address().port;
const seenA = await udpAsk(socket, udpPort, 'a');
const seenB = await udpAsk(socket, udpPort2, 'b');
let echoed = 0;
const count = Number(lossCount);
if (count > 0 && seenA !== undefined) {
  let got = 0;
  socket.on('message', (m) => {
    if (m.toString().startsWith('n')) got++;
  });
  for (let i = 0; i < count; i++) {
    socket.send(`n${i}`, Number(udpPort), host);
    if (i % 20 === 19) await new Promise((r) => setTimeout(r, 5));
  }
  await new Promise((r) => setTimeout(r, 500));
  echoed = got;
}
socket.close();
const tcp = await tcpAsk(tcpPort);
const tcp443 = await tcpAsk(tcp443Port);
console.log(
  JSON.stringify({ localUdpPort: local, udpSeenA: seenA, udpSeenB: seenB, echoed, sent: count, tcp, tcp443 }),
);
