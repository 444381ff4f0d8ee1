#!/usr/bin/env node
import { reportError } from './errors.js';
import { program } from './program.js';

try {
  await program().parseAsync(process.argv);
} catch (error) {
  process.exitCode = reportError(error);
  // The command failed and said why: nothing it left behind (a kafkajs retry still pending on
  // another request, a socket being closed) may hold the exit. Unref'd: a process with
  // nothing left to do ends at once, as before.
  setTimeout(() => process.exit(), 2_000).unref();
}
