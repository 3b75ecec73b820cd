/**
 * The first Partner API step of a referral: submit it (Queued → Submitting → Submitted), then, for a Shared
 * referral, queue its connection (connectStep.ts). A referral an earlier attempt created is ours only with our
 * externalReferenceId (compared exactly), our type and the submitted body's fingerprint.
 */
import { connectionMessage, nextRunOf, referralMessage } from '../messaging/messages';
import { storedRequest, submittedExternalReferenceId } from '../referral/record';
import { scheduleDuplicateCheck, type StepDefinition } from './step';
import { kickPendingUpdates } from './updateStep';

export const submitStep: StepDefinition = {
    name: 'submit',
    startsFrom: 'Queued',
    working: 'Submitting',
    done: 'Submitted',
    result: 'partnerReferral',
    applies: (record) => record.request !== null,
    body: (record) => ({ ...storedRequest(record), externalReferenceId: submittedExternalReferenceId(record) }),
    search(record) {
        const externalReferenceId = submittedExternalReferenceId(record);
        const type = storedRequest(record).type;
        return {
            key: { externalReferenceId, type },
            expected: { body: submitStep.body(record), externalReferenceId, type },
        };
    },
    check(record, referral) {
        // Without it the connect step cannot start: say so, rather than leave the referral Submitted for ever.
        if (record.type !== 'Shared' || referral.engagementId) return undefined;
        return {
            code: 'MissingEngagementId',
            message: 'The Partner API answered the Shared referral without an engagementId; it cannot be connected.',
            retry: false,
        };
    },
    message: (record, reason, notBefore) =>
        referralMessage({ ...nextRunOf(record, reason, notBefore), body: record.request }),
    queue: (queues) => queues.referralsQueue,
    async afterDone(record, deps) {
        // Sent before the delivery completes; its fixed messageId makes a repeat harmless.
        if (record.type === 'Shared') {
            await deps.connectionsQueue.send(
                connectionMessage({ key: record.id, correlationId: record.correlationId }),
            );
        } else {
            // An Independent referral is done: a copy that slipped through will be reported.
            await scheduleDuplicateCheck(record, deps);
        }
        // Updates accepted while the create was in flight waited for it: the oldest one's turn has come.
        if (deps.updatesQueue) await kickPendingUpdates(record, deps.updatesQueue);
    },
};
