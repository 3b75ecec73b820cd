/**
 * npm run replay -- <command>: lists and re-queues stopped referrals (see docs/operations.md, "Replay").
 *
 *   list                          what is stopped: dead-lettered messages, Failed referrals and referrals stuck
 *                                 Queued for INTAKE_RESEND_AFTER_MS (changes nothing)
 *   run --key <key> [--key ...]   replay these referral keys
 *   run --all                     replay everything listed
 *   --dry-run                     with run: report what would happen, change nothing
 *   --local                       use the local runtime's peers (npm run emulators on default ports) for every
 *                                 connection setting not set in the environment
 *
 * Connections come from the app's own settings (ServiceBusConnection…, CosmosDbConnection…). Output names keys,
 * statuses, queues and codes, never a referral's contents.
 */
import { SingleBar } from 'cli-progress';

import { referralStore } from '../shared/dependencies';
import { replay, type ReplayDependencies, type ReplayItem } from '../shared/operations/replay';
import { cosmosFailedRecords, serviceBusDeadLetterQueue } from '../shared/operations/replaySources';
import { getConfig } from '../shared/platform/config';
import { closeCosmos, getCosmosContainer } from '../shared/platform/cosmos';
import { CONNECTIONS_QUEUE, REFERRALS_QUEUE } from '../shared/platform/names';
import { closeServiceBus, getServiceBusClient, queueSender } from '../shared/platform/serviceBus';
import { readArguments, UsageError, useLocalPeers } from './usage';

export interface ReplayArguments {
    command: 'list' | 'run' | 'help';
    keys: string[];
    all: boolean;
    dryRun: boolean;
    local: boolean;
}

export const USAGE = `Usage: npm run replay -- list | run (--all | --key <key> [--key <key> ...]) [--dry-run] [--local]`;

export function parseArguments(argv: string[]): ReplayArguments {
    const args: ReplayArguments = { command: 'help', keys: [], all: false, dryRun: false, local: false };
    for (let i = 0; i < argv.length; i++) {
        const arg = argv[i]!;
        if (arg === 'list' || arg === 'run') args.command = arg;
        else if (arg === '--all') args.all = true;
        else if (arg === '--dry-run') args.dryRun = true;
        else if (arg === '--local') args.local = true;
        else if (arg === '--key') {
            const key = argv[++i];
            if (!key) throw new UsageError('--key needs a referral key');
            args.keys.push(key);
        } else if (arg.startsWith('--key=')) args.keys.push(arg.slice('--key='.length));
        else if (arg === '--help' || arg === '-h') args.command = 'help';
        else throw new UsageError(`Unknown argument "${arg}"`);
    }
    if (args.command === 'run' && args.all === args.keys.length > 0) {
        throw new UsageError('run needs either --all or one or more --key <key>');
    }
    return args;
}

const OUTCOME_WORDS: Record<ReplayItem['outcome'], [done: string, would: string]> = {
    requeued: ['re-queued', 'would re-queue'],
    resent: ['message sent again', 'would send its message again'],
    republished: ['published again', 'would publish again'],
    alreadyDone: ['already done: nothing sent', 'already done: nothing to send'],
    unreplayable: ['left as is', 'cannot replay'],
    notFound: ['no such referral', 'no such referral'],
};

function where(item: ReplayItem): string {
    if (item.source === 'deadLetter') {
        return `dead letter ${item.queue} #${item.sequenceNumber}${item.reason ? ` (${item.reason})` : ''}`;
    }
    if (item.source === 'queued') return 'stuck in Queued (message not seen)';
    if (!item.step) return 'referral';
    return `Failed in ${item.step}${item.errorCode ? ` (${item.errorCode})` : ''}`;
}

