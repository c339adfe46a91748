// Worker threads start here: load the worker's entry compiled if dist/ is fresh, else through tsx in this thread.
import { workerData } from 'node:worker_threads';
import { importSource } from '../../bin/runtime.mjs';

await importSource(workerData.entry);
