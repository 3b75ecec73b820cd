import * as fs from 'node:fs';
import * as path from 'node:path';

import {
    COSMOS_CONNECTION,
    COSMOS_CONTAINER,
    COSMOS_DATABASE,
    COSMOS_PARTITION_KEY_PATH,
    QUEUE_NAMES,
    SERVICE_BUS_CONNECTION,
} from '../../shared/platform/names';
import { readSources, type SourceFiles } from './bicep';
import { type NameContract } from './checks';

export const ROOT = path.resolve(__dirname, '../..');
export const INFRA = path.join(ROOT, 'infra');

export const NAMES: NameContract = {
    queues: QUEUE_NAMES,
    database: COSMOS_DATABASE,
    container: COSMOS_CONTAINER,
    partitionKeyPath: COSMOS_PARTITION_KEY_PATH,
    connections: [SERVICE_BUS_CONNECTION, COSMOS_CONNECTION],
};

/** The Key Vault secrets the operator sets, by the app setting that references them (docs/deploy.md). */
export const SECRET_REFERENCES = {
    PARTNER_API_CLIENT_SECRET: 'partner-api-client-secret',
    PARTNER_API_REFRESH_TOKEN: 'partner-api-refresh-token',
};

export function infraSources(): SourceFiles {
    return readSources(INFRA);
}

/**
 * A copy of the sources with one edit: `find` must occur in `file` (so a mutation never silently does nothing).
 */
export function mutate(sources: SourceFiles, file: string, find: string | RegExp, replace: string): SourceFiles {
    const original = sources.get(file);
    if (original === undefined) throw new Error(`no such file ${file}`);
    const found = typeof find === 'string' ? original.includes(find) : find.test(original);
    if (!found) throw new Error(`mutation target ${String(find)} not found in ${file}`);
    const copy = new Map(sources);
    copy.set(file, original.replace(find, replace));
    return copy;
}

export function readRootFile(name: string): string {
    return fs.readFileSync(path.join(ROOT, name), 'utf8');
}
