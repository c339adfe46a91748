#!/usr/bin/env node
// The CLI is written in TypeScript; tsx compiles it on the fly so `npx speedrun` needs no build step.
import { register } from 'tsx/esm/api';

register();
try {
  const { main } = await import('../harness/cli.ts');
  process.exitCode = await main(process.argv.slice(2));
} catch (error) {
  // A bug, not a user mistake (those are printed as one line by main): keep the stack trace.
  console.error(error instanceof Error ? (error.stack ?? error.message) : error);
  process.exitCode = 1;
}
