/**
 * The two Partner API steps of a referral: submit it, then, for a Shared referral, create the connected referral
 * targeted at Microsoft with the stored engagementId.
 */
import { connectionMessage, referralMessage } from '../messaging/messages';
import type { PartnerReferral } from '../partnerApi';
import { type ReferralRecord } from '../referral/record';
import { MICROSOFT_TARGET } from '../referral/request/enums';
import type { ReferralRequest } from '../referral/request/types';
import type { StepDefinition } from './step';

/** Clocks differ: a referral created by our own earlier attempt may carry a time slightly before we noted the step. */
const CLOCK_SKEW_MS = 10 * 60 * 1000;

function requestOf(record: ReferralRecord): ReferralRequest {
    if (!record.request) throw new Error(`Referral ${record.id} has no stored request.`);
    return record.request;
}

/** The externalReferenceId the referral is submitted with: the caller's own, else the referral key. */
export function externalReferenceIdOf(record: ReferralRecord): string {
    return requestOf(record).externalReferenceId || record.id;
}

function createdSinceStep(referral: PartnerReferral, record: ReferralRecord): boolean {
    if (!record.stepStartedAt || !referral.createdDateTime) return true;
    return Date.parse(referral.createdDateTime) >= Date.parse(record.stepStartedAt) - CLOCK_SKEW_MS;
}

function earliest(referrals: PartnerReferral[]): PartnerReferral | undefined {
    return [...referrals].sort((a, b) => (a.createdDateTime ?? '').localeCompare(b.createdDateTime ?? ''))[0];
}

export const submitStep: StepDefinition = {
    name: 'submit',
    startsFrom: 'Queued',
    working: 'Submitting',
    done: 'Submitted',
    result: 'partnerReferral',
    applies: (record) => record.request !== null,
    body: (record) => ({ ...requestOf(record), externalReferenceId: externalReferenceIdOf(record) }),
    async lookup(record, api, context) {
        const matches = await api.listAllReferrals(
            { filter: { externalReferenceId: externalReferenceIdOf(record), type: requestOf(record).type } },
            context,
        );
        return earliest(matches.filter((referral) => createdSinceStep(referral, record)));
    },
    message: (record, suffix, notBefore) =>
        referralMessage({
            key: record.id,
            body: record.request,
            correlationId: record.correlationId,
            run: suffix === undefined ? undefined : { suffix, attempt: record.attempts + 1, notBefore },
        }),
    queue: (deps) => deps.referralsQueue,
    async afterDone(record, deps) {
        // Sent before the delivery completes; its fixed messageId makes a repeat harmless.
        if (record.type === 'Shared') {
            await deps.connectionsQueue.send(
                connectionMessage({ key: record.id, correlationId: record.correlationId }),
            );
        }
    },
};

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
    } = requestOf(record);
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
        return earliest(
            matches.filter(
                (referral) =>
                    referral.id !== record.partnerReferral!.id &&
                    targetsMicrosoft(referral) &&
                    createdSinceStep(referral, record),
            ),
        );
    },
    message: (record, suffix, notBefore) =>
        connectionMessage({
            key: record.id,
            correlationId: record.correlationId,
            run: suffix === undefined ? undefined : { suffix, attempt: record.attempts + 1, notBefore },
        }),
    queue: (deps) => deps.connectionsQueue,
};
