/**
 * The second Partner API step of a Shared referral: create the connected referral targeted at Microsoft with the
 * engagementId the submission returned (Submitted → Connecting → Connected). The answer is checked before it is
 * stored: never the partner's own referral as the connected one.
 */
import { connectionMessage, nextRunOf } from '../messaging/messages';
import { isMicrosoftTargeted } from '../referral/ownership';
import { type ReferralRecord, storedRequest } from '../referral/record';
import { MICROSOFT_TARGET } from '../referral/request/enums';
import type { ReferralRequest } from '../referral/request/types';
import { scheduleDuplicateCheck, type StepDefinition } from './step';

/**
 * The connected referral, derived from the stored request: the same customer profile, consent, details, team and
 * invite context (and any newer properties the caller sent), joined to the engagement and targeted at Microsoft.
 * The caller's own target and identifiers are not copied, nor the status of their referral.
 */
export function buildConnectedReferral(record: ReferralRecord): ReferralRequest {
    const engagementId = record.partnerReferral?.engagementId;
    if (!engagementId) throw new Error(`Referral ${record.id} has no engagementId to connect to.`);
    const {
        id: _id,
        externalReferenceId: _externalReferenceId,
        engagementId: _ownEngagementId,
        target: _target,
        status: _status,
        substatus: _substatus,
        statusReason: _statusReason,
        ...shared
    } = storedRequest(record);
    return { ...shared, type: 'Shared', engagementId, target: [{ ...MICROSOFT_TARGET }] };
}

export const connectStep: StepDefinition = {
    name: 'connect',
    startsFrom: 'Submitted',
    working: 'Connecting',
    done: 'Connected',
    result: 'connectedReferral',
    applies: (record) => record.type === 'Shared' && Boolean(record.partnerReferral?.engagementId),
    body: buildConnectedReferral,
    search(record) {
        const partner = record.partnerReferral!;
        return {
            key: { engagementId: partner.engagementId, type: 'Shared' },
            expected: {
                body: buildConnectedReferral(record),
                externalReferenceId: null,
                type: 'Shared',
                engagementId: partner.engagementId,
                mustTargetMicrosoft: true,
                // The partner's own referral shares the engagement; it is never the connected one.
                excludeIds: [partner.id],
            },
        };
    },
    check(record, referral) {
        const partner = record.partnerReferral!;
        const connected =
            referral.id !== partner.id &&
            referral.engagementId === partner.engagementId &&
            isMicrosoftTargeted(referral);
        if (connected) return undefined;
        // E.g. a service that deduplicated the create on a request id and answered with the submit's referral.
        return {
            code: 'UnexpectedConnectedReferral',
            message: 'The Partner API answered the connect with a referral that is not the Microsoft-targeted one.',
            retry: true,
        };
    },
    message: (record, reason, notBefore) => connectionMessage(nextRunOf(record, reason, notBefore)),
    queue: (queues) => queues.connectionsQueue,
    // The Shared referral is done: a copy of either of its referrals that slipped through will be reported.
    afterDone: scheduleDuplicateCheck,
};
