/**
 * The headers Partner Center puts on a webhook delivery (partner-center-lifecycle.md, Webhooks): the RSA-SHA256
 * signature of the UTF-8 body in `Authorization: Signature <base64>` (or `x-ms-signature`), the algorithm, and the
 * URL of the signing certificate.
 */
import { sign } from 'node:crypto';

export interface WebhookSigner {
    /** PEM private key of the leaf certificate served at `certificateUrl`. */
    privateKeyPem: string;
    certificateUrl: string;
    /** Put the signature in `x-ms-signature` (the registration's SignatureTokenToMsSignatureHeader). */
    signatureHeader?: boolean;
}

export function signedWebhookHeaders(body: string, signer: WebhookSigner): Record<string, string> {
    const signature = sign('sha256', Buffer.from(body, 'utf8'), signer.privateKeyPem).toString('base64');
    return {
        'content-type': 'application/json',
        ...(signer.signatureHeader ? { 'x-ms-signature': signature } : { authorization: `Signature ${signature}` }),
        'x-ms-signature-algorithm': 'rsa-sha256',
        'x-ms-certificate-url': signer.certificateUrl,
    };
}
