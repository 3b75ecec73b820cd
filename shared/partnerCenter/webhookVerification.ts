/**
 * Is a request really a Partner Center webhook? Every check Microsoft documents, in order, before the body is read
 * as JSON: a signature (`Authorization: Signature <base64>`, or `x-ms-signature` when the registration asked for
 * it), the algorithm `rsa-sha256`, a certificate URL on an allowed host (our own hardening: Microsoft's sample
 * downloads whatever the header names, which lets anyone sign with their own certificate), a certificate that
 * chains to a trusted root and is valid now, issued to the organisation "Microsoft Corporation", and an RSA
 * signature that verifies over the raw body bytes.
 *
 * The verdict names the first check that failed as a code (for the log line); no header value is ever quoted.
 */
import { verify, type X509Certificate } from 'node:crypto';

import { isLoopbackHost } from '../platform/config';
import { CertificateLoadError, type CertificateLoadProblem, type CertificateSource } from './certificateDownload';
import { type ChainProblem, chainProblem, subjectOrganizations } from './certificates';

export const SIGNATURE_ALGORITHM = 'rsa-sha256';
export const MICROSOFT_ORGANIZATION = 'Microsoft Corporation';

export type WebhookCheck =
    | 'missingSignature'
    | 'unsupportedAlgorithm'
    | 'missingCertificateUrl'
    | 'certificateUrlNotAllowed'
    | CertificateLoadProblem
    | ChainProblem
    | 'wrongOrganization'
    | 'badSignature';

export type WebhookVerdict = { ok: true } | { ok: false; failed: WebhookCheck };

export interface WebhookHeaders {
    get(name: string): string | null;
}

export interface WebhookTrust {
    certificates: CertificateSource;
    /** Lower-case host names the certificate may come from. */
    certificateHosts: readonly string[];
    roots: readonly X509Certificate[];
    now: () => Date;
}

const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;

/** The signature bytes, from `Authorization: Signature <base64>` or `x-ms-signature: <base64>`. */
function signatureOf(headers: WebhookHeaders): Buffer | undefined {
    const authorization = /^Signature\s+(\S+)\s*$/i.exec(headers.get('authorization') ?? '')?.[1];
    const value =
        authorization ??
        headers
            .get('x-ms-signature')
            ?.trim()
            .replace(/^Signature\s+/i, '');
    return value && BASE64.test(value) ? Buffer.from(value, 'base64') : undefined;
}

/** The certificate URL when it is https (or http on loopback) on an allowed host, without credentials. */
export function allowedCertificateUrl(raw: string, hosts: readonly string[]): URL | undefined {
    let url: URL;
    try {
        url = new URL(raw);
    } catch {
        return undefined;
    }
    const host = url.hostname.toLowerCase();
    const scheme = url.protocol === 'https:' || (url.protocol === 'http:' && isLoopbackHost(host));
    return scheme && !url.username && !url.password && hosts.includes(host) ? url : undefined;
}

const failed = (check: WebhookCheck): WebhookVerdict => ({ ok: false, failed: check });

export async function verifyWebhook(
    headers: WebhookHeaders,
    body: Uint8Array,
    trust: WebhookTrust,
): Promise<WebhookVerdict> {
    const signature = signatureOf(headers);
    if (!signature) return failed('missingSignature');
    if (headers.get('x-ms-signature-algorithm')?.trim().toLowerCase() !== SIGNATURE_ALGORITHM) {
        return failed('unsupportedAlgorithm');
    }
    const certificateUrl = headers.get('x-ms-certificate-url')?.trim();
    if (!certificateUrl) return failed('missingCertificateUrl');
    const url = allowedCertificateUrl(certificateUrl, trust.certificateHosts);
    if (!url) return failed('certificateUrlNotAllowed');

    let certificates: X509Certificate[];
    try {
        certificates = await trust.certificates.load(url);
    } catch (error) {
        return failed(error instanceof CertificateLoadError ? error.code : 'certificateUnavailable');
    }
    const [leaf, ...intermediates] = certificates;
    const problem = chainProblem(leaf!, intermediates, trust.roots, trust.now());
    if (problem) return failed(problem);
    if (!subjectOrganizations(leaf!).includes(MICROSOFT_ORGANIZATION)) return failed('wrongOrganization');
    if (leaf!.publicKey.asymmetricKeyType !== 'rsa') return failed('badSignature');
    return verify('sha256', body, leaf!.publicKey, signature) ? { ok: true } : failed('badSignature');
}
