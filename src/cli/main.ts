#!/usr/bin/env node
import { reportError } from './errors.js';
import { program } from './program.js';

try {
  await program().parseAsync(process.argv);
} catch (error) {
  process.exitCode = reportError(error);
}
