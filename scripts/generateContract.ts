/**
 * npm run contract:generate: writes the published contract from the referral's joi schema:
 *   docs/openapi.json                   OpenAPI 3.1 of the HTTP API (also served at GET /api/openapi.json)
 *   docs/referral-message.schema.json   JSON Schema 2020-12 of the queue message, for upstream publishers
 *   docs/referral-update-message.schema.json   the same for an update message (queue referral-updates)
 *   docs/outcome-event.schema.json      JSON Schema of an outcome event (Event Grid, CloudEvents 1.0)
 * `--check` writes nothing and exits 1 when a checked-in file is out of step.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

import { format, resolveConfig } from 'prettier';

import {
    documentText,
    type JsonSchema,
    MESSAGE_SCHEMA_PATH,
    OPENAPI_PATH,
    openApiDocument,
    OUTCOME_EVENT_SCHEMA_PATH,
    outcomeEventSchema,
    referralMessageSchema,
    referralUpdateMessageSchema,
    UPDATE_MESSAGE_SCHEMA_PATH,
} from '../shared/contract';
import { exitOnHelp } from './usage';

const USAGE = [
    'Usage: npm run contract:generate [-- --check]',
    "  Writes docs/openapi.json, the queue messages' and the outcome event's JSON Schemas (docs/*.schema.json).",
    '  --check: writes nothing; exits 1 when a checked-in file is out of step.',
].join('\n');

/** The project root: this file runs from `dist/scripts/` when built. */
const ROOT = join(__dirname, __dirname.endsWith(join('dist', 'scripts')) ? '../..' : '..');

async function main(): Promise<void> {
    const check = process.argv.includes('--check');
    const documents: Array<[string, JsonSchema]> = [
        [OPENAPI_PATH, openApiDocument()],
        [MESSAGE_SCHEMA_PATH, referralMessageSchema()],
        [UPDATE_MESSAGE_SCHEMA_PATH, referralUpdateMessageSchema()],
        [OUTCOME_EVENT_SCHEMA_PATH, outcomeEventSchema()],
    ];
    let stale = 0;
    for (const [path, document] of documents) {
        const file = join(ROOT, path);
        // Formatted as `npm run format` would, so formatting the tree never touches the contract.
        const text = await format(documentText(document), { ...(await resolveConfig(file)), filepath: file });
        let current: string | undefined;
        try {
            current = readFileSync(file, 'utf8');
        } catch {
            current = undefined;
        }
        const same = current !== undefined && JSON.stringify(JSON.parse(current)) === JSON.stringify(document);
        if (check) {
            if (!same) stale++;
            console.log(`${same ? 'up to date' : 'OUT OF STEP'}  ${path}`);
        } else {
            writeFileSync(file, text);
            console.log(`${same ? 'unchanged' : 'written'}  ${path}`);
        }
    }
    if (stale > 0) {
        console.error('Run `npm run contract:generate` and commit the result.');
        process.exitCode = 1;
    }
}

exitOnHelp(USAGE);
main().catch((error: unknown) => {
    console.error(error);
    process.exitCode = 1;
});
