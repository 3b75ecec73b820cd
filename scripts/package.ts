/**
 * Builds the deployable of the function app into dist/deploy: one esbuild bundle of index.ts (every function and
 * every dependency, except `@azure/functions-core`, which the Functions worker provides), host.json, and a
 * package.json with `main: index.js` and no dependencies. azd deploys that folder (azure.yaml `dist: dist/deploy`).
 *
 * Run: `npm run package` (builds with tsc, then runs this file from dist/scripts/package.js).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

import { build, type BuildOptions } from 'esbuild';

import { exitOnHelp } from './usage';

const USAGE = [
    'Usage: npm run package',
    '  Builds the deployable function app into dist/deploy (esbuild bundle, host.json, package.json) for azd deploy.',
].join('\n');

export interface PackageOptions {
    /** The repository root: where index.ts, host.json and package.json are. */
    root: string;
    /** The app entry point, relative to root. */
    entry?: string;
    /** Output folder, relative to root. */
    outDir?: string;
}

export interface PackageResult {
    outDir: string;
    files: string[];
}

/** How the deployable is bundled (the cold-start benchmark bundles its minimal app the same way). */
export const DEPLOY_BUNDLE = {
    bundle: true,
    platform: 'node',
    target: 'node20',
    format: 'cjs',
    // Provided by the Functions Node.js worker at run time.
    external: ['@azure/functions-core'],
    minify: true,
} satisfies BuildOptions;

/** The root of the repository: the nearest folder above this file with host.json and package.json. */
export function findRoot(start: string = __dirname): string {
    let dir = start;
    for (;;) {
        if (fs.existsSync(path.join(dir, 'host.json')) && fs.existsSync(path.join(dir, 'package.json'))) return dir;
        const parent = path.dirname(dir);
        if (parent === dir) throw new Error(`no folder with host.json and package.json above ${start}`);
        dir = parent;
    }
}

export async function packageApp(options: PackageOptions): Promise<PackageResult> {
    const root = options.root;
    const entry = path.join(root, options.entry ?? 'index.ts');
    const outDir = path.join(root, options.outDir ?? path.join('dist', 'deploy'));
    if (!fs.existsSync(entry)) throw new Error(`app entry point not found: ${entry}`);

    fs.rmSync(outDir, { recursive: true, force: true });
    fs.mkdirSync(outDir, { recursive: true });

    await build({
        ...DEPLOY_BUNDLE,
        entryPoints: [entry],
        outfile: path.join(outDir, 'index.js'),
        sourcemap: true,
        legalComments: 'linked',
        logLevel: 'warning',
    });

    fs.copyFileSync(path.join(root, 'host.json'), path.join(outDir, 'host.json'));

    const project = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8')) as {
        name?: string;
        version?: string;
        engines?: Record<string, string>;
    };
    const deployPackage = {
        name: project.name ?? 'app',
        version: project.version ?? '0.0.0',
        private: true,
        description: 'Deployable of the function app: an esbuild bundle with every dependency inside.',
        type: 'commonjs',
        main: 'index.js',
        ...(project.engines ? { engines: project.engines } : {}),
    };
    fs.writeFileSync(path.join(outDir, 'package.json'), `${JSON.stringify(deployPackage, null, 4)}\n`);

    return { outDir, files: fs.readdirSync(outDir).sort() };
}

if (require.main === module) {
    exitOnHelp(USAGE);
    packageApp({ root: findRoot() })
        .then((result) => console.log(`packaged ${result.files.join(', ')} into ${result.outDir}`))
        .catch((error: unknown) => {
            console.error(error instanceof Error ? error.message : error);
            process.exitCode = 1;
        });
}