export function formatItem(item: ReplayItem, dryRun: boolean): string {
    const outcome = OUTCOME_WORDS[item.outcome][dryRun ? 1 : 0];
    const status = item.status ?? 'no record';
    const removed =
        !dryRun && item.source === 'deadLetter' && item.outcome !== 'unreplayable' ? ' (dead letter removed)' : '';
    const detail = item.detail ? `: ${item.detail}` : removed;
    return `${(item.key ?? '(no key)').padEnd(38)} ${where(item).padEnd(52)} ${status.padEnd(11)} ${outcome}${detail}`;
}

export function summary(items: ReplayItem[], dryRun: boolean): string {
    const counts = new Map<string, number>();
    for (const item of items) {
        const word = OUTCOME_WORDS[item.outcome][dryRun ? 1 : 0];
        counts.set(word, (counts.get(word) ?? 0) + 1);
    }
    const parts = [...counts].map(([word, count]) => `${count} ${word}`);
    return `${items.length} item${items.length === 1 ? '' : 's'}${parts.length ? `: ${parts.join(', ')}` : ''}.`;
}

export interface Output {
    out: (line: string) => void;
    /** Where the progress bar draws (a TTY); undefined: no bar. */
    progress?: NodeJS.WritableStream;
}

/** Runs one command against `deps`; answers the process exit code. */
export async function runReplayCommand(args: ReplayArguments, deps: ReplayDependencies, io: Output): Promise<number> {
    const keys = args.keys.length > 0 ? args.keys : undefined;
    const plan = await replay(deps, { keys, dryRun: true });
    const header = `${'KEY'.padEnd(38)} ${'WHERE'.padEnd(52)} ${'STATUS'.padEnd(11)} OUTCOME`;
    if (args.command === 'list' || args.dryRun) {
        io.out(args.command === 'list' ? 'Stopped referrals (nothing was changed):' : 'Dry run (nothing was changed):');
        io.out(header);
        for (const item of plan) io.out(formatItem(item, true));
        io.out(summary(plan, true));
        return 0;
    }

    const bar = io.progress
        ? new SingleBar({
              stream: io.progress,
              format: 'Replaying [{bar}] {value}/{total} {key}',
              hideCursor: true,
              clearOnComplete: false,
          })
        : undefined;
    bar?.start(plan.length, 0, { key: '' });
    let items: ReplayItem[];
    try {
        items = await replay(deps, {
            keys,
            onItem: (item) => {
                // The plan is a count from a moment ago: the bar grows if more arrived since.
                if (bar && bar.getProgress() >= 1) bar.setTotal(bar.getTotal() + 1);
                bar?.increment(1, { key: item.key ?? '' });
            },
        });
    } finally {
        bar?.stop();
    }
    io.out(header);
    for (const item of items) io.out(formatItem(item, false));
    io.out(summary(items, false));
    return items.some((item) => item.outcome === 'unreplayable' || item.outcome === 'notFound') ? 2 : 0;
}

/** The collaborators from the app's settings (the same ones the functions read). */
export function productionDependencies(): ReplayDependencies {
    const client = getServiceBusClient();
    return {
        store: referralStore(),
        failed: cosmosFailedRecords(getCosmosContainer),
        deadLetters: [REFERRALS_QUEUE, CONNECTIONS_QUEUE].map((queue) => serviceBusDeadLetterQueue(client, queue)),
        referralsQueue: queueSender(REFERRALS_QUEUE),
        connectionsQueue: queueSender(CONNECTIONS_QUEUE),
        now: () => new Date(),
        resendAfterMs: getConfig('outbox').resendAfterMs,
    };
}

async function main(argv: string[]): Promise<number> {
    const args = readArguments(argv, USAGE, parseArguments);
    if (typeof args === 'number') return args;
    if (args.local) useLocalPeers(['ServiceBusConnection', 'CosmosDbConnection', 'COSMOS_DISABLE_TLS_VERIFICATION']);
    try {
        return await runReplayCommand(args, productionDependencies(), {
            out: (line) => console.log(line),
            progress: process.stderr.isTTY ? process.stderr : undefined,
        });
    } finally {
        await closeServiceBus();
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
