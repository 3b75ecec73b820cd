/**
 * `azd package` from a clean clone, reproduced: azd's steps for a `language: js` service (Azure/azure-dev,
 * pkg/project/framework_service_node.go) are `npm install`, `npm run build` in its build step, the service's
 * `prepackage` hooks, `npm run build` again in its package step, then the `dist` folder must hold the deployable.
 * The copy holds the repository's files as a clone would (tracked and new, nothing ignored, so no dist/), with
 * node_modules linked instead of installed, and a stale bundle planted where an earlier run would have left one.
 *
 * Also the contract azd checks before uploading: `remoteBuild` and .funcignore must agree.
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { registry } from '../../local/host/functionsCore';
import { ignoresDirectory, readYamlMappings, remoteBuildConflict, type YamlMap } from './azd';
import { readRootFile, ROOT } from './helpers';

const STALE_MARKER = 'stale bundle from an earlier run';

function apiService(): YamlMap {
    const services = readYamlMappings(readRootFile('azure.yaml')).services;
    if (typeof services !== 'object' || typeof services.api !== 'object') throw new Error('no services.api');
    return services.api;
}

function hookCommands(service: YamlMap, name: string): string[] {
    const hook = typeof service.hooks === 'object' ? service.hooks[name] : undefined;
    if (hook === undefined) return [];
    if (typeof hook !== 'object' || typeof hook.run !== 'string') throw new Error(`hook ${name} has no run command`);
    return [hook.run];
}

/** The files a fresh clone of the working tree would have: tracked and untracked, without ignored ones. */
function copyRepository(to: string): void {
    const files = execFileSync('git', ['ls-files', '-z', '--cached', '--others', '--exclude-standard'], { cwd: ROOT })
        .toString('utf8')
        .split('\0')
        .filter((file) => file !== '' && fs.existsSync(path.join(ROOT, file)));
    for (const file of files) {
        fs.mkdirSync(path.dirname(path.join(to, file)), { recursive: true });
        fs.copyFileSync(path.join(ROOT, file), path.join(to, file));
    }
    fs.symlinkSync(fs.realpathSync(path.join(ROOT, 'node_modules')), path.join(to, 'node_modules'), 'dir');
}

function run(command: string, cwd: string): void {
    execFileSync('sh', ['-c', command], { cwd, stdio: 'pipe', env: { ...process.env, NODE_ENV: 'production' } });
}

/** The function names the bundle registers, loaded in a plain Node process with the built stand-in core module. */
function functionsRegisteredBy(bundle: string, standIn: string): string[] {
    const script = [
        `const core = require(${JSON.stringify(standIn)});`,
        'core.installFunctionsCore();',
        `require(${JSON.stringify(bundle)});`,
        'process.stdout.write(JSON.stringify([...core.registry.functions.keys()]));',
    ].join('\n');
    return (JSON.parse(execFileSync(process.execPath, ['-e', script]).toString('utf8')) as string[]).sort();
}

describe('azure.yaml and .funcignore, as azd reads them', () => {
    const service = apiService();

    it('describe a js function service deployed from dist/deploy, bundled by a prepackage hook', () => {
        expect(service).toMatchObject({ project: '.', language: 'js', host: 'function', dist: 'dist/deploy' });
        expect(hookCommands(service, 'prepackage')).toEqual(['npm run package']);
    });

    it('agree on remote builds (azd refuses remoteBuild: false when .funcignore excludes node_modules)', () => {
        const remoteBuild = typeof service.remoteBuild === 'string' ? service.remoteBuild : undefined;
        expect(remoteBuild).toBe('false');
        expect(remoteBuildConflict(remoteBuild, readRootFile('.funcignore'))).toBeUndefined();
    });

    it('would catch the combinations azd refuses', () => {
        expect(remoteBuildConflict('false', 'dist\nnode_modules/\n')).toMatch(/cannot be used when/);
        expect(remoteBuildConflict('false', '/node_modules\n')).toMatch(/cannot be used when/);
        expect(remoteBuildConflict('false', 'node_*\n')).toMatch(/cannot be used when/);
        expect(remoteBuildConflict('true', 'dist\n')).toMatch(/requires/);
        expect(remoteBuildConflict('false', undefined)).toMatch(/no .funcignore/);
        expect(remoteBuildConflict('false', 'node_modules/\n!node_modules\n')).toBeUndefined();
        expect(remoteBuildConflict('false', 'node_modules/**\nsrc/node_modules\n')).toBeUndefined();
        expect(ignoresDirectory('# node_modules\n', 'node_modules')).toBe(false);
    });
});

describe('azd package on a clean copy of the repository', () => {
    let copy: string;

    beforeAll(() => {
        copy = fs.mkdtempSync(path.join(os.tmpdir(), 'azd-package-'));
        copyRepository(copy);
        const service = apiService();
        expect(service.dist).toBe('dist/deploy');
        const deploy = path.join(copy, 'dist', 'deploy');
        fs.mkdirSync(deploy, { recursive: true });
        fs.writeFileSync(path.join(deploy, 'index.js'), `// ${STALE_MARKER}\n`);
        fs.writeFileSync(path.join(deploy, 'stale.js'), '');

        run('npm run build --if-present', copy); // azd build
        for (const command of hookCommands(service, 'prepackage')) run(command, copy);
        run('npm run build --if-present', copy); // azd package, before it zips `dist`
    }, 180_000);

    afterAll(() => {
        if (copy) fs.rmSync(copy, { recursive: true, force: true });
    });

    it('leaves index.js, host.json and package.json from the current sources in dist/deploy', () => {
        const deploy = path.join(copy, 'dist', 'deploy');
        const files = fs.readdirSync(deploy).sort();
        expect(files).toEqual(expect.arrayContaining(['host.json', 'index.js', 'package.json']));
        // Nothing else than the bundle's companions (source map, legal comments): the stale files are gone.
        expect(files.filter((f) => !['host.json', 'package.json'].includes(f) && !f.startsWith('index.js'))).toEqual(
            [],
        );
        expect(fs.readFileSync(path.join(deploy, 'index.js'), 'utf8')).not.toContain(STALE_MARKER);
        expect(fs.readFileSync(path.join(deploy, 'host.json'), 'utf8')).toBe(readRootFile('host.json'));
        const pkg = JSON.parse(fs.readFileSync(path.join(deploy, 'package.json'), 'utf8')) as Record<string, unknown>;
        expect(pkg).toMatchObject({ main: 'index.js', name: 'cosell-referrals' });
        expect(pkg).not.toHaveProperty('dependencies');
    });

    it('registers exactly the functions that index.ts registers', () => {
        // Loaded here: registration is a side effect of loading the entry point (jest maps the core module).
        require('../../index');
        const fromSources = [...registry.functions.keys()].sort();
        expect(fromSources.length).toBeGreaterThan(0);
        const fromBundle = functionsRegisteredBy(
            path.join(copy, 'dist', 'deploy', 'index.js'),
            path.join(copy, 'dist', 'local', 'host', 'functionsCore.js'),
        );
        expect(fromBundle).toEqual(fromSources);
    });
});
