/**
 * X.509 certificates as Partner Center's webhooks need them: read from DER or PEM, checked for a chain to a trusted
 * root, for validity now, and for the subject's organisation. Pure: no network, no clock of its own.
 */
import { X509Certificate } from 'node:crypto';

const PEM_BLOCK = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;

/** Every certificate in PEM text, or the one certificate of DER bytes; throws when none can be read. */
export function readCertificates(data: Buffer): X509Certificate[] {
    const pemBlocks = data.toString('latin1').match(PEM_BLOCK);
    return pemBlocks ? pemBlocks.map((block) => new X509Certificate(block)) : [new X509Certificate(data)];
}

export function isValidAt(certificate: X509Certificate, now: Date): boolean {
    return Date.parse(certificate.validFrom) <= now.getTime() && now.getTime() <= Date.parse(certificate.validTo);
}

/** `issuer` issued `certificate`: its names match and its key verifies the certificate's signature. */
function issued(issuer: X509Certificate, certificate: X509Certificate): boolean {
    return certificate.checkIssued(issuer) && certificate.verify(issuer.publicKey);
}

/** Links a chain may have above the leaf: real ones have one or two intermediates. */
const MAX_CHAIN_LENGTH = 5;

export type ChainProblem = 'untrustedCertificate' | 'certificateNotValidNow';

/**
 * Whether `leaf` chains to one of `roots` through `intermediates` (those delivered with it: untrusted, so each must
 * be a CA and is used once), every link valid at `now`. Undefined when it does.
 */
export function chainProblem(
    leaf: X509Certificate,
    intermediates: readonly X509Certificate[],
    roots: readonly X509Certificate[],
    now: Date,
): ChainProblem | undefined {
    const unused = [...intermediates];
    let current = leaf;
    for (let links = 0; links <= MAX_CHAIN_LENGTH; links++) {
        if (!isValidAt(current, now)) return 'certificateNotValidNow';
        const root = roots.find((candidate) => issued(candidate, current));
        if (root) return isValidAt(root, now) ? undefined : 'certificateNotValidNow';
        const index = unused.findIndex((candidate) => candidate.ca && issued(candidate, current));
        if (index < 0) return 'untrustedCertificate';
        current = unused.splice(index, 1)[0]!;
    }
    return 'untrustedCertificate';
}

/** The subject's organisation names (`O=`), as Node prints the subject: one `name=value` per line. */
export function subjectOrganizations(certificate: X509Certificate): string[] {
    return certificate.subject
        .split('\n')
        .filter((line) => line.startsWith('O='))
        .map((line) => line.slice(2).replace(/^"(.*)"$/, '$1'));
}
