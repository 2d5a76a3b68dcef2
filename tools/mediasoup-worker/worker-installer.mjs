// Decides how this machine gets a working mediasoup-worker, with every effect
// injected (see install.mjs for the real ones, test/worker for fakes).
// Order: a user-given binary wins; a binary already in place is kept; where
// mediasoup's prebuilt download host answers, mediasoup's own install runs
// (what happens on an EC2 media node); otherwise, or when that install leaves
// no working binary, the offline build (cached per version) is copied in place.

/** mediasoup's prebuilt tarball URL, as getWorkerPrebuildTarName() and
 * downloadPrebuiltWorker() in mediasoup's npm-scripts.mjs compose it. */
export function prebuiltWorkerUrl({ version, repositoryUrl, platform, arch, kernelRelease, env }) {
  const releaseBase =
    env.MEDIASOUP_WORKER_PREBUILT_DOWNLOAD_BASE_URL ||
    `${repositoryUrl.replace(/^git\+/, '').replace(/\.git$/, '')}/releases/download`;
  let name = `mediasoup-worker-${version}-${platform}-${arch}`;
  if (platform === 'linux') name += `-kernel${Number(kernelRelease.split('.')[0])}`;
  return `${releaseBase}/${version}/${name}.tgz`;
}

/**
 * @returns {Promise<{ choice: 'user-binary' | 'present' | 'mediasoup-install' | 'offline-build', workerBin: string }>}
 * @throws when no working worker could be produced.
 */
export async function installWorker({ env, version, workerBin }, fx) {
  if (env.MEDIASOUP_WORKER_BIN) {
    fx.log('info', 'MEDIASOUP_WORKER_BIN is set: mediasoup will use it, nothing to install', {
      workerBin: env.MEDIASOUP_WORKER_BIN,
    });
    return { choice: 'user-binary', workerBin: env.MEDIASOUP_WORKER_BIN };
  }
  if (fx.workerRuns(workerBin)) {
    fx.log('info', 'a working mediasoup-worker is already in place', { version, workerBin });
    return { choice: 'present', workerBin };
  }

  const probe = await fx.probePrebuiltHost();
  if (probe.reachable) {
    fx.log('info', "mediasoup's prebuilt download host answers: running mediasoup's own install", {
      version,
      url: probe.url,
      answer: probe.detail,
    });
    const installed = fx.runMediasoupInstall();
    if (installed && fx.workerRuns(workerBin)) {
      fx.log('info', "mediasoup's own install produced a working worker", { version, workerBin });
      return { choice: 'mediasoup-install', workerBin };
    }
    fx.log('warn', "mediasoup's own install left no working worker: falling back to the offline build", {
      version,
      installExitedOk: installed,
    });
  } else {
    fx.log('info', "mediasoup's prebuilt download host is unreachable: using the offline build", {
      version,
      url: probe.url,
      why: probe.detail,
    });
  }

  const cachedBin = fx.buildOffline(); // throws when the build fails
  fx.copyIntoPlace(cachedBin, workerBin);
  if (!fx.workerRuns(workerBin)) {
    throw new Error(`mediasoup-worker ${version}: the offline-built binary copied to ${workerBin} does not run`);
  }
  fx.log('info', 'offline-built mediasoup-worker installed', { version, workerBin, cachedBin });
  return { choice: 'offline-build', workerBin };
}
