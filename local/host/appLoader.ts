/**
 * Loads the app's entry point the way the Functions Node worker does: `@azure/functions-core` resolves to the
 * stand-in, then the entry module runs and its `app.*` calls register functions and hooks.
 */
import { resolve } from 'node:path';

import { installFunctionsCore, registry } from './functionsCore';

let loadedEntry: string | undefined;

/**
 * Requires the entry once per process. A second host in the same process (tests) reuses the registrations, since
 * the module cache would not run the entry's `app.*` calls again anyway.
 */
export function loadApp(entry: string): string {
    const entryPath = require.resolve(resolve(entry));
    if (loadedEntry !== undefined) {
        if (loadedEntry !== entryPath) {
            throw new Error(`This process already loaded the app "${loadedEntry}"; one app per process.`);
        }
        return entryPath;
    }
    installFunctionsCore();
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    require(entryPath);
    loadedEntry = entryPath;
    if (registry.functions.size === 0) {
        throw new Error(`The app "${entryPath}" registered no functions (is @azure/functions-core the stand-in?).`);
    }
    return entryPath;
}
