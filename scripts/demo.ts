/**
 * `npm run demo`: against the running local app (`npm start` in another terminal), posts the seed's Shared example
 * and an Independent one, prints each status change until both are done, shows the two Partner API referrals of the
 * Shared one side by side, has Microsoft's seller accept the connected referral a few seconds later (the simulator
 * plays Microsoft) and shows the acceptance flowing back into the status document through the webhook, then closes
 * the Independent one as Won (PATCH /api/referrals/{id}) and shows it closed; last, the outcome events the local
 * Event Grid topic took for the two referrals.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

import { createPartnerApiClient, type PartnerReferral } from '../shared/partnerApi';
import { loadSection } from '../shared/platform/config';
import { isTerminal, type LifecycleStatus } from '../shared/referral/record';
import type { ReferralStatusDocument } from '../shared/referral/statusDocument';
import { exitOnHelp } from './usage';

const USAGE = [
    'Usage: npm run demo',
    '  Against the running local app (npm start in another terminal): posts a Shared and an Independent referral,',
    "  follows each to its end, has Microsoft's seller (the simulator) accept the connected referral and shows it",
    "  flow back into the status document, then closes the Independent one as Won. PORT names the host's port (7071).",
    '  Then lists their outcome events at the local Event Grid topic (EVENT_GRID_TOPIC_PORT, 7092).',
].join('\n');

const env = process.env;
const baseUrl = `http://127.0.0.1:${env.PORT ?? '7071'}`;
const functionKey = env.LOCAL_FUNCTION_KEY ?? 'local-dev-function-key';
const TIMEOUT_MS = 60_000;
const topicUrl = `http://127.0.0.1:${env.EVENT_GRID_TOPIC_PORT ?? '7092'}`;

interface TopicEvent {
    id: string;
    type: string;
    subject?: string;
    time?: string;
    data?: { status?: string; update?: { id: string; status: string } };
}

/** The events the local topic took for `keys`, once each referral's `expected` count is there (or the time is up). */
async function showEvents(keys: Record<string, string>, expected: number): Promise<void> {
    const subjects = new Set(Object.values(keys).map((key) => `/referrals/${key}`));
    let events: TopicEvent[] = [];
    for (const deadline = Date.now() + 10_000; Date.now() < deadline;) {
        const response = await fetch(`${topicUrl}/_admin/events`).catch(() => undefined);
        if (!response?.ok) {
            console.log(`\nNo local Event Grid topic at ${topicUrl} (EVENT_GRID_TOPIC_ENDPOINT points elsewhere?).`);
            return;
        }
        const listing = (await response.json()) as { published: TopicEvent[] };
        events = listing.published.filter((event) => subjects.has(event.subject ?? ''));
        if (events.length >= expected) break;
        await new Promise((resolve) => setTimeout(resolve, 250));
    }
    console.log(`\nOutcome events at the local Event Grid topic (${topicUrl}/_admin/events):`);
    for (const event of events) {
        const detail = event.data?.update
            ? `update ${event.data.update.id} ${event.data.update.status}`
            : (event.data?.status ?? '');
        console.log(
            `  ${event.time ?? ''}  ${event.type.padEnd(37)} ${event.subject ?? ''}  ${detail}  (id ${event.id})`,
        );
    }
}

function seedRequest(): Record<string, unknown> {
    // Works from the TypeScript source and from the build in dist/.
    for (const root of [join(__dirname, '..'), join(__dirname, '..', '..')]) {
        try {
            return JSON.parse(
                readFileSync(join(root, 'test/fixtures/seed-shared-referral.request.json'), 'utf8'),
            ) as Record<string, unknown>;
        } catch {
            continue;
        }
    }
    throw new Error('test/fixtures/seed-shared-referral.request.json not found');
}

async function post(key: string, body: unknown): Promise<void> {
    const response = await fetch(`${baseUrl}/api/referrals`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-functions-key': functionKey, 'idempotency-key': key },
        body: JSON.stringify(body),
    });
    console.log(`POST /api/referrals (${key}) -> ${response.status} ${await response.text()}`);
    if (response.status !== 202) throw new Error(`The app did not accept ${key}.`);
}

