// Media node process: `tsx media-node/main.ts`, configured from the environment.
// Prints {"msg":"media-node.ready","grpc":...,"metrics":...} once serving; drains on SIGTERM.
import { configFromEnv } from './src/node/config';
import { createLogger } from '../lib/log';
import { startMediaNode } from './src/node/media-node';
import { autoScalingProtection, ScaleInProtection } from './src/node/scale-in-protection';

const options = configFromEnv();
const logger = createLogger({ level: options.logLevel ?? 'info' });

process.on('uncaughtException', (error) => {
  logger.error('media-node.uncaught-exception', { error, stack: error.stack });
  process.exit(1);
});
process.on('unhandledRejection', (error) => {
  logger.error('media-node.unhandled-rejection', { error });
  process.exit(1);
});

try {
  const node = await startMediaNode({ ...options, logger });
  // On EC2 (install.sh sets both): scale-in protection while the node hosts rooms.
  const instanceId = process.env.MEDIA_INSTANCE_ID;
  const groupName = process.env.MEDIA_AUTOSCALING_GROUP;
  const protection =
    instanceId && groupName
      ? new ScaleInProtection(autoScalingProtection({ instanceId, autoScalingGroupName: groupName }), logger)
      : undefined;
  const syncProtection = () => protection?.update({ rooms: node.load().rooms, draining: node.state() !== 'active' });
  if (protection) {
    void syncProtection();
    setInterval(syncProtection, 5_000).unref();
  }
  let signals = 0;
  const onSignal = (signal: NodeJS.Signals) => {
    signals++;
    if (signals > 1) {
      // A second signal: stop waiting for rooms to empty.
      logger.warn('media-node.forced-exit', { signal });
      node.rooms.closeAll('drained');
      void node.close().finally(() => process.exit(0));
      return;
    }
    logger.info('media-node.signal', { signal });
    const draining = node.drain();
    void syncProtection(); // state is draining now: clear the protection at once
    draining.then(
      (emptied) => {
        logger.info('media-node.exit', { emptied });
        process.exit(0);
      },
      (error) => {
        logger.error('media-node.drain-failed', { error });
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
} catch (error) {
  logger.error('media-node.start-failed', { error });
  process.exit(1);
}
