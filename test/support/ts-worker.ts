// Start a worker thread on a TypeScript file. Node 20 does not run `--import` preloads (tsx)
// in worker threads, whatever execArgv says, so `new Worker(new URL("x.ts", ...))` fails with
// "Unknown file extension .ts"; the bootstrap below registers tsx inside the worker first.

import { Worker, type WorkerOptions } from "node:worker_threads";

const tsxApi = import.meta.resolve("tsx/esm/api");

/**
 * `status`, when given, is a shared Int32 word the bootstrap sets to -1 if the module fails to
 * load, so that a main thread blocked in Atomics.wait can notice without its event loop.
 */
export function startTsWorker(file: URL, options: WorkerOptions = {}, status?: Int32Array): Worker {
  const bootstrap = `
    const { workerData } = require("node:worker_threads");
    import(${JSON.stringify(tsxApi)})
      .then((api) => { api.register(); return import(${JSON.stringify(file.href)}); })
      .catch((err) => {
        const status = workerData && workerData.__status;
        if (status) { Atomics.store(status, 0, -1); Atomics.notify(status, 0); }
        throw err;
      });
  `;
  const workerData = status === undefined ? options.workerData : { ...options.workerData, __status: status };
  return new Worker(bootstrap, { ...options, eval: true, workerData });
}
