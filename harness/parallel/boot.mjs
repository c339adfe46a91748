// Worker threads start here: register tsx in this thread, then load the TypeScript entry (workerData.entry).
import { register } from 'tsx/esm/api';
import { workerData } from 'node:worker_threads';

register();
await import(workerData.entry);
