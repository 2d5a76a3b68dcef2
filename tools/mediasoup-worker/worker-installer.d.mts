export type LogLevel = 'info' | 'warn' | 'error';

export interface PrebuiltProbe {
  reachable: boolean;
  url: string;
  /** e.g. "HTTP 302" or the network error code */
  detail: string;
}

export interface InstallEffects {
  log(level: LogLevel, msg: string, fields?: Record<string, unknown>): void;
  /** mediasoup's check: run with an empty environment, exit code 41 */
  workerRuns(bin: string): boolean;
  probePrebuiltHost(): Promise<PrebuiltProbe>;
  /** `node npm-scripts.mjs postinstall` in the mediasoup package; true on exit 0 */
  runMediasoupInstall(): boolean;
  /** builds (or takes from the cache) the offline worker; returns the cached binary path */
  buildOffline(): string;
  copyIntoPlace(from: string, to: string): void;
}

export type InstallChoice = 'user-binary' | 'present' | 'mediasoup-install' | 'offline-build';

export function prebuiltWorkerUrl(args: {
  version: string;
  repositoryUrl: string;
  platform: string;
  arch: string;
  kernelRelease: string;
  env: Record<string, string | undefined>;
}): string;

export function installWorker(
  ctx: { env: Record<string, string | undefined>; version: string; workerBin: string },
  fx: InstallEffects,
): Promise<{ choice: InstallChoice; workerBin: string }>;
