import { type ReferralFilter } from './types';

/** Order is fixed so the same filter always yields the same URL (easier to read in logs and to match in tests). */
const FILTER_FIELDS = [
    'engagementId',
    'externalReferenceId',
    'status',
    'type',
] as const satisfies readonly (keyof ReferralFilter)[];

/** OData string literal: single quotes, an embedded quote doubled (OData ABNF `SQUOTE-in-string`). */
export function odataString(value: string): string {
    return `'${value.replace(/'/g, "''")}'`;
}

/** `engagementId eq '…' and status eq 'Active'` (and `updatedDateTime ge …` last), or undefined when nothing is filtered. */
export function buildReferralFilter(filter: ReferralFilter | undefined): string | undefined {
    if (!filter) return undefined;
    const clauses: string[] = [];
    for (const field of FILTER_FIELDS) {
        const value = filter[field];
        if (value !== undefined) clauses.push(`${field} eq ${odataString(value)}`);
    }
    // An OData date-time literal is unquoted.
    if (filter.updatedSince) clauses.push(`updatedDateTime ge ${filter.updatedSince.toISOString()}`);
    return clauses.length > 0 ? clauses.join(' and ') : undefined;
}
