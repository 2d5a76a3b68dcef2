// The per-connection token bucket of $default (functions/handlers/message-rate-limit.ts), on a fake clock.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MessageRateLimiter, rateLimitFromEnv, DEFAULT_RATE_LIMIT } from '../../functions/handlers/message-rate-limit';

test('a burst passes, the first excess message is told, later ones are dropped silently', () => {
  const limiter = new MessageRateLimiter({ burst: 3, ratePerSecond: 1 });
  const verdicts = Array.from({ length: 6 }, () => limiter.take('c1', 1_000));
  assert.deepEqual(verdicts.slice(0, 3), [{ allowed: true }, { allowed: true }, { allowed: true }]);
  assert.deepEqual(
    verdicts.slice(3).map((v) => !v.allowed && [v.tell, v.dropped]),
    [
      [true, 1],
      [false, 2],
      [false, 3],
    ],
  );
  assert.ok(!verdicts[3]!.allowed && verdicts[3]!.retryAfterSeconds >= 1);
});

test('tokens refill at the sustained rate; a new run of drops is told again', () => {
  const limiter = new MessageRateLimiter({ burst: 2, ratePerSecond: 2 });
  limiter.take('c1', 0);
  limiter.take('c1', 0);
  assert.equal(limiter.take('c1', 0).allowed, false);
  assert.equal(limiter.take('c1', 499).allowed, false, 'less than one token after 499 ms at 2/s');
  assert.equal(limiter.take('c1', 1_000).allowed, true, 'refilled to the burst');
  assert.equal(limiter.take('c1', 1_000).allowed, true);
  const again = limiter.take('c1', 1_000);
  assert.ok(!again.allowed && again.tell, 'the next run is told once more');
});

test('connections are limited independently and the table is bounded', () => {
  const limiter = new MessageRateLimiter({ burst: 1, ratePerSecond: 1, maxTracked: 2 });
  assert.equal(limiter.take('a', 0).allowed, true);
  assert.equal(limiter.take('b', 0).allowed, true);
  assert.equal(limiter.take('a', 0).allowed, false);
  limiter.take('c', 0); // evicts the least recently used (b)
  assert.equal(limiter.tracked, 2);
  assert.equal(limiter.take('b', 0).allowed, true, 'b was forgotten, so it starts with a full bucket');
});

test('settings from the environment, defaults sized for a join into a full channel', () => {
  assert.deepEqual(rateLimitFromEnv({}), DEFAULT_RATE_LIMIT);
  assert.ok(DEFAULT_RATE_LIMIT.burst > 100, 'a joiner of a 100-member channel resumes 99 consumers at once');
  assert.equal(rateLimitFromEnv({ VOICE_RATE_BURST: '5', VOICE_RATE_PER_SECOND: '0.5' }).ratePerSecond, 0.5);
  assert.throws(() => rateLimitFromEnv({ VOICE_RATE_BURST: '0' }), /VOICE_RATE_BURST/);
});
