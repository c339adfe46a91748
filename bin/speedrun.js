#!/usr/bin/env node
// The CLI is written in TypeScript: it runs compiled (dist/, made by `npm ci`) while that matches the sources,
// else through tsx, so `npx speedrun` works either way (bin/runtime.mjs).
import { importSource } from './runtime.mjs';

// `speedrun runs | head`: a reader that stops early is not an error.
process.stdout.on('error', (error) => {
  if (error.code === 'EPIPE') process.exit(process.exitCode ?? 0);
  throw error;
});

try {
  const { main } = await importSource('harness/cli.ts');
  process.exitCode = await main(process.argv.slice(2));
} catch (error) {
  // A bug, not a user mistake (those are printed as one line by main): keep the stack trace.
  console.error(error instanceof Error ? (error.stack ?? error.message) : error);
  process.exitCode = 1;
}
