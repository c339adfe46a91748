/**
 * A full garbage collection, run at each evaluation (outside the training clock, counted in eval time). Between
 * collections V8 lets the old generation grow by ~1 MiB per 3 s of training, tensor wrappers that outlived a
 * step; over a whole run that growth, not the model, set the peak resident memory (a native run to the target:
 * 428 MiB). `--expose-gc` cannot be assumed on the command line (`npx speedrun`), so it is enabled here.
 */
import * as v8 from 'node:v8';
import * as vm from 'node:vm';

let gc: (() => void) | undefined;

export function collectGarbage(): void {
  if (!gc) {
    v8.setFlagsFromString('--expose-gc');
    gc = vm.runInNewContext('gc') as () => void;
  }
  gc();
}
