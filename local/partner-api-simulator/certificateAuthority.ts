/**
 * A throwaway certificate authority, made with node-forge: a self-signed RSA root that issues intermediates and
 * leaves. The simulator signs its webhooks with a leaf it issues (as Partner Center signs with a certificate chaining
 * to a public root), and tests issue rogue, expired or mis-named chains with it. Keys live in memory only.
 */
import { randomBytes } from 'node:crypto';

import forge from 'node-forge';

export interface SubjectNames {
    commonName: string;
    organization?: string;
}

export interface IssueOptions {
    subject: SubjectNames;
    /** Issue a CA (an intermediate) rather than a leaf. */
    ca?: boolean;
    notBefore?: Date;
    notAfter?: Date;
}

const DAY_MS = 24 * 60 * 60 * 1000;

export class CertificateAuthority {
    private constructor(
        readonly certificate: forge.pki.Certificate,
        private readonly keys: forge.pki.rsa.KeyPair,
    ) {}

    /** A self-signed root, valid from a day ago for a year unless told otherwise. */
    static root(subject: SubjectNames, validity: { notBefore?: Date; notAfter?: Date } = {}): CertificateAuthority {
        const keys = forge.pki.rsa.generateKeyPair({ bits: 2048 });
        const certificate = build(keys.publicKey, subject, subject, { ca: true, ...validity });
        certificate.sign(keys.privateKey, forge.md.sha256.create());
        return new CertificateAuthority(certificate, keys);
    }

    /** A certificate this authority signs: an intermediate (itself an authority) or a leaf. */
    issue(options: IssueOptions): CertificateAuthority {
        const keys = forge.pki.rsa.generateKeyPair({ bits: 2048 });
        const certificate = build(keys.publicKey, options.subject, this.subject(), options);
        certificate.sign(this.keys.privateKey, forge.md.sha256.create());
        return new CertificateAuthority(certificate, keys);
    }

    get certificatePem(): string {
        return forge.pki.certificateToPem(this.certificate);
    }

    get certificateDer(): Buffer {
        return Buffer.from(forge.asn1.toDer(forge.pki.certificateToAsn1(this.certificate)).getBytes(), 'binary');
    }

    get privateKeyPem(): string {
        return forge.pki.privateKeyToPem(this.keys.privateKey);
    }

    private subject(): SubjectNames {
        const field = (name: string) => this.certificate.subject.getField(name) as { value: string } | null;
        return { commonName: field('CN')!.value, organization: field('O')?.value };
    }
}

function attributes(names: SubjectNames): forge.pki.CertificateField[] {
    return [
        ...(names.organization ? [{ name: 'organizationName', value: names.organization }] : []),
        { name: 'commonName', value: names.commonName },
    ];
}

function build(
    publicKey: forge.pki.rsa.PublicKey,
    subject: SubjectNames,
    issuer: SubjectNames,
    options: { ca?: boolean; notBefore?: Date; notAfter?: Date },
): forge.pki.Certificate {
    const certificate = forge.pki.createCertificate();
    certificate.publicKey = publicKey;
    // Positive: the high bit of the first byte clear.
    certificate.serialNumber = `0${randomBytes(15).toString('hex')}`;
    certificate.validity.notBefore = options.notBefore ?? new Date(Date.now() - DAY_MS);
    certificate.validity.notAfter = options.notAfter ?? new Date(Date.now() + 365 * DAY_MS);
    certificate.setSubject(attributes(subject));
    certificate.setIssuer(attributes(issuer));
    certificate.setExtensions([
        { name: 'basicConstraints', cA: options.ca ?? false, critical: true },
        {
            name: 'keyUsage',
            critical: true,
            ...(options.ca ? { keyCertSign: true, cRLSign: true } : { digitalSignature: true }),
        },
    ]);
    return certificate;
}