async function status(key: string): Promise<ReferralStatusDocument> {
    const response = await fetch(`${baseUrl}/api/referrals/${encodeURIComponent(key)}`, {
        headers: { 'x-functions-key': functionKey },
    });
    return (await response.json()) as ReferralStatusDocument;
}

async function follow(keys: Record<string, string>): Promise<Record<string, ReferralStatusDocument>> {
    const last: Record<string, LifecycleStatus | undefined> = {};
    const documents: Record<string, ReferralStatusDocument> = {};
    const deadline = Date.now() + TIMEOUT_MS;
    while (Date.now() < deadline) {
        for (const [label, key] of Object.entries(keys)) {
            const document = await status(key);
            documents[label] = document;
            if (document.status !== last[label]) {
                console.log(
                    `${new Date().toISOString()}  ${label.padEnd(11)} ${last[label] ?? '-'} -> ${document.status}`,
                );
                last[label] = document.status;
            }
        }
        if (Object.values(documents).every((d) => isTerminal(d))) return documents;
        await new Promise((resolve) => setTimeout(resolve, 200));
    }
    throw new Error('The referrals did not finish within 60 seconds. Is `npm start` running?');
}

const CLOSE_WON = [
    { op: 'replace', path: '/status', value: 'Closed' },
    { op: 'replace', path: '/substatus', value: 'Won' },
];

/** Closes the referral as Won and waits until the update is settled: its status document then. */
async function closeAsWon(key: string): Promise<ReferralStatusDocument> {
    const updateKey = `${key}-close-won`;
    const response = await fetch(`${baseUrl}/api/referrals/${encodeURIComponent(key)}`, {
        method: 'PATCH',
        headers: {
            'content-type': 'application/json-patch+json',
            'x-functions-key': functionKey,
            'idempotency-key': updateKey,
        },
        body: JSON.stringify(CLOSE_WON),
    });
    console.log(`\nPATCH /api/referrals/${key} (close as Won) -> ${response.status} ${await response.text()}`);
    if (response.status !== 202) throw new Error(`The app did not accept the close of ${key}.`);
    const deadline = Date.now() + TIMEOUT_MS;
    while (Date.now() < deadline) {
        const document = await status(key);
        const update = document.updates.find((entry) => entry.id === updateKey);
        if (update && update.status !== 'Pending' && update.status !== 'Applying') {
            console.log(
                `${new Date().toISOString()}  update ${update.id} ${update.status}${update.error ? ` (${update.error.code})` : ''}`,
            );
            return document;
        }
        await new Promise((resolve) => setTimeout(resolve, 200));
    }
    throw new Error('The close was not applied within 60 seconds.');
}

/** How long Microsoft's seller takes to answer in the demo. */
const SELLER_DELAY_MS = 3_000;

/**
 * The simulator plays Microsoft's seller: it accepts the connected referral, and its signed webhook reaches the app,
 * which reads the referral and shows it in the status document (shared/partnerCenter/sync.ts).
 */
async function microsoftAccepts(simulatorUrl: string, key: string, connectedId: string): Promise<void> {
    console.log(`\nIn ${SELLER_DELAY_MS / 1000} s Microsoft's seller accepts the connected referral ${connectedId}...`);
    await new Promise((resolve) => setTimeout(resolve, SELLER_DELAY_MS));
    const response = await fetch(`${simulatorUrl}/_admin/referrals/${encodeURIComponent(connectedId)}/accept`, {
        method: 'POST',
    });
    await response.body?.cancel();
    if (!response.ok) throw new Error(`The simulator did not accept ${connectedId} (${response.status}).`);
    const accepted = Date.now();
    console.log(`${new Date().toISOString()}  accepted at Partner Center`);
    const deadline = accepted + TIMEOUT_MS;
    while (Date.now() < deadline) {
        const document = await status(key);
        const seen = document.history.findLast((entry) => 'referral' in entry && entry.referral === 'connected');
        if (seen && 'source' in seen) {
            const { status: state, substatus, source } = seen;
            console.log(
                `${new Date().toISOString()}  status document: connectedReferral ${state}/${substatus} ` +
                    `(seen through the ${source}, ${Date.now() - accepted} ms later)`,
            );
            return;
        }
        await new Promise((resolve) => setTimeout(resolve, 200));
    }
    throw new Error('The acceptance did not reach the status document within 60 seconds (is the webhook registered?).');
}

