import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CommanderError } from 'commander';
import { NotFoundError, ValidationError, VidmeshError } from '../errors.js';
import { ExitCode, exitCodeFor } from './run.js';

class Cancelled extends VidmeshError {
  override readonly code = 'cancelled';
  override readonly status = 499;
}

test('exitCodeFor tells bad input from internal failure', () => {
  const cases: Array<[unknown, number]> = [
    [new ValidationError('bad ladder'), ExitCode.badInput],
    [new NotFoundError('no such file'), ExitCode.badInput],
    [new VidmeshError('ffmpeg crashed'), ExitCode.internal],
    [new Error('bug'), ExitCode.internal],
    ['thrown string', ExitCode.internal],
    [new Cancelled('stopped'), ExitCode.interrupted],
    [new CommanderError(1, 'commander.unknownOption', 'unknown option'), ExitCode.badInput],
    [new CommanderError(0, 'commander.helpDisplayed', 'help'), ExitCode.ok],
  ];
  for (const [err, code] of cases) assert.equal(exitCodeFor(err), code, String(err));
});
