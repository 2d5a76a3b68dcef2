// The node-to-node pipe's configuration from the environment (media-node/src/node/config.ts, pipe-ports.ts):
// what `npm start`, the local stack and the EC2 host (install.sh: the private IPv4 from IMDS) set, and the
// clear refusals of a range or address the node could not use.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { configFromEnv } from '../../media-node/src/node/config';
import { DEFAULT_PIPE_PORTS, parsePortRange, splitPortRange } from '../../media-node/src/span/pipe-ports';

describe('MEDIA_PIPE_* → MediaNodeOptions.pipe', () => {
  test('unset: no pipe options (the node defaults to its listen IP and 45000-45999)', () => {
    assert.equal(configFromEnv({}).pipe, undefined);
    assert.deepEqual(DEFAULT_PIPE_PORTS, { min: 45000, max: 45999 });
  });

  test('the three variables, as the EC2 host writes them', () => {
    assert.deepEqual(
      configFromEnv({
        MEDIA_LISTEN_IP: '0.0.0.0',
        MEDIA_PIPE_LISTEN_IP: '10.40.3.7',
        MEDIA_PIPE_ANNOUNCED_ADDRESS: '10.40.3.7',
        MEDIA_PIPE_PORTS: '45000-45999',
      }).pipe,
      { listenIp: '10.40.3.7', announcedAddress: '10.40.3.7', portMin: 45000, portMax: 45999 },
    );
  });

  test('ports alone: the node listen IP (or loopback), no announced address', () => {
    assert.deepEqual(configFromEnv({ MEDIA_PIPE_PORTS: '45500-45999' }).pipe, {
      listenIp: '127.0.0.1',
      portMin: 45500,
      portMax: 45999,
    });
    assert.deepEqual(configFromEnv({ MEDIA_LISTEN_IP: '10.0.0.5', MEDIA_PIPE_PORTS: ' 46000 - 46000 ' }).pipe, {
      listenIp: '10.0.0.5',
      portMin: 46000,
      portMax: 46000,
    });
  });

  test('an address alone: the default range', () => {
    assert.deepEqual(
      configFromEnv({ MEDIA_PIPE_LISTEN_IP: '0.0.0.0', MEDIA_PIPE_ANNOUNCED_ADDRESS: '10.1.2.3' }).pipe,
      { listenIp: '0.0.0.0', announcedAddress: '10.1.2.3', portMin: 45000, portMax: 45999 },
    );
  });

  test('bad ranges are refused with a clear error naming the variable', () => {
    for (const raw of [
      '45000',
      '45000-',
      'a-b',
      '45999-45000',
      '80-90',
      '45000-70000',
      '45000:45999',
      '-1-5',
      '45000-45999-46000',
    ]) {
      assert.throws(
        () => configFromEnv({ MEDIA_PIPE_PORTS: raw }),
        (e: Error) =>
          /^config\.bad-value: MEDIA_PIPE_PORTS must be "min-max" with 1024 <= min <= max <= 65535/.test(e.message) &&
          e.message.includes(JSON.stringify(raw)),
        raw,
      );
    }
  });

  test('a range overlapping the WebRtcServer ports is refused', () => {
    assert.throws(
      () => configFromEnv({ MEDIA_RTC_PORT_BASE: '45000', MEDIA_WORKERS: '2', MEDIA_PIPE_PORTS: '44000-45000' }),
      /config\.bad-value: MEDIA_PIPE_PORTS 44000-45000 overlaps the WebRtcServer ports 45000-45001/,
    );
    assert.throws(
      () => configFromEnv({ MEDIA_RTC_PORT_BASE: '45999', MEDIA_PIPE_LISTEN_IP: '127.0.0.1' }),
      /overlaps the WebRtcServer ports 45999-45999/,
    );
    assert.equal(
      configFromEnv({ MEDIA_RTC_PORT_BASE: '40000', MEDIA_WORKERS: '2', MEDIA_PIPE_PORTS: '40002-40010' }).pipe
        ?.portMin,
      40002,
    );
    assert.equal(
      configFromEnv({ MEDIA_RTC_PORT_BASE: '0', MEDIA_PIPE_PORTS: '45000-45001' }).pipe?.portMin,
      45000,
      'ephemeral RTC ports collide with nothing',
    );
  });

  test('a listen IP that is not an IP, or a wildcard with nothing to announce, is refused', () => {
    assert.throws(
      () => configFromEnv({ MEDIA_PIPE_LISTEN_IP: 'node-1.local' }),
      /config\.bad-value: MEDIA_PIPE_LISTEN_IP must be an IP address/,
    );
    assert.throws(
      () => configFromEnv({ MEDIA_PIPE_LISTEN_IP: '0.0.0.0' }),
      /config\.missing-value: .*MEDIA_PIPE_ANNOUNCED_ADDRESS/,
    );
    assert.throws(
      () => configFromEnv({ MEDIA_LISTEN_IP: '0.0.0.0', MEDIA_PIPE_PORTS: '45000-45999' }),
      /MEDIA_PIPE_ANNOUNCED_ADDRESS/,
    );
  });
});

describe('pipe port ranges', () => {
  test('parsePortRange', () => {
    assert.deepEqual(parsePortRange('X', '1024-65535'), { min: 1024, max: 65535 });
    assert.throws(() => parsePortRange('X', '1023-2000'), /config\.bad-value: X .*out of range/);
  });

  test('splitPortRange: non-overlapping slices covering the range, in order', () => {
    assert.deepEqual(splitPortRange(DEFAULT_PIPE_PORTS, 1), [{ min: 45000, max: 45999 }]);
    assert.deepEqual(splitPortRange(DEFAULT_PIPE_PORTS, 2), [
      { min: 45000, max: 45499 },
      { min: 45500, max: 45999 },
    ]);
    assert.deepEqual(splitPortRange({ min: 10000, max: 10006 }, 3), [
      { min: 10000, max: 10002 },
      { min: 10003, max: 10004 },
      { min: 10005, max: 10006 },
    ]);
    assert.throws(() => splitPortRange({ min: 10000, max: 10001 }, 3), /cannot split/);
    assert.throws(() => splitPortRange(DEFAULT_PIPE_PORTS, 0), /cannot split/);
  });
});
