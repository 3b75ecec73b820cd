import { validate, version } from 'uuid';

import {
    createRequestId,
    freshRequestId,
    isGuid,
    PARTNER_API_ID_NAMESPACE,
    partnerCorrelationId,
} from '../../../shared/partnerApi';

describe('MS-RequestId and MS-CorrelationId', () => {
    it('a create gets a UUIDv5 of key and step: the same on every retry, different for the other step and key', () => {
        const submit = createRequestId('Order-1', 'submit');
        expect(validate(submit) && version(submit)).toBe(5);
        expect(createRequestId('Order-1', 'submit')).toBe(submit);
        expect(createRequestId('Order-1', 'connect')).not.toBe(submit);
        // Keys are case-sensitive: a key differing only in case is another referral.
        expect(createRequestId('order-1', 'submit')).not.toBe(submit);
        expect(createRequestId('Order-2', 'submit')).not.toBe(submit);
    });

    // The expected value was computed independently: Python's uuid.uuid5(namespace, 'ms-requestid:submit:k1').
    it('the namespace is fixed: a known key keeps its id across releases', () => {
        expect(PARTNER_API_ID_NAMESPACE).toBe('25bc8d27-32cc-479d-9452-d272f5ca1075');
        expect(createRequestId('k1', 'submit')).toBe('6daa98ef-8409-5605-9407-7cde429187b6');
    });

    it('every other call gets a fresh random GUID', () => {
        const ids = new Set(Array.from({ length: 50 }, freshRequestId));
        expect(ids.size).toBe(50);
        expect([...ids].every(isGuid)).toBe(true);
    });

    it('a GUID correlation id is sent as is; any other is mapped to a stable UUIDv5 of it', () => {
        const guid = 'A1B2C3D4-0000-4000-8000-1234567890AB';
        expect(partnerCorrelationId(guid)).toBe(guid);
        const mapped = partnerCorrelationId('corr-up');
        expect(validate(mapped) && version(mapped)).toBe(5);
        expect(partnerCorrelationId('corr-up')).toBe(mapped);
        expect(partnerCorrelationId('Corr-up')).not.toBe(mapped);
    });

    it.each(['', 'not-a-guid', '0f2a20e7-e06f-5022-9eb5-195ee39807f', '0f2a20e7e06f50229eb5195ee39807f0x'])(
        '%j is not a GUID',
        (value) => expect(isGuid(value)).toBe(false),
    );
});
