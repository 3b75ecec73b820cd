/**
 * The first Partner API step of a referral: submit it (Queued → Submitting → Submitted), then, for a Shared
 * referral, queue its connection (connectStep.ts).
 */
import { connectionMessage, referralMessage } from '../messaging/messages';
import { type ReferralRecord, storedRequest } from '../referral/record';
import { earliestSinceStep, type StepDefinition } from './step';

/** The externalReferenceId the referral is submitted with: the caller's own, else the referral key. */
export function externalReferenceIdOf(record: ReferralRecord): string {
    return storedRequest(record).externalReferenceId || record.id;
}

export const submitStep: StepDefinition = {
    name: 'submit',
    startsFrom: 'Queued',
    working: 'Submitting',
    done: 'Submitted',
    result: 'partnerReferral',
    applies: (record) => record.request !== null,
    body: (record) => ({ ...storedRequest(record), externalReferenceId: externalReferenceIdOf(record) }),
    async lookup(record, api, context) {
        const matches = await api.listAllReferrals(
            { filter: { externalReferenceId: externalReferenceIdOf(record), type: storedRequest(record).type } },
            context,
        );
        return earliestSinceStep(matches, record);
    },
    message: (record, reason, notBefore) =>
        referralMessage({
            key: record.id,
            body: record.request,
            correlationId: record.correlationId,
            run: { reason, attempt: record.attempts + 1, notBefore },
        }),
    queue: (queues) => queues.referralsQueue,
    async afterDone(record, deps) {
        // Sent before the delivery completes; its fixed messageId makes a repeat harmless.
        if (record.type === 'Shared') {
            await deps.connectionsQueue.send(
                connectionMessage({ key: record.id, correlationId: record.correlationId }),
            );
        }
    },
};
