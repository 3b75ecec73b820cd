import seedRequest from '../fixtures/seed-shared-referral.request.json';

/** A fresh copy of the seed's Shared referral request (the Partner API docs' own example). */
export function seedReferral(): Record<string, any> {
    return structuredClone(seedRequest) as Record<string, any>;
}

export function independentReferral(): Record<string, any> {
    const referral = seedReferral();
    referral.type = 'Independent';
    delete referral.target;
    return referral;
}

/** Recognisable customer data: none of these strings may ever show up in an answer, a log line or telemetry. */
export const PII = {
    customerName: 'Quixote Pii Holdings',
    firstName: 'Zelda-PII',
    lastName: 'Marchbanks-PII',
    email: 'zelda.pii@example.test',
    phone: '+1-555-0199-7788',
    street: '742 Pii Terrace',
    notes: 'PII-NOTE: the customer plans to migrate in secret',
} as const;

export function referralWithPii(): Record<string, any> {
    const referral = seedReferral();
    referral.customerProfile.name = PII.customerName;
    referral.customerProfile.address.addressLine1 = PII.street;
    referral.customerProfile.team[0].firstName = PII.firstName;
    referral.customerProfile.team[0].lastName = PII.lastName;
    referral.customerProfile.team[0].email = PII.email;
    referral.customerProfile.team[0].phoneNumber = PII.phone;
    referral.details.notes = PII.notes;
    return referral;
}

export function expectNoPii(text: string): void {
    for (const value of Object.values(PII)) expect(text).not.toContain(value);
}
