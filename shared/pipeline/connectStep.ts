/**
 * The second Partner API step of a Shared referral: create the connected referral targeted at Microsoft with the
 * engagementId the submission returned (Submitted → Connecting → Connected).
 */
import { connectionMessage } from '../messaging/messages';
import type { PartnerReferral } from '../partnerApi';
import { type ReferralRecord, storedRequest } from '../referral/record';
import { MICROSOFT_TARGET } from '../referral/request/enums';
import type { ReferralRequest } from '../referral/request/types';
import { earliestSinceStep, type StepDefinition } from './step';

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

function targetsMicrosoft(referral: PartnerReferral): boolean {
    const targets = Array.isArray(referral.target) ? (referral.target as Array<{ type?: unknown; id?: unknown }>) : [];
    return targets.some((t) => t.type === MICROSOFT_TARGET.type && t.id === MICROSOFT_TARGET.id);
}

export const connectStep: StepDefinition = {
    name: 'connect',
    startsFrom: 'Submitted',
    working: 'Connecting',
    done: 'Connected',
    result: 'connectedReferral',
    applies: (record) => record.type === 'Shared' && Boolean(record.partnerReferral?.engagementId),
    body: buildConnectedReferral,
    async lookup(record, api, context) {
        const matches = await api.listAllReferrals(
            { filter: { engagementId: record.partnerReferral!.engagementId } },
            context,
        );
        return earliestSinceStep(
            matches.filter((referral) => referral.id !== record.partnerReferral!.id && targetsMicrosoft(referral)),
            record,
        );
    },
    message: (record, reason, notBefore) =>
        connectionMessage({
            key: record.id,
            correlationId: record.correlationId,
            run: { reason, attempt: record.attempts + 1, notBefore },
        }),
    queue: (queues) => queues.connectionsQueue,
};
