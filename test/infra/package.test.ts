/** scripts/package.ts, run against a temporary app with the real host.json. */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { findRoot, packageApp } from '../../scripts/package';
import { ROOT } from './helpers';

describe('scripts/package.ts', () => {
    let root: string;

    beforeAll(() => {
        root = fs.mkdtempSync(path.join(os.tmpdir(), 'package-test-'));
        fs.copyFileSync(path.join(ROOT, 'host.json'), path.join(root, 'host.json'));
        fs.writeFileSync(
            path.join(root, 'package.json'),
            JSON.stringify({ name: 'sample', version: '1.2.3', engines: { node: '>=20' }, dependencies: { x: '1' } }),
        );
        fs.mkdirSync(path.join(root, 'functions'));
        fs.writeFileSync(path.join(root, 'functions', 'hello.ts'), "export const greeting: string = 'hello';\n");
        fs.writeFileSync(
            path.join(root, 'index.ts'),
            [
                "import * as core from '@azure/functions-core';",
                "import { greeting } from './functions/hello';",
                'export const registered = [greeting, typeof core];',
            ].join('\n'),
        );
    });

    afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

    it('writes the bundle, its source map, host.json and a dependency-free package.json', async () => {
        const result = await packageApp({ root });
        expect(result.outDir).toBe(path.join(root, 'dist', 'deploy'));
        expect(result.files).toEqual(['host.json', 'index.js', 'index.js.map', 'package.json']);

        const bundle = fs.readFileSync(path.join(result.outDir, 'index.js'), 'utf8');
        expect(bundle).toContain('require("@azure/functions-core")'); // left to the worker
        expect(bundle).toContain('hello'); // relative imports are inside
        expect(bundle).not.toContain('./functions/hello');
        expect(bundle).toMatch(/sourceMappingURL=index\.js\.map/);

        expect(fs.readFileSync(path.join(result.outDir, 'host.json'), 'utf8')).toBe(
            fs.readFileSync(path.join(ROOT, 'host.json'), 'utf8'),
        );
        const pkg = JSON.parse(fs.readFileSync(path.join(result.outDir, 'package.json'), 'utf8')) as Record<
            string,
            unknown
        >;
        expect(pkg).toMatchObject({ name: 'sample', version: '1.2.3', main: 'index.js', engines: { node: '>=20' } });
        expect(pkg).not.toHaveProperty('dependencies');
        expect(pkg).not.toHaveProperty('devDependencies');
    });

    it('replaces what a previous run left', async () => {
        const stale = path.join(root, 'dist', 'deploy', 'stale.js');
        fs.writeFileSync(stale, '');
        await packageApp({ root });
        expect(fs.existsSync(stale)).toBe(false);
    });

    it('fails clearly without an entry point', async () => {
        await expect(packageApp({ root, entry: 'missing.ts' })).rejects.toThrow(/app entry point not found/);
    });

    it('finds the repository root from the script folder or its build output', () => {
        expect(findRoot(path.join(ROOT, 'scripts'))).toBe(ROOT);
        expect(findRoot(path.join(ROOT, 'dist', 'scripts'))).toBe(ROOT);
    });
});
