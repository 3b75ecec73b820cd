/**
 * npm run duplicates -- <command>: the copies of done referrals that the later duplicate check found at Partner
 * Center (see docs/operations.md, "Duplicates").
 *
 *   list                                          every reported copy: key, ids, status (changes nothing)
 *   close --key <key> [--referral <id>] [--yes]   close one copy at Partner Center as Closed/Lost, reason
 *                                                 "Duplicate", after confirmation (or --yes); --referral names the
 *                                                 copy when the referral reports several
 *   --local                                       use the local runtime's peers (npm run emulators on default
 *                                                 ports) for every connection setting not set in the environment
 *
 * Connections come from the app's own settings (CosmosDbConnection…, PARTNER_API_…). Output names keys, Partner
 * Center ids and statuses, never a referral's contents. The referral a record keeps is never closed.
 */
import { randomUUID } from 'node:crypto';
import { createInterface } from 'node:readline/promises';

import {
    closeDuplicate,
    cosmosKeysWithDuplicates,
    type DuplicateListing,
    type DuplicatesDependencies,
    listDuplicates,
    planClose,
} from '../shared/operations/duplicates';
import { createPartnerApiClient, type PartnerApiClient } from '../shared/partnerApi';
import { closeCosmos, getCosmosContainer } from '../shared/platform/cosmos';
import { CosmosReferralStore } from '../shared/referral/store';
import { exitOnHelp, readArguments, UsageError, useLocalPeers } from './usage';

export interface DuplicatesArguments {
    command: 'list' | 'close' | 'help';
    key?: string;
    referral?: string;
    yes: boolean;
    local: boolean;
}

export const USAGE =
    'Usage: npm run duplicates -- list | close --key <key> [--referral <partnerReferralId>] [--yes] [--local]';

export function parseArguments(argv: string[]): DuplicatesArguments {
    const args: DuplicatesArguments = { command: 'help', yes: false, local: false };
    const value = (name: string, index: number) => {
        const given = argv[index];
        if (!given || given.startsWith('--')) throw new UsageError(`${name} needs a value`);
        return given;
    };
    for (let i = 0; i < argv.length; i++) {
        const arg = argv[i]!;
        if (arg === 'list' || arg === 'close') args.command = arg;
        else if (arg === '--yes' || arg === '-y') args.yes = true;
        else if (arg === '--local') args.local = true;
        else if (arg === '--key') args.key = value(arg, ++i);
        else if (arg === '--referral') args.referral = value(arg, ++i);
        else throw new UsageError(`Unknown argument "${arg}"`);
    }
    if (args.command === 'close' && !args.key) throw new UsageError('close needs --key <key>');
    return args;
}

export function formatListing(listing: DuplicateListing): string {
    const { key, status, keptId, duplicate } = listing;
    const closed = duplicate.closedAt ? ` closed ${duplicate.closedAt}` : '';
    return (
        `${key.padEnd(38)} ${status.padEnd(11)} ${duplicate.of.padEnd(18)} kept ${(keptId ?? '-').padEnd(38)} ` +
        `duplicate ${duplicate.id.padEnd(38)} engagement ${duplicate.engagementId} ${duplicate.status} ` +
        `found ${duplicate.foundAt}${closed}`
    );
}

export interface Output {
    out: (line: string) => void;
    /** Asks the operator a yes/no question; true only for an explicit yes. */
    confirm: (question: string) => Promise<boolean>;
}

/** Runs one command against `deps`; answers the process exit code. */
export async function runDuplicatesCommand(
    args: DuplicatesArguments,
    deps: DuplicatesDependencies,
    io: Output,
): Promise<number> {
    if (args.command === 'list') {
        const listings = await listDuplicates(deps);
        io.out('Duplicate referrals reported by the duplicate check (nothing was changed):');
        for (const listing of listings) io.out(formatListing(listing));
        const open = listings.filter((l) => l.duplicate.status === 'Open').length;
        io.out(`${listings.length} duplicate${listings.length === 1 ? '' : 's'}, ${open} open.`);
        return 0;
    }
    const plan = await planClose(deps, args.key!, args.referral);
    if (plan.kind === 'refused') {
        io.out(`Nothing closed: ${plan.message}`);
        return 2;
    }
    const { duplicate } = plan;
    io.out(
        `Referral ${plan.key}: duplicate ${duplicate.id} (engagement ${duplicate.engagementId}, a copy of its ` +
            `${duplicate.of}) will be closed at Partner Center as Closed/Lost, statusReason "Duplicate".`,
    );
    if (!args.yes && !(await io.confirm('Close it? [y/N] '))) {
        io.out('Nothing closed.');
        return 1;
    }
    const result = await closeDuplicate(deps, plan, randomUUID());
    io.out(
        result.outcome === 'closed'
            ? `Closed ${result.duplicateId}: ${result.status}/${result.substatus}; recorded on ${result.key}.`
            : `${result.duplicateId} was closed at Partner Center already (${result.status}/${result.substatus}); ` +
                  `recorded on ${result.key}.`,
    );
    return 0;
}

/** The collaborators from the app's settings (the same ones the functions read). */
export function productionDependencies(client: PartnerApiClient): DuplicatesDependencies {
    return {
        store: new CosmosReferralStore(),
        keysWithDuplicates: cosmosKeysWithDuplicates(getCosmosContainer),
        partnerApi: {
            getReferral: (id, context) => client.getReferral(id, context),
            patchReferral: (id, patch, eTag, context) => client.patchReferral(id, patch, eTag, context),
        },
        now: () => new Date(),
    };
}

async function confirmOnTerminal(question: string): Promise<boolean> {
    const prompt = createInterface({ input: process.stdin, output: process.stdout });
    try {
        return /^y(es)?$/i.test((await prompt.question(question)).trim());
    } finally {
        prompt.close();
    }
}

async function main(argv: string[]): Promise<number> {
    exitOnHelp(USAGE, argv);
    const args = readArguments(argv, USAGE, parseArguments);
    if (typeof args === 'number') return args;
    if (args.local) {
        useLocalPeers([
            'CosmosDbConnection',
            'COSMOS_DISABLE_TLS_VERIFICATION',
            'PARTNER_API_BASE_URL',
            'PARTNER_API_AUTH',
        ]);
    }
    const client = createPartnerApiClient();
    try {
        return await runDuplicatesCommand(args, productionDependencies(client), {
            out: (line) => console.log(line),
            confirm: confirmOnTerminal,
        });
    } finally {
        await client.close();
        closeCosmos();
    }
}

if (require.main === module) {
    main(process.argv.slice(2)).then(
        (code) => (process.exitCode = code),
        (error: unknown) => {
            console.error(error instanceof Error ? error.message : error);
            process.exitCode = 1;
        },
    );
}