function sideBySide(referrals: PartnerReferral[]): void {
    const rows: Array<[string, (r: PartnerReferral) => unknown]> = [
        ['id', (r) => r.id],
        ['engagementId', (r) => r.engagementId],
        ['type', (r) => r.type],
        ['target', (r) => JSON.stringify(r.target)],
        ['externalReferenceId', (r) => r.externalReferenceId],
        ['status', (r) => `${r.status}/${r.substatus}`],
        ['createdDateTime', (r) => r.createdDateTime],
    ];
    const width = 52;
    console.log(`\n${''.padEnd(20)} ${'your referral'.padEnd(width)} connected referral (Microsoft)`);
    for (const [name, read] of rows) {
        console.log(`${name.padEnd(20)} ${String(read(referrals[0]!)).padEnd(width)} ${String(read(referrals[1]!))}`);
    }
}

async function main(): Promise<void> {
    const run = Date.now().toString(36);
    const shared = seedRequest();
    const independent = { ...seedRequest(), type: 'Independent', target: undefined };
    const keys = { Shared: `demo-shared-${run}`, Independent: `demo-independent-${run}` };
    await post(keys.Shared, shared);
    await post(keys.Independent, independent);

    const documents = await follow(keys);
    const engagementId = documents.Shared?.partnerReferral?.engagementId;
    if (!engagementId)
        throw new Error(`The Shared referral ended ${documents.Shared?.status} without an engagementId.`);

    const simulatorUrl = `http://127.0.0.1:${env.PARTNER_API_SIMULATOR_PORT ?? '7090'}`;
    const partnerApi = createPartnerApiClient(
        loadSection('partnerApi', {
            ...env,
            PARTNER_API_BASE_URL: env.PARTNER_API_BASE_URL ?? simulatorUrl,
            PARTNER_API_AUTH: env.PARTNER_API_AUTH ?? (env.PARTNER_API_BASE_URL ? 'static' : 'none'),
        }),
    );
    try {
        const referrals = await partnerApi.listAllReferrals(
            { filter: { engagementId }, orderBy: 'createdDateTime asc' },
            { correlationId: `demo-${run}` },
        );
        console.log(`\nThe Partner API holds ${referrals.length} referrals with engagementId ${engagementId}:`);
        if (referrals.length === 2) sideBySide(referrals);
        const connectedId = documents.Shared?.connectedReferral?.id;
        // Only the simulator can play Microsoft's seller.
        if (connectedId && !env.PARTNER_API_BASE_URL) await microsoftAccepts(simulatorUrl, keys.Shared, connectedId);

        const closed = await closeAsWon(keys.Independent);
        const own = closed.partnerReferral;
        if (own) {
            const held = await partnerApi.getReferral(own.id, { correlationId: `demo-${run}` });
            console.log(`The Independent referral at the Partner API: ${held.id} ${held.status}/${held.substatus}`);
            console.log(`  eTag ${held.eTag}, updated ${held.updatedDateTime} (the app knows eTag ${own.eTag})`);
        }
    } finally {
        await partnerApi.close();
    }
    // Shared: submitted, connected; Independent: submitted, updated.
    await showEvents(keys, 4);
}

exitOnHelp(USAGE);
main().catch((error: unknown) => {
    console.error(error instanceof Error ? error.message : error);
    process.exitCode = 1;
});
