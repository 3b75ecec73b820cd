/**
 * Every operator command in package.json builds before it runs (a fresh clone has no dist/) and answers `--help`
 * with its usage and exit 0, without starting anything. Each command's script is built the way `npm run build`
 * does (tsc, into a temporary directory; packages resolve through NODE_PATH) and run with `--help`; a command that
 * started a server or connected would not exit within the time limit.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

import { ROOT } from './helpers';

jest.setTimeout(120_000);

const OPERATOR_COMMANDS = [
    'replay',
    'duplicates',
    'partner:consent',
    'partner:webhooks',
    'simulator',
    'emulators',
    'host',
    'start',
    'demo',
    'test:faults',
    'bench',
    'contract:generate',
    'package',
];

const scripts = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> })
    .scripts;

/** The compiled file a command runs: `npm run build && node dist/<path>.js`. */
function entryOf(command: string): string {
    const match = /^npm run build && node dist\/(\S+)\.js$/.exec(scripts[command] ?? '');
    if (!match) throw new Error(`npm run ${command} does not build first: "${scripts[command]}"`);
    return match[1]!;
}

describe('operator commands', () => {
    let outDir: string;

    beforeAll(async () => {
        outDir = mkdtempSync(join(tmpdir(), 'commands-test-'));
        // The project's own build (tsc -p tsconfig.build.json), written to a temporary directory instead of dist/.
        await promisify(execFile)(
            process.execPath,
            [require.resolve('typescript/bin/tsc'), '-p', join(ROOT, 'tsconfig.build.json'), '--outDir', outDir],
            { cwd: ROOT },
        );
    });

    afterAll(() => rmSync(outDir, { recursive: true, force: true }));

    it.each(OPERATOR_COMMANDS)('npm run %s builds first', (command) => {
        expect(() => entryOf(command)).not.toThrow();
    });

    it.each(OPERATOR_COMMANDS)('npm run %s -- --help prints its usage and exits 0', async (command) => {
        const { stdout } = await promisify(execFile)(
            process.execPath,
            [join(outDir, `${entryOf(command)}.js`), '--help'],
            {
                cwd: outDir,
                env: { ...process.env, NODE_PATH: join(ROOT, 'node_modules') },
                timeout: 30_000,
            },
        );
        const invocation = command === 'start' ? 'npm start' : `npm run ${command}`;
        expect(stdout.split('\n')[0]).toMatch(new RegExp(`^Usage: ${invocation}\\b`));
    });
});
