import { redactSubmittedValues } from '../../../shared/platform/logging';
import { seedReferral } from '../../support/referrals';

function requestWith(lastName: string, email: string) {
    const request = seedReferral();
    request.customerProfile.team[0].lastName = lastName;
    request.customerProfile.team[0].email = email;
    return request;
}

describe('redactSubmittedValues', () => {
    it('removes short values where they stand as words, and only there', () => {
        const request = requestWith('Ng', 'ada@contoso.example');
        expect(redactSubmittedValues('Contact Ng is not valid; Nothing else changed (ng).', request)).toBe(
            'Contact [redacted] is not valid; Nothing else changed ([redacted]).',
        );
    });

    it('removes any letter case of a submitted value', () => {
        const request = requestWith('Li', 'Ada.Lovelace@Contoso.example');
        expect(redactSubmittedValues('Email ada.lovelace@CONTOSO.example for LI is taken', request)).toBe(
            'Email [redacted] for [redacted] is taken',
        );
    });

    it('leaves ordinary text intact: words that merely contain a short value, single characters, no values', () => {
        const request = requestWith('Li', 'x@contoso.example');
        request.customerProfile.team[0].firstName = 'A';
        const text = 'Link the listed item; a value is invalid (HTTP 400). Retry later.';
        expect(redactSubmittedValues(text, request)).toBe(text);
        expect(redactSubmittedValues(text, {})).toBe(text);
    });

    it('removes a longer value inside other text, and regex characters in values are literal', () => {
        const request = requestWith('O(Brien)+', 'a+b@contoso.example');
        expect(redactSubmittedValues('bad:a+b@contoso.example;O(Brien)+!', request)).toBe('bad:[redacted];[redacted]!');
    });
});
