// docs/cli.md is generated from the command table (scripts/gen-docs.ts): every command has its
// section with its usage text. Whether the committed page is current is `npm run check`'s job
// (gen-docs.ts --check), so a new command does not fail the tests before its docs are regenerated.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { cliPage } from '../../scripts/gen-docs.ts';
import { commands } from '../../src/cli/commands.ts';

test('docs/cli.md has every command, its usage and the exit codes', () => {
  const page = cliPage();
  for (const c of commands) {
    assert.ok(page.includes(`## graft ${c.name}\n`), c.name);
    assert.ok(page.includes(c.usage), `${c.name} usage`);
    assert.ok(page.includes(`[\`${c.name}\`](#graft-${c.name})`), `${c.name} in the table`);
  }
  assert.match(page, /\*\*2\*\* a usage error/);
});
